// The graph's `allocate` op in plain JavaScript over its packed state: KDGQA per batch or per image,
// DGQA rules 'attnc' and 'paper' (docs/attention.md), in float32 where the device does the same, and
// the counts from compiler/alloc.ts itself. The WebGPU templates (templates/allocation.ts) are the
// same rules on the device; the TensorFlow.js backend keeps them in tensors (runtime/tfjs/attention.ts).
import { allocateFromScores } from '../alloc.js';

type Attrs = Record<string, any>;

/** What an allocate node's attrs hold (compiler/graph/forward.ts). */
export interface AllocateAttrs {
  batch: number;
  heads: number;
  groups: number;
  layer: number;
  mode: 'train' | 'eval';
  grouping: 'uniform' | 'table' | 'table-per-sample';
  frozen: boolean;
  policy: Record<string, unknown>;
}


const f32 = Math.fround;

/** Contiguous runs of heads in group order (groupOfHeadFromCounts), capped at H. */
function writeTable(table: Uint32Array, base: number, counts: ArrayLike<number>, heads: number): void {
  let h = 0;
  for (let g = 0; g < counts.length; g++) {
    for (let c = 0; c < counts[g]!; c++) {
      if (h < heads) table[base + h] = g;
      h++;
    }
  }
}

/**
 * The allocate op on the host (for a backend whose tensors the host reads: the native CPU backend;
 * and the reference the device implementations are held to): `state` is the layer's packed state
 * (types.ts GraphAllocationState), `stats` the pass's per-image statistics [B, G] (null when eval
 * reads the frozen counts), `table` receives head -> group ([H], or [B, H] per image). Returns the
 * function of one pass, given its step and epoch step.
 */
export function allocateOnHost(a: AllocateAttrs, state: Uint32Array, stats: Float32Array | null, table: Uint32Array): (v: { step: number; epochStep: number }) => void {
  const al = a.policy as Attrs;
  const H: number = a.heads;
  const G: number = a.groups;
  const floats = new Float32Array(state.buffer, state.byteOffset, state.length);
  const opts = { heads: H, scale: al.scale, rounding: al.rounding, minPerGroup: al.min };
  const alloc = (scores: number[]) => allocateFromScores(scores, opts).counts;
  if (a.frozen || stats === null) return () => writeTable(table, 0, state.subarray(0, G), H);
  const B: number = a.batch;
  const sumsOf = (): number[] => {
    const sums: number[] = [];
    for (let g = 0; g < G; g++) {
      let s = 0;
      for (let b = 0; b < B; b++) s = f32(s + stats[b * G + g]!);
      sums.push(s);
    }
    return sums;
  };
  if (al.track) {
    const t = al.track as Attrs;
    const decay: number = t.kind === 'ema' ? t.decay : 0;
    const window: number = al.window ?? 1;
    const [d, od] = [f32(decay), f32(1 - decay)];
    const scoreOf = (cache: number, norm: number) => {
      if (t.kind === 'diff') return f32(Math.abs(f32(cache - norm)));
      return t.rule === 'attnc' ? f32(f32(cache * d) + f32(norm * od)) : f32(f32(norm * d) + f32(cache * od));
    };
    const nextCacheOf = (cache: number, norm: number, sc: number) => {
      if (t.rule === 'attnc') return t.kind === 'diff' ? norm : sc;
      return a.mode === 'train' ? f32(f32(cache + norm) / f32(window)) : norm;
    };
    return (v) => {
      const sums = sumsOf();
      const scores: number[] = [];
      const next: number[] = [];
      const scoreAndCache = () => {
        for (let g = 0; g < G; g++) {
          const cache = floats[G + g]!;
          const sc = scoreOf(cache, sums[g]!);
          scores[g] = sc;
          next[g] = nextCacheOf(cache, sums[g]!, sc);
        }
      };
      const storeCacheAndScore = () => {
        for (let g = 0; g < G; g++) {
          floats[G + g] = next[g]!;
          floats[2 * G + g] = scores[g]!;
        }
      };
      const storeCounts = (c: number[]) => state.set(c, 0);
      let counts: ArrayLike<number>;
      if (a.mode === 'eval') {
        scoreAndCache();
        const c = alloc(scores);
        if (t.rule !== 'attnc') {
          storeCounts(c);
          storeCacheAndScore();
        }
        counts = c;
      } else {
        if (state[3 * G + 1] !== v.step + 1) {
          const firstBatch = al.init === 'first_batch' && state[3 * G] === 0;
          const due = t.rule === 'attnc' ? firstBatch || (v.step > 0 && v.step % window === 0) : v.epochStep % window === 0 || firstBatch;
          state[3 * G] = 1;
          state[3 * G + 1] = v.step + 1;
          if (t.rule === 'attnc') {
            scoreAndCache();
            storeCacheAndScore();
            if (due) storeCounts(alloc(scores));
          } else if (due) {
            scoreAndCache();
            storeCounts(alloc(scores));
            storeCacheAndScore();
          }
        }
        counts = Array.from(state.subarray(0, G));
      }
      writeTable(table, 0, counts, H);
    };
  }
  const perSample = a.grouping === 'table-per-sample';
  return () => {
    const sums = sumsOf();
    let batchCounts: number[] | null = null;
    if (perSample) {
      for (let b = 0; b < B; b++) writeTable(table, b * H, alloc(Array.from(stats.subarray(b * G, (b + 1) * G))), H);
      if (a.mode !== 'eval' && al.eval === 'frozen') batchCounts = alloc(sums);
    } else {
      batchCounts = alloc(sums);
      writeTable(table, 0, batchCounts, H);
    }
    if (a.mode === 'eval') return;
    for (let g = 0; g < G; g++) floats[2 * G + g] = sums[g]!;
    if (batchCounts) state.set(batchCounts, 0);
    state[3 * G] = 1;
  };
}
