// The allocation on the device (templates/allocation.ts, wgsl-alloc.ts) against compiler/alloc.ts:
// the worked examples of docs/allocation.md, then a property over random f32 score rows (norm-like
// values, small integers with exact ties, NaN, infinities, signed zeros, subnormals, 3e38) where the
// counts and the head -> group table must equal allocateFromScores of the same f32 values exactly.
// Then the key norms, the state kernels and the DGQA tracker step by step.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocateFromScores, groupOfHeadFromCounts, paperTrackerStep, updateTrackedScore, type KeyNormOptions } from '../../compiler/alloc.js';
import type { TrackIR } from '../../compiler/ir/types.js';
import { DEFAULT_LIMITS as L } from '../../compiler/targets/webgpu/kernel.js';
import { allocateKernel, allocationStateKernel, keyNormKernel, keyNormSumKernel, tableFromCountsKernel, trackerKernel } from '../../compiler/targets/webgpu/templates/allocation.js';
import { allocationUniformValues } from '../../compiler/targets/webgpu/wgsl-alloc.js';
import { runKernel } from '../../runtime/webgpu/run-kernel.js';
import { expectClose, gpuForTests, randomArray, rng } from '../helpers/webgpu.js';

const { gpu, skipReason } = await gpuForTests();

const bitsOf = (xs: number[]) => new Uint32Array(Float32Array.from(xs).buffer);
const floatsOf = (bits: ArrayLike<number>) => Array.from(new Float32Array(Uint32Array.from(bits as ArrayLike<number>).buffer));

describe.skipIf(!gpu)(`allocation on the device ${skipReason ?? ''}`, () => {
  const device = gpu?.device!; // undefined only when the describe is skipped

  /** Device counts and tables for rows of f32 scores, one allocation per row. */
  async function deviceAllocate(rows: number[][], opts: KeyNormOptions): Promise<{ counts: number[][]; tables: number[][] }> {
    const G = rows[0]!.length;
    // One kernel for every shape: the capacity is fixed, G and H are uniforms.
    const inst = allocateKernel({ rows: rows.length, table: true, maxGroups: 8 }, L);
    const uniforms = { rows: rows.length, ...allocationUniformValues({ groups: G, ...opts }) };
    const { out } = await runKernel(device, inst, { scores: bitsOf(rows.flat()), out_counts: rows.length * G, table: rows.length * opts.heads }, uniforms);
    const chunk = (a: ArrayLike<number>, n: number) => rows.map((_, r) => Array.from(a).slice(r * n, r * n + n));
    return { counts: chunk(out.out_counts!, G), tables: chunk(out.table!, opts.heads) };
  }

  async function expectExact(rows: number[][], opts: KeyNormOptions): Promise<void> {
    const f32rows = rows.map((r) => r.map(Math.fround));
    const got = await deviceAllocate(f32rows, opts);
    f32rows.forEach((row, i) => {
      const want = allocateFromScores(row, opts);
      expect({ row, counts: got.counts[i] }).toEqual({ row, counts: want.counts });
      expect(got.tables[i]).toEqual(want.groupOfHead);
    });
  }

  it('gives the worked examples of docs/allocation.md', async () => {
    const examples: [number[], number, KeyNormOptions['scale'], KeyNormOptions['rounding'], number][] = [
      [[5, 1, 3, 2], 8, 'minmax', 'largest_remainder', 0],
      [[5, 1, 3, 2], 8, 'minmax', 'largest_remainder', 1],
      [[7, 7, 7, 7], 6, 'minmax', 'largest_remainder', 0],
      [[-3, 1, 1], 4, 'none', 'largest_remainder', 0],
      [[0, 1, 1, 2], 10, 'minmax', 'paper', 0],
      [[0, 1, 1, 2], 6, 'minmax', 'paper', 0],
      [[0, 0, 1, 1, 1], 7, 'minmax', 'paper', 0],
      [[4, 2, 1], 14, 'minmax', 'paper', 0],
      [[4, 2, 1], 14, 'minmax', 'largest_remainder', 0],
      [[5, 1, 3, 2], 8, 'minmax', 'paper', 2],
      [[3, 3, 3, 3], 6, 'minmax', 'paper', 0],
      [[1, NaN, 5], 7, 'minmax', 'paper', 0],
    ];
    for (const [scores, heads, scale, rounding, minPerGroup] of examples) await expectExact([scores], { heads, scale, rounding, minPerGroup });
  });

  it('equals allocateFromScores on random f32 rows, degenerate and extreme ones included', async () => {
    const special = fc.constantFrom(NaN, Infinity, -Infinity, 0, -0, 1.4e-45, -1.4e-45, 1.1754942e-38, 3.4028235e38, -3.4028235e38, 1, 2, 3);
    const score = fc.oneof(
      { weight: 4, arbitrary: fc.float({ min: Math.fround(0.5), max: Math.fround(200), noNaN: true }) },
      { weight: 3, arbitrary: fc.integer({ min: -2, max: 9 }) },
      { weight: 2, arbitrary: fc.float() },
      { weight: 1, arbitrary: special },
    );
    const options = fc.record({
      groups: fc.integer({ min: 1, max: 6 }),
      extra: fc.integer({ min: 0, max: 12 }),
      scale: fc.constantFrom('minmax' as const, 'none' as const),
      rounding: fc.constantFrom('largest_remainder' as const, 'paper' as const),
      min: fc.integer({ min: 0, max: 3 }),
    });
    const sample = options.chain((o) => fc.tuple(fc.constant(o), fc.array(fc.array(score, { minLength: o.groups, maxLength: o.groups }), { minLength: 1, maxLength: 40 })));
    let rowsChecked = 0;
    await fc.assert(
      fc.asyncProperty(sample, async ([o, rows]) => {
        const heads = o.groups + o.extra;
        const minPerGroup = Math.min(o.min, Math.floor(heads / o.groups));
        await expectExact(rows, { heads, scale: o.scale, rounding: o.rounding, minPerGroup });
        rowsChecked += rows.length;
      }),
      { numRuns: 60, seed: 20240808 },
    );
    expect(rowsChecked).toBeGreaterThan(200);
  }, 120_000);

  it('computes l2 and l1 key norms per image and group, and their batch sum', async () => {
    const [B, T, H, G, hd] = [3, 5, 4, 2, 3];
    const W = (H + 2 * G) * hd;
    const qkv = randomArray(B * T * W, rng(5), -2, 2);
    for (const norm of ['l2', 'l1'] as const) {
      const { out } = await runKernel(device, keyNormKernel({ batch: B, tokens: T, heads: H, groups: G, headDim: hd, norm }, L), { qkv, norms: B * G });
      const want: number[] = [];
      for (let b = 0; b < B; b++) {
        for (let g = 0; g < G; g++) {
          let s = 0;
          for (let t = 0; t < T; t++) for (let d = 0; d < hd; d++) { const k = qkv[(b * T + t) * W + (H + g) * hd + d]!; s += norm === 'l2' ? k * k : Math.abs(k); }
          want.push(norm === 'l2' ? Math.sqrt(s) : s);
        }
      }
      expectClose(out.norms!, want, 1e-5, 1e-5, `${norm} norms`);
      const sums = (await runKernel(device, keyNormSumKernel({ batch: B, groups: G }, L), { norms: out.norms!, sums: G })).out.sums!;
      expectClose(sums, [0, 1].map((g) => want[g]! + want[G + g]! + want[2 * G + g]!), 1e-5, 1e-5, 'sums');
    }
  });

  it('stores the training state of an untracked layer and builds the table of stored counts', async () => {
    const G = 3;
    const state = new Uint32Array(3 * G + 2);
    const sums = bitsOf([1.5, 2.5, 3.5]);
    const { out } = await runKernel(device, allocationStateKernel({ groups: G, counts: true }, L), { sums, counts: Uint32Array.from([1, 2, 3]), state });
    expect(Array.from(out.state!.slice(0, G))).toEqual([1, 2, 3]);
    expect(floatsOf(out.state!.slice(2 * G, 3 * G))).toEqual([1.5, 2.5, 3.5]);
    expect(out.state![3 * G]).toBe(1);
    const table = (await runKernel(device, tableFromCountsKernel({ heads: 6, groups: G }, L), { state: out.state!, table: 6 })).out.table!;
    expect(Array.from(table)).toEqual(groupOfHeadFromCounts([1, 2, 3]));
  });

  const trackCases: { track: TrackIR; init: 'uniform' | 'first_batch' }[] = [
    { track: { kind: 'ema', decay: 0.9, rule: 'attnc' }, init: 'uniform' },
    { track: { kind: 'diff', rule: 'attnc' }, init: 'first_batch' },
    { track: { kind: 'ema', decay: 0.7, rule: 'paper' }, init: 'uniform' },
    { track: { kind: 'diff', rule: 'paper' }, init: 'first_batch' },
  ];
  for (const { track, init } of trackCases) {
    it(`tracks ${JSON.stringify(track)} init ${init} over training steps, then evaluates`, async () => {
      const [H, G, window] = [7, 3, 2];
      const opts = { heads: H, scale: 'none' as const, rounding: 'paper' as const, minPerGroup: 0 };
      const train = trackerKernel({ maxGroups: 4, track, window, init, mode: 'train' }, L);
      const alloc = allocationUniformValues({ groups: G, ...opts });
      // Host reference (float64 rules of compiler/alloc.ts; the device is f32, so compare within 1e-6
      // and allocate the host side from the device's own score, which must then agree exactly).
      let state = new Uint32Array(3 * G + 2);
      state.set([3, 2, 2]); // the equal share of 7 over 3
      let cache = [0, 0, 0];
      let counts = [3, 2, 2];
      let initialised = false;
      const random = rng(99);
      for (const [step, epochStep, micro] of [[0, 0, 0], [0, 0, 1], [1, 1, 0], [2, 0, 0], [3, 1, 0], [4, 2, 0]] as const) {
        const norms = [1, 2, 3].map(() => Math.fround(1 + 9 * random()));
        const { out } = await runKernel(device, train, { sums: bitsOf(norms), state, table: H }, { step, epoch_step: epochStep, ...alloc });
        const got = floatsOf(out.state!.slice(G, 3 * G));
        if (micro === 0) {
          let due: boolean;
          let score: number[] | null;
          if (track.rule === 'attnc') {
            const next = updateTrackedScore(track, cache, norms);
            due = (!initialised && init === 'first_batch') || (step > 0 && step % window === 0);
            cache = next.cache;
            score = next.score;
          } else {
            due = epochStep % window === 0 || (!initialised && init === 'first_batch');
            const next = due ? paperTrackerStep(track, cache, norms, { training: true, epochStep: 0, window }) : { score: null, cache };
            cache = next.cache;
            score = next.score;
          }
          initialised = true;
          if (score) expectClose(got, [...cache, ...score], 1e-6, 1e-6, `step ${step} cache and score`);
          if (due) counts = allocateFromScores(got.slice(G), opts).counts;
        } else {
          // A later micro-batch of the same step changes nothing.
          expect(Array.from(out.state!)).toEqual(Array.from(state));
        }
        expect(Array.from(out.state!.slice(0, G))).toEqual(counts);
        expect(Array.from(out.table!)).toEqual(groupOfHeadFromCounts(counts));
        state = out.state! as Uint32Array;
      }
      const evalKernel = trackerKernel({ maxGroups: 4, track, window, init, mode: 'eval' }, L);
      const norms = [2, 5, 3].map(Math.fround);
      const { out } = await runKernel(device, evalKernel, { sums: bitsOf(norms), state, table: H }, { step: 9, epoch_step: 9, ...alloc });
      const score = track.rule === 'attnc' ? updateTrackedScore(track, cache, norms).score : paperTrackerStep(track, cache, norms, { training: false }).score!;
      const want = allocateFromScores(score.map(Math.fround), opts).counts;
      expect(Array.from(out.table!)).toEqual(groupOfHeadFromCounts(want));
      if (track.rule === 'attnc') expect(Array.from(out.state!)).toEqual(Array.from(state)); // evaluation never changes the state
      else expect(floatsOf(out.state!.slice(G, 2 * G))).toEqual(norms); // the reference's evaluation sets cache <- norm
    });
  }
});
