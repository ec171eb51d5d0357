// DGQA in the attention core (runtime/tfjs/attention.ts): the tracked allocation state over training
// steps under both tracker rules, rule 'paper' against a step-by-step reference of the reference
// code's dgqa.py written here (docs/attention.md).
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { allocateFromScores, paperTrackerStep, updateTrackedScore } from '../../compiler/alloc.js';
import type { ScoredAllocationIR, TrackIR } from '../../compiler/ir/types.js';
import { uniformFloats } from '../../core/random.js';
import { attentionStateTensors, createAttentionState, loadAttentionState } from '../../runtime/tfjs/attention.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

import { ir, keyNorm, ctx, makeQkv, reference, refNorms, sumOver, groupsOf, run, expectClose, countsOf } from './attention-fixtures.js';

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
  const paperPolicy = (track: TrackIR, window: number, o: Partial<ScoredAllocationIR> = {}) =>
    keyNorm({ scale: 'none', rounding: 'paper', min: 0, eval: 'recompute', track, window, ...o });
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

