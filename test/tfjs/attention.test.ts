// The grouped attention core (runtime/tfjs/attention.ts) on the wasm backend against a plain float64
// reference written here: every grouping, gradients by finite differences, the KDGQA/DGQA state over
// steps, eval modes, the paper's quirks, dropout and PGQA noise as documented in docs/attention.md.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { allocateFromScores, paperTrackerStep, updateTrackedScore } from '../../compiler/alloc.js';
import type { AttentionIR, KeyNormAllocationIR, PerturbIR, TrackIR } from '../../compiler/ir/types.js';
import { Purpose, seed32, streamId, uniformFloats } from '../../runtime/random.js';
import { attentionCore, attentionStateTensors, createAttentionState, loadAttentionState, type AttentionContext, type AttentionState } from '../../runtime/tfjs/attention.js';
import { perturbNoise, subtractNoise } from '../../runtime/tfjs/perturb.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

interface Shape { B: number; T: number; H: number; G: number; hd: number }
const span = { file: 't.attn', line: 1, col: 1, endLine: 1, endCol: 2 };

function ir(s: Shape, allocation: AttentionIR['allocation'] = { policy: 'uniform' }, extra: Partial<AttentionIR> = {}): AttentionIR {
  return { variant: 'gqa', heads: s.H, kvHeads: s.G, headDim: s.hd, compat: 'none', allocation, perturb: null, span, ...extra };
}

function keyNorm(o: Partial<KeyNormAllocationIR> = {}): KeyNormAllocationIR {
  return { policy: 'key_norm', norm: 'l2', scale: 'minmax', rounding: 'largest_remainder', minPerGroup: 1, scope: 'batch', eval: 'recompute', track: null, window: null, init: 'uniform', ...o };
}

function ctx(o: Partial<AttentionContext> = {}): AttentionContext {
  return { training: false, step: 0, seed: 1, layer: 0, state: null, attnDropout: 0, ...o };
}

/** Random qkv in [-1, 1), key group g of image b scaled by kScale[b][g] (to set the key norms). */
function makeQkv(s: Shape, seed: number, kScale?: number[][]): Float32Array {
  const W = (s.H + 2 * s.G) * s.hd;
  const x = uniformFloats(seed, 99, s.B * s.T * W).map((u) => 2 * u - 1);
  for (let b = 0; b < s.B; b++) for (let t = 0; t < s.T; t++) for (let c = s.H * s.hd; c < (s.H + s.G) * s.hd; c++) {
    x[(b * s.T + t) * W + c] *= kScale?.[b]?.[Math.floor((c - s.H * s.hd) / s.hd)] ?? 1;
  }
  return x;
}

/** Float64 attention: head h of image b reads K/V group groupOf(b, h); optional dropout mask [B, H, T, T]. */
function reference(x: ArrayLike<number>, s: Shape, groupOf: (b: number, h: number) => number, mask?: ArrayLike<number>): Float64Array {
  const W = (s.H + 2 * s.G) * s.hd;
  const out = new Float64Array(s.B * s.T * s.H * s.hd);
  const at = (b: number, t: number, c: number) => x[(b * s.T + t) * W + c]!;
  for (let b = 0; b < s.B; b++) for (let h = 0; h < s.H; h++) {
    const g = groupOf(b, h);
    for (let i = 0; i < s.T; i++) {
      const logits = Array.from({ length: s.T }, (_, j) => {
        let dot = 0;
        for (let d = 0; d < s.hd; d++) dot += at(b, i, h * s.hd + d) * at(b, j, (s.H + g) * s.hd + d);
        return dot / Math.sqrt(s.hd);
      });
      const m = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - m));
      const z = e.reduce((a, c) => a + c, 0);
      for (let j = 0; j < s.T; j++) {
        const p = (e[j]! / z) * (mask ? mask[((b * s.H + h) * s.T + i) * s.T + j]! : 1);
        for (let d = 0; d < s.hd; d++) out[(b * s.T + i) * s.H * s.hd + h * s.hd + d] += p * at(b, j, (s.H + s.G + g) * s.hd + d);
      }
    }
  }
  return out;
}

/** Float64 key norms [B][G] (l2 over tokens and head_dim). */
function refNorms(x: ArrayLike<number>, s: Shape): number[][] {
  const W = (s.H + 2 * s.G) * s.hd;
  return Array.from({ length: s.B }, (_, b) => Array.from({ length: s.G }, (_, g) => {
    let sum = 0;
    for (let t = 0; t < s.T; t++) for (let d = 0; d < s.hd; d++) sum += x[(b * s.T + t) * W + (s.H + g) * s.hd + d]! ** 2;
    return Math.sqrt(sum);
  }));
}

const sumOver = (rows: number[][]) => rows[0]!.map((_, g) => rows.reduce((a, r) => a + r[g]!, 0));
const groupsOf = (counts: number[]) => counts.flatMap((c, g) => new Array<number>(c).fill(g));

function run(x: Float32Array, s: Shape, a: AttentionIR, c: AttentionContext): Float32Array {
  return tf.tidy(() => attentionCore(tf, tf.tensor3d(x, [s.B, s.T, (s.H + 2 * s.G) * s.hd]), a, c).dataSync() as Float32Array);
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 2e-5): void {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (1 + Math.abs(want[i]!)));
  expect(worst).toBeLessThan(tol);
}

const countsOf = (st: AttentionState) => Array.from(st.counts.dataSync());

describe('uniform grouping equals the float64 reference', () => {
  for (const [name, H, G] of [['MHA', 4, 4], ['MQA', 4, 1], ['GQA', 6, 2]] as const) {
    it(name, () => {
      const s = { B: 2, T: 5, H, G, hd: 3 };
      const x = makeQkv(s, 3);
      expectClose(run(x, s, ir(s), ctx()), reference(x, s, (_, h) => Math.floor(h / (H / G))));
    });
  }

  it('rejects a qkv of the wrong width', () => {
    const s = { B: 1, T: 2, H: 4, G: 2, hd: 2 };
    expect(() => tf.tidy(() => attentionCore(tf, tf.zeros([1, 2, 10]) as tf.Tensor3D, ir(s), ctx()))).toThrow(/columns/);
  });
});

describe('gradients equal finite differences of the reference', () => {
  function check(s: Shape, a: AttentionIR, groupOf: (b: number, h: number) => number, state: AttentionState | null = null) {
    const x = makeQkv(s, 5, [[0.5, 2, 1, 3].slice(0, s.G)]);
    const w = uniformFloats(6, 6, s.B * s.T * s.H * s.hd).map((u) => u - 0.5);
    const loss = (y: ArrayLike<number>) => Array.from(y).reduce((acc, v, i) => acc + v * w[i]!, 0);
    const grad = tf.tidy(() => {
      const g = tf.grad((q: tf.Tensor) => attentionCore(tf, q as tf.Tensor3D, a, ctx({ state, training: true })).mul(tf.tensor(w, [s.B, s.T, s.H * s.hd])).sum());
      return g(tf.tensor3d(x, [s.B, s.T, (s.H + 2 * s.G) * s.hd])).dataSync();
    });
    const eps = 1e-6;
    const fd = Array.from(x, (_, i) => {
      const up = Float64Array.from(x); up[i] += eps;
      const down = Float64Array.from(x); down[i] -= eps;
      return (loss(reference(up, s, groupOf)) - loss(reference(down, s, groupOf))) / (2 * eps);
    });
    expectClose(grad, fd, 2e-4);
  }
  it('MHA', () => check({ B: 1, T: 3, H: 2, G: 2, hd: 2 }, ir({ B: 1, T: 3, H: 2, G: 2, hd: 2 }), (_, h) => h));
  it('GQA', () => check({ B: 1, T: 3, H: 4, G: 2, hd: 2 }, ir({ B: 1, T: 3, H: 4, G: 2, hd: 2 }), (_, h) => Math.floor(h / 2)));
  it('KDGQA: none through the allocation, the rest as for fixed groups', () => {
    const s = { B: 1, T: 3, H: 4, G: 2, hd: 2 };
    const a = ir(s, keyNorm({ minPerGroup: 1 }));
    // norms 0.5x and 2x: min-max gives the claims 0 and 1, so counts [1, 3] (minimum 1)
    check(s, a, (_, h) => groupsOf([1, 3])[h]!, createAttentionState(tf, a));
  });
});

describe('KDGQA (key_norm, untracked)', () => {
  const s = { B: 2, T: 4, H: 8, G: 4, hd: 2 };

  it('allocates from the batch-summed norms, uneven groups, and follows the batch', () => {
    const a = ir(s, keyNorm({ rounding: 'largest_remainder', minPerGroup: 1 }));
    const state = createAttentionState(tf, a)!;
    for (const [seed, scale] of [[11, [1, 2, 3, 6]], [12, [6, 3, 1, 1.5]]] as const) {
      const x = makeQkv(s, seed, [scale as unknown as number[], scale as unknown as number[]]);
      const counts = allocateFromScores(sumOver(refNorms(x, s)), { heads: 8, scale: 'minmax', rounding: 'largest_remainder', minPerGroup: 1 }).counts;
      expectClose(run(x, s, a, ctx({ training: true, state })), reference(x, s, (_, h) => groupsOf(counts)[h]!));
      expect(countsOf(state)).toEqual(counts);
    }
  });

  it('scope sample: one allocation per image', () => {
    const a = ir(s, keyNorm({ scope: 'sample', minPerGroup: 0 }));
    const x = makeQkv(s, 13, [[1, 2, 3, 6], [6, 3, 2, 1]]);
    const norms = refNorms(x, s);
    const counts = norms.map((n) => allocateFromScores(n, { heads: 8, scale: 'minmax', rounding: 'largest_remainder', minPerGroup: 0 }).counts);
    expect(counts[0]).not.toEqual(counts[1]);
    expectClose(run(x, s, a, ctx({ state: createAttentionState(tf, a) })), reference(x, s, (b, h) => groupsOf(counts[b]!)[h]!));
  });

  it("eval 'frozen' keeps the training allocation, 'recompute' follows the eval batch", () => {
    const train = makeQkv(s, 14, [[1, 2, 3, 6], [1, 2, 3, 6]]);
    const evalX = makeQkv(s, 15, [[6, 3, 2, 1], [6, 3, 2, 1]]);
    const opts = { heads: 8, scale: 'minmax' as const, rounding: 'largest_remainder' as const, minPerGroup: 1 };
    const trained = allocateFromScores(sumOver(refNorms(train, s)), opts).counts;
    const fresh = allocateFromScores(sumOver(refNorms(evalX, s)), opts).counts;
    expect(trained).not.toEqual(fresh);
    for (const mode of ['frozen', 'recompute'] as const) {
      const a = ir(s, keyNorm({ eval: mode }));
      const state = createAttentionState(tf, a)!;
      run(train, s, a, ctx({ training: true, state }));
      const counts = mode === 'frozen' ? trained : fresh;
      expectClose(run(evalX, s, a, ctx({ state })), reference(evalX, s, (_, h) => groupsOf(counts)[h]!));
      expect(countsOf(state)).toEqual(trained); // eval never changes the state
    }
  });

  it("compat 'paper': a starved group gets no query head, and nothing turns NaN", () => {
    const a = ir(s, keyNorm({ rounding: 'paper', minPerGroup: 0 }), { compat: 'paper' });
    const x = makeQkv(s, 16, [[1, 4, 5, 6], [1, 4, 5, 6]]);
    const counts = allocateFromScores(sumOver(refNorms(x, s)), { heads: 8, scale: 'minmax', rounding: 'paper', minPerGroup: 0 }).counts;
    expect(counts[0]).toBe(0);
    const y = run(x, s, a, ctx({ state: createAttentionState(tf, a) }));
    expect(y.every(Number.isFinite)).toBe(true);
    expectClose(y, reference(x, s, (_, h) => groupsOf(counts)[h]!));
  });

  it('equal norms (the reference divides 0 by 0) fall back to the equal share', () => {
    const a = ir(s, keyNorm({ rounding: 'paper', minPerGroup: 0 }));
    const x = makeQkv(s, 17, [[0, 0, 0, 0], [0, 0, 0, 0]]); // all keys zero
    const y = run(x, s, a, ctx({ state: createAttentionState(tf, a) }));
    expect(y.every(Number.isFinite)).toBe(true);
    expectClose(y, reference(x, s, (_, h) => Math.floor(h / 2)));
  });
});

describe("DGQA (tracked key_norm), rule 'attnc'", () => {
  const s = { B: 2, T: 3, H: 8, G: 4, hd: 2 };
  const opts = { heads: 8, scale: 'minmax' as const, rounding: 'largest_remainder' as const, minPerGroup: 1 };
  // K scales per step, chosen so that every step would allocate differently.
  const scales = [[1, 2, 3, 6], [6, 3, 2, 1], [1, 6, 2, 3], [3, 1, 6, 2], [2, 2, 6, 1], [6, 1, 1, 3], [1, 3, 6, 6]];

  function train(track: TrackIR, init: 'uniform' | 'first_batch') {
    const a = ir(s, keyNorm({ track, window: 3, init }));
    const state = createAttentionState(tf, a)!;
    let cache = [0, 0, 0, 0];
    let counts = [2, 2, 2, 2];
    const seen: { counts: number[]; expected: number[]; cache: number[]; score: number[]; wantCache: number[]; wantScore: number[] }[] = [];
    scales.forEach((scale, step) => {
      const x = makeQkv(s, 20 + step, [scale, scale]);
      const next = updateTrackedScore(track, cache, sumOver(refNorms(x, s)));
      cache = next.cache;
      if ((step === 0 && init === 'first_batch') || (step > 0 && step % 3 === 0)) counts = allocateFromScores(next.score, opts).counts;
      const y = run(x, s, a, ctx({ training: true, step, state }));
      expectClose(y, reference(x, s, (_, h) => groupsOf(counts)[h]!));
      run(x, s, a, ctx({ training: true, step, state })); // a second pass at the same step changes nothing
      seen.push({ counts: countsOf(state), expected: counts, cache: Array.from(state.cache.dataSync()), score: Array.from(state.score.dataSync()), wantCache: cache, wantScore: next.score });
    });
    return seen;
  }

  for (const track of [{ kind: 'ema', decay: 0.9, rule: 'attnc' }, { kind: 'diff', rule: 'attnc' }] as TrackIR[]) {
    it(`${JSON.stringify(track)}: the tracker every step, the allocation only at window boundaries`, () => {
      const seen = train(track, 'uniform');
      seen.forEach((r, step) => {
        expect(r.counts).toEqual(r.expected);
        if (step % 3 !== 0 || step === 0) expect(r.counts).toEqual(step === 0 ? [2, 2, 2, 2] : seen[step - 1]!.counts);
        expectClose(r.cache, r.wantCache, 1e-5);
        expectClose(r.score, r.wantScore, 1e-5);
      });
      expect(seen[3]!.counts).not.toEqual([2, 2, 2, 2]);
      expect(seen[6]!.counts).not.toEqual(seen[5]!.counts);
    });
  }

  it("init 'first_batch' allocates at the first step, and the state survives a checkpoint", () => {
    const seen = train({ kind: 'ema', decay: 0.5, rule: 'attnc' }, 'first_batch');
    expect(seen[0]!.counts).not.toEqual([2, 2, 2, 2]);
    seen.forEach((r) => expect(r.counts).toEqual(r.expected));
    const a = ir(s, keyNorm({ track: { kind: 'diff', rule: 'attnc' }, window: 3 }));
    const from = createAttentionState(tf, a)!;
    run(makeQkv(s, 40, [scales[0]!, scales[0]!]), s, a, ctx({ training: true, step: 3, state: from }));
    const to = createAttentionState(tf, a)!;
    loadAttentionState(to, attentionStateTensors(from));
    expect(to.initialisedHost).toBe(true);
    for (const k of ['counts', 'cache', 'score', 'initialised'] as const) {
      expect(Array.from(attentionStateTensors(to)[k].dataSync())).toEqual(Array.from(attentionStateTensors(from)[k].dataSync()));
    }
  });
});

/**
 * The reference code's DGQA state, re-written here from key-driven-gqa modules/attention/dgqa.py
 * (commit 8fee9d6) in plain float64 loops, sharing nothing with compiler/alloc.ts or the runtime:
 *   - splits start at H/G each, the cache at zeros;
 *   - training (update_splits_cache_training): only when step % window == 0, where step is the
 *     batch index within the epoch (train.py), re-allocate from (norms, cache), then
 *     cache = (cache + norms) / window;
 *   - eval (update_splits_cache_inference): every batch re-allocates, then cache = norms;
 *   - get_ratios_ema: score = 0.9 * norms + (1 - 0.9) * cache; get_ratios_diff: |cache - norms|;
 *     round(score / sum(score) * H) half to even (torch.round), no min-max scaling.
 * The reference fixes a wrong sum at a random group; attnc's documented deterministic fix-up is used
 * instead (-1 at the first largest count, +1 at the first smallest). `closestHalf` records how near a
 * quota came to a rounding tie, so a test can check that its inputs are clear of float noise.
 */
class ReferenceDgqa {
  splits: number[];
  cache: number[];
  closestHalf = Infinity;
  fixUps = 0;
  constructor(private readonly heads: number, groups: number, private readonly kind: 'ema' | 'diff', private readonly window: number) {
    this.splits = new Array<number>(groups).fill(heads / groups);
    this.cache = new Array<number>(groups).fill(0);
  }

  /** Returns whether the step re-allocated. */
  train(epochStep: number, norms: number[]): boolean {
    if (epochStep % this.window !== 0) return false;
    this.splits = this.ratios(norms);
    this.cache = this.cache.map((c, g) => (c + norms[g]!) / this.window);
    return true;
  }

  eval(norms: number[]): void {
    this.splits = this.ratios(norms);
    this.cache = [...norms];
  }

  private ratios(norms: number[]): number[] {
    const score = norms.map((n, g) => (this.kind === 'diff' ? Math.abs(this.cache[g]! - n) : 0.9 * n + (1 - 0.9) * this.cache[g]!));
    const sum = score.reduce((a, b) => a + b, 0);
    const ratios = score.map((v) => {
      const quota = (v / sum) * this.heads;
      const below = Math.floor(quota);
      this.closestHalf = Math.min(this.closestHalf, Math.abs(quota - below - 0.5));
      if (quota - below !== 0.5) return Math.round(quota);
      return below % 2 === 0 ? below : below + 1;
    });
    const total = () => ratios.reduce((a, b) => a + b, 0);
    if (total() !== this.heads) this.fixUps++;
    while (total() > this.heads) ratios[ratios.indexOf(Math.max(...ratios))]! -= 1;
    while (total() < this.heads) ratios[ratios.indexOf(Math.min(...ratios))]! += 1;
    return ratios;
  }
}

describe("DGQA (tracked key_norm), rule 'paper': the reference code's state, step by step", () => {
  const s = { B: 2, T: 3, H: 8, G: 4, hd: 2 };
  // What `compat paper` lowers a tracked allocation to (compiler/lower.ts).
  const paperPolicy = (track: TrackIR, window: number, o: Partial<KeyNormAllocationIR> = {}) =>
    keyNorm({ scale: 'none', rounding: 'paper', minPerGroup: 0, eval: 'recompute', track, window, ...o });
  const hostOpts = { heads: 8, scale: 'none' as const, rounding: 'paper' as const, minPerGroup: 0 };

  // Two epochs of 4 batches, evaluation batches after each epoch (train.py) and one mid-epoch (so a
  // later training step that is not due runs with the allocation the evaluation left).
  type Event = { kind: 'train'; step: number; epochStep: number } | { kind: 'eval' };
  const events: Event[] = [
    ...[0, 1, 2, 3].map((i) => ({ kind: 'train' as const, step: i, epochStep: i })),
    { kind: 'eval' }, { kind: 'eval' },
    { kind: 'train', step: 4, epochStep: 0 }, { kind: 'train', step: 5, epochStep: 1 },
    { kind: 'eval' },
    { kind: 'train', step: 6, epochStep: 2 }, { kind: 'train', step: 7, epochStep: 3 },
    { kind: 'eval' },
  ];
  // K scales of each event's batch (one per group, both images alike): fixed draws in [0.5, 4).
  const scaleOf = (i: number) => Array.from(uniformFloats(4242, i, s.G), (u) => 0.5 + 3.5 * u);

  const tracks: TrackIR[] = [{ kind: 'ema', decay: 0.9, rule: 'paper' }, { kind: 'diff', rule: 'paper' }];
  for (const track of tracks) {
    for (const window of [1, 3]) {
      it(`${track.kind}, window ${window}: counts, cache and output over epochs and eval batches`, () => {
        const a = ir(s, paperPolicy(track, window), { compat: 'paper' });
        const state = createAttentionState(tf, a)!;
        const ref = new ReferenceDgqa(s.H, s.G, track.kind, window);
        let host = { cache: [0, 0, 0, 0], counts: [2, 2, 2, 2] }; // compiler/alloc.ts, the host spec
        const reallocatedAt: number[] = [];
        const countsSeen = new Set<string>();
        events.forEach((e, i) => {
          const x = makeQkv(s, 300 + i, [scaleOf(i), scaleOf(i)]);
          const norms = sumOver(refNorms(x, s));
          const phase = e.kind === 'train' ? { training: true as const, epochStep: e.epochStep, window } : { training: false as const };
          if (e.kind === 'train') {
            if (ref.train(e.epochStep, norms)) reallocatedAt.push(e.step);
          } else {
            ref.eval(norms);
          }
          const next = paperTrackerStep(track, host.cache, norms, phase);
          host = { cache: next.cache, counts: next.score ? allocateFromScores(next.score, hostOpts).counts : host.counts };

          const c = e.kind === 'train' ? ctx({ training: true, step: e.step, epochStep: e.epochStep, state }) : ctx({ training: false, step: 99, state });
          const y = run(x, s, a, c);
          const where = `event ${i} (${JSON.stringify(e)})`;
          expectClose(y, reference(x, s, (_, h) => groupsOf(ref.splits)[h]!));
          if (e.kind === 'train') run(x, s, a, c); // a second micro-batch of the step changes nothing
          expect(countsOf(state), where).toEqual(ref.splits);
          expect(host.counts, where).toEqual(ref.splits);
          expectClose(Array.from(state.cache.dataSync()), ref.cache, 1e-5);
          expectClose(host.cache, ref.cache, 1e-12);
          countsSeen.add(JSON.stringify(ref.splits));
        });
        // The inputs must keep every quota clear of a rounding tie, or float32 could decide it: the
        // float32 norms are within ~1e-6 (relative) of the float64 ones, so a quota (of H = 8) within ~1e-4.
        expect(ref.closestHalf).toBeGreaterThan(1e-3);
        // Re-allocations follow the batch index within the epoch: step 4 is the second epoch's first batch.
        expect(reallocatedAt).toEqual(window === 1 ? [0, 1, 2, 3, 4, 5, 6, 7] : [0, 3, 4, 7]);
        expect(countsSeen.size).toBeGreaterThan(2); // the allocation did move
      });
    }
  }

  it('without epochStep the global step times the re-allocations', () => {
    const track: TrackIR = { kind: 'diff', rule: 'paper' };
    const a = ir(s, paperPolicy(track, 3), { compat: 'paper' });
    const state = createAttentionState(tf, a)!;
    const ref = new ReferenceDgqa(s.H, s.G, 'diff', 3);
    for (let step = 0; step < 7; step++) {
      const x = makeQkv(s, 400 + step, [scaleOf(50 + step), scaleOf(50 + step)]);
      ref.train(step, sumOver(refNorms(x, s)));
      run(x, s, a, ctx({ training: true, step, state }));
      expect(countsOf(state), `step ${step}`).toEqual(ref.splits);
      expectClose(Array.from(state.cache.dataSync()), ref.cache, 1e-5);
    }
  });

  it("eval 'frozen' (never the reference's) uses the stored allocation and leaves the state alone", () => {
    const track: TrackIR = { kind: 'ema', decay: 0.9, rule: 'paper' };
    const a = ir(s, paperPolicy(track, 1, { eval: 'frozen' }), { compat: 'paper' });
    const state = createAttentionState(tf, a)!;
    run(makeQkv(s, 500, [scaleOf(60), scaleOf(60)]), s, a, ctx({ training: true, step: 0, epochStep: 0, state }));
    const before = (['counts', 'cache', 'score'] as const).map((k) => Array.from(attentionStateTensors(state)[k].dataSync()));
    const x = makeQkv(s, 501, [scaleOf(61), scaleOf(61)]);
    expectClose(run(x, s, a, ctx({ state })), reference(x, s, (_, h) => groupsOf(before[0]!)[h]!));
    expect((['counts', 'cache', 'score'] as const).map((k) => Array.from(attentionStateTensors(state)[k].dataSync()))).toEqual(before);
  });
});

describe('memory', () => {
  it('leaves no tensor behind, in training (gradients included) and at eval', () => {
    const s = { B: 2, T: 3, H: 8, G: 4, hd: 2 };
    const a = ir(s, keyNorm({ track: { kind: 'diff', rule: 'attnc' }, window: 2, init: 'first_batch' }), { perturb: { distribution: 'gaussian', scale: 0.1, at: 'output', during: 'always' } });
    const state = createAttentionState(tf, a)!;
    const x = tf.variable(tf.tensor3d(makeQkv(s, 70, [[1, 2, 3, 4], [1, 2, 3, 4]]), [s.B, s.T, 16 * 2]));
    const before = tf.memory().numTensors;
    for (let step = 0; step < 4; step++) {
      const { value, grads } = tf.variableGrads(() => attentionCore(tf, x, a, ctx({ training: true, step, state, attnDropout: 0.1 })).sum() as tf.Scalar, [x]);
      expect(grads[x.name]!.shape).toEqual(x.shape);
      value.dispose();
      tf.dispose(grads);
      tf.dispose(attentionCore(tf, x, a, ctx({ state })));
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('attention dropout', () => {
  const s = { B: 1, T: 4, H: 4, G: 2, hd: 2 };
  it('uses the documented mask in training only', () => {
    const x = makeQkv(s, 50);
    const p = 0.5;
    const u = uniformFloats(seed32(7), streamId(Purpose.attentionDropout, 3, 11, 0), s.B * s.H * s.T * s.T);
    const mask = u.map((v) => (v >= p ? 1 / (1 - p) : 0));
    const groupOf = (_: number, h: number) => Math.floor(h / 2);
    expectClose(run(x, s, ir(s), ctx({ training: true, attnDropout: p, seed: 7, layer: 3, step: 11 })), reference(x, s, groupOf, mask));
    expectClose(run(x, s, ir(s), ctx({ training: false, attnDropout: p, seed: 7, layer: 3, step: 11 })), reference(x, s, groupOf));
  });
});

describe('PGQA (perturb)', () => {
  const s = { B: 2, T: 3, H: 4, G: 2, hd: 2 };
  const pert = (o: Partial<PerturbIR> = {}): PerturbIR => ({ distribution: 'uniform', scale: 0.5, at: 'output', during: 'train', ...o });

  it('subtracts noise with exactly each row\'s mean and std, times scale', () => {
    const x = tf.randomNormal([2, 3, 4, 10], 1, 2, 'float32', 1) as tf.Tensor4D;
    const p = pert({ distribution: 'gaussian', scale: 0.25 });
    const noise = perturbNoise(p, [2, 3, 4, 10], { seed: 1, layer: 0, step: 0, microBatch: 0, paper: false, headsPerGroup: 1 });
    const xs = x.arraySync().flat(2);
    const ys = subtractNoise(tf, x, noise, 0.25, false).arraySync().flat(2);
    xs.forEach((row, r) => {
      const sub = row.map((v, j) => (v - ys[r]![j]!) / 0.25);
      const stats = (a: number[]) => { const m = a.reduce((t, v) => t + v, 0) / a.length; return [m, Math.sqrt(a.reduce((t, v) => t + (v - m) ** 2, 0) / a.length)]; };
      expectClose(stats(sub), stats(row), 1e-4);
    });
  });

  it("draws standardised rows; 'paper' shares them over the batch and zeroes the diagonal first", () => {
    const d = { seed: 2, layer: 1, step: 4, microBatch: 0, paper: true, headsPerGroup: 2 };
    const n = perturbNoise(pert(), [3, 4, 1, 6], d);
    expect(n.length).toBe(4 * 6);
    const again = perturbNoise(pert(), [3, 4, 1, 6], { ...d, paper: false });
    expect(again.length).toBe(3 * 4 * 6);
    for (let row = 0; row < 4; row++) {
      const r = Array.from(n.slice(row * 6, row * 6 + 6));
      expect(Math.abs(r.reduce((a, v) => a + v, 0) / 6)).toBeLessThan(1e-6);
      expect(Math.abs(r.reduce((a, v) => a + v * v, 0) / 6 - 1)).toBeLessThan(1e-5);
    }
    const raw = uniformFloats(seed32(2), streamId(Purpose.perturbNoise, 1, 4, 0), 24);
    raw[1 * 6 + 1] = 0; // head 1 is the second head of its group: column 1
    const r1 = Array.from(raw.slice(6, 12));
    const m = r1.reduce((a, v) => a + v, 0) / 6;
    expect(n[7]).toBeCloseTo((0 - m) / Math.sqrt(r1.reduce((a, v) => a + (v - m) ** 2, 0) / 6), 5);
  });

  it("wires the noise to each head's output rows; 'train' only in training, 'always' at eval too; seeded", () => {
    const x = makeQkv(s, 60);
    const groupOf = (_: number, h: number) => Math.floor(h / 2);
    const base = reference(x, s, groupOf);
    const p = pert({ during: 'train' });
    const noise = perturbNoise(p, [2, 4, 1, 6], { seed: 9, layer: 2, step: 5, microBatch: 0, paper: false, headsPerGroup: 2 });
    const want = new Float64Array(base.length);
    for (let b = 0; b < 2; b++) for (let h = 0; h < 4; h++) {
      const idx = (t: number, d: number) => (b * s.T + t) * 8 + h * 2 + d;
      const row = Array.from({ length: 6 }, (_, j) => base[idx(Math.floor(j / 2), j % 2)]!);
      const mean = row.reduce((a, v) => a + v, 0) / 6;
      const std = Math.sqrt(row.reduce((a, v) => a + (v - mean) ** 2, 0) / 6);
      row.forEach((v, j) => { want[idx(Math.floor(j / 2), j % 2)] = v - 0.5 * (noise[(b * 4 + h) * 6 + j]! * std + mean); });
    }
    const c = ctx({ training: true, seed: 9, layer: 2, step: 5 });
    expectClose(run(x, s, ir(s, undefined, { perturb: p }), c), want);
    expectClose(run(x, s, ir(s, undefined, { perturb: p }), { ...c, training: false }), base);
    expectClose(run(x, s, ir(s, undefined, { perturb: { ...p, during: 'always' } }), { ...c, training: false }), want);
    const other = run(x, s, ir(s, undefined, { perturb: p }), { ...c, step: 6 });
    expect(Array.from(other)).not.toEqual(Array.from(run(x, s, ir(s, undefined, { perturb: p }), c)));
  });

  it("at 'scores' perturbs the logits: deterministic, and different from the unperturbed output", () => {
    const x = makeQkv(s, 61);
    const a = ir(s, undefined, { perturb: pert({ at: 'scores', during: 'always', distribution: 'gaussian' }) });
    const y1 = run(x, s, a, ctx({ step: 2 }));
    expect(Array.from(run(x, s, a, ctx({ step: 2 })))).toEqual(Array.from(y1));
    expect(Array.from(y1)).not.toEqual(Array.from(run(x, s, ir(s), ctx({ step: 2 }))));
    expect(y1.every(Number.isFinite)).toBe(true);
  });
});
