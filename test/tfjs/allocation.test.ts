// The tensor allocation (runtime/tfjs/allocation.ts) against the reference allocation function
// (compiler/alloc.ts) on the wasm backend: hand-picked degenerate and quirky inputs, then a fast-check
// property over many random score vectors, ties and near-ties included.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { allocateFromScores, type KeyNormOptions } from '../../compiler/alloc.js';
import { allocateCounts, groupOfHeadOneHot, paperTrackerUpdate, trackerStep } from '../../runtime/tfjs/allocation.js';
import { equalShareCounts } from '../../compiler/alloc.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

/** Tensor counts for several score rows at once (one allocation per row, as per-sample scope). */
function tensorCounts(rows: number[][], opts: KeyNormOptions): number[][] {
  return tf.tidy(() => allocateCounts(tf, tf.tensor2d(rows), opts).arraySync() as number[][]);
}

const f32 = (xs: number[]) => xs.map(Math.fround);

describe('tensor allocation equals compiler/alloc.ts on chosen inputs', () => {
  const cases: { scores: number[]; opts: KeyNormOptions }[] = [
    // min-max starves the smallest group; 'paper' lets it keep 0 heads
    { scores: [3, 1, 2, 5], opts: { heads: 8, scale: 'minmax', rounding: 'paper', minPerGroup: 0 } },
    { scores: [3, 1, 2, 5], opts: { heads: 8, scale: 'minmax', rounding: 'largest_remainder', minPerGroup: 1 } },
    { scores: [3, 1, 2, 5], opts: { heads: 8, scale: 'minmax', rounding: 'paper', minPerGroup: 1 } },
    // exact halves: quotas 0.5 and 1.5 round half to even to 0 and 2
    { scores: [1, 3], opts: { heads: 2, scale: 'none', rounding: 'paper', minPerGroup: 0 } },
    // exact remainder ties: equal claims, ties to the lower index
    { scores: [2, 2, 2, 2], opts: { heads: 6, scale: 'none', rounding: 'largest_remainder', minPerGroup: 0 } },
    // equal claims with exact halves: 1.5 and 1.5 both round to 2, then the first argmax gives one back
    { scores: [90.21788, 90.21788], opts: { heads: 3, scale: 'none', rounding: 'paper', minPerGroup: 0 } },
    { scores: [0, 78.58625, 78.58625], opts: { heads: 15, scale: 'minmax', rounding: 'paper', minPerGroup: 4 } },
    // a true tie of different claims: quotas 1.3 and 0.3 (float32 would read 1.3 - 1 < 0.3)
    { scores: [13, 3, 2, 2], opts: { heads: 6, scale: 'none', rounding: 'largest_remainder', minPerGroup: 1 } },
    { scores: [1, 3, 6], opts: { heads: 5, scale: 'none', rounding: 'largest_remainder', minPerGroup: 0 } },
    // 'paper' overshoots: 4 x round(2.5 half-even) ... fixed up at the first argmax/argmin
    { scores: [1, 1, 1, 1, 1, 1], opts: { heads: 9, scale: 'none', rounding: 'paper', minPerGroup: 0 } },
    { scores: [5, 1, 1, 1, 1, 1], opts: { heads: 7, scale: 'none', rounding: 'paper', minPerGroup: 0 } },
    // degenerate: all equal under min-max (0/0 in the reference), all zero, NaN, infinity, negatives
    { scores: [4, 4, 4], opts: { heads: 8, scale: 'minmax', rounding: 'paper', minPerGroup: 0 } },
    { scores: [0, 0, 0], opts: { heads: 7, scale: 'none', rounding: 'largest_remainder', minPerGroup: 0 } },
    { scores: [1, NaN, 2], opts: { heads: 6, scale: 'minmax', rounding: 'largest_remainder', minPerGroup: 0 } },
    { scores: [1, Infinity, 2], opts: { heads: 6, scale: 'none', rounding: 'paper', minPerGroup: 1 } },
    { scores: [-1, -2, 3], opts: { heads: 6, scale: 'none', rounding: 'largest_remainder', minPerGroup: 0 } },
    { scores: [-1, -2, -3], opts: { heads: 5, scale: 'none', rounding: 'paper', minPerGroup: 0 } },
    // far from 1: powers of two keep float32 from overflowing and out of the subnormal range
    { scores: [2 ** 110, 3 * 2 ** 108, 2 ** 80], opts: { heads: 7, scale: 'none', rounding: 'largest_remainder', minPerGroup: 0 } },
    { scores: [-3e38, 3e38, 1e38], opts: { heads: 7, scale: 'minmax', rounding: 'paper', minPerGroup: 0 } },
    { scores: [1e-40, 3e-40, 2e-41], opts: { heads: 7, scale: 'none', rounding: 'largest_remainder', minPerGroup: 0 } },
    // one group, and as many groups as heads
    { scores: [7], opts: { heads: 4, scale: 'minmax', rounding: 'paper', minPerGroup: 0 } },
    { scores: [1, 9, 3, 2], opts: { heads: 4, scale: 'minmax', rounding: 'largest_remainder', minPerGroup: 1 } },
    { scores: [1, 9, 3, 2], opts: { heads: 12, scale: 'minmax', rounding: 'paper', minPerGroup: 3 } },
  ];
  for (const { scores, opts } of cases) {
    it(`${JSON.stringify(scores.map(String))} ${opts.heads} heads ${opts.scale} ${opts.rounding} min ${opts.minPerGroup}`, () => {
      const expected = allocateFromScores(f32(scores), opts).counts;
      expect(tensorCounts([scores], opts)[0]).toEqual(expected);
      // and as a single [G] vector
      const single = tf.tidy(() => allocateCounts(tf, tf.tensor1d(scores), opts).arraySync());
      expect(single).toEqual(expected);
    });
  }

  it("reproduces every worked example of docs/allocation.md", () => {
    const lr = 'largest_remainder' as const;
    const examples: [number[], number, KeyNormOptions['scale'], KeyNormOptions['rounding'], number, number[]][] = [
      [[5, 1, 3, 2], 8, 'minmax', lr, 0, [5, 0, 2, 1]], [[5, 1, 3, 2], 8, 'minmax', lr, 1, [3, 1, 2, 2]],
      [[4, 2, 1], 14, 'minmax', lr, 0, [11, 3, 0]], [[7, 7, 7, 7], 6, 'none', lr, 0, [2, 2, 1, 1]],
      [[-3, 1, 1], 4, 'none', lr, 0, [0, 2, 2]], [[1, 2, 3], 4, 'minmax', 'paper', 0, [0, 1, 3]],
      [[1, 2, 3], 4, 'minmax', 'paper', 1, [1, 1, 2]], [[0, 1, 1, 2], 10, 'minmax', 'paper', 0, [1, 2, 2, 5]],
      [[0, 1, 1, 2], 6, 'minmax', 'paper', 0, [0, 2, 2, 2]], [[0, 1, 1], 3, 'minmax', 'paper', 0, [0, 1, 2]],
      [[0, 0, 1, 1, 1], 7, 'minmax', 'paper', 0, [1, 0, 2, 2, 2]], [[4, 2, 1], 14, 'minmax', 'paper', 0, [10, 4, 0]],
      [[5, 1, 3, 2], 8, 'minmax', 'paper', 2, [2, 2, 2, 2]], [[3, 3, 3, 3], 6, 'minmax', 'paper', 0, [1, 1, 2, 2]],
      [[1, NaN, 5], 7, 'none', 'paper', 0, [3, 2, 2]],
    ];
    for (const [scores, heads, scale, rounding, minPerGroup, counts] of examples) {
      expect(tensorCounts([scores], { heads, scale, rounding, minPerGroup })[0], JSON.stringify(scores)).toEqual(counts);
    }
  });

  it('gives the equal share for equal scores, and the uniform grouping when G divides H', () => {
    expect(equalShareCounts(7, 3)).toEqual(allocateFromScores([1, 1, 1], { heads: 7, scale: 'none', rounding: 'largest_remainder', minPerGroup: 0 }).counts);
    expect(equalShareCounts(8, 4)).toEqual([2, 2, 2, 2]);
  });

  it('builds the one-hot of contiguous head runs, empty groups included', () => {
    const counts = [[2, 0, 3, 1], [0, 0, 6, 0]];
    const oneHot = tf.tidy(() => groupOfHeadOneHot(tf, tf.tensor2d(counts), 6).arraySync() as number[][][]);
    const expectedGroups = [[0, 0, 2, 2, 2, 3], [2, 2, 2, 2, 2, 2]];
    oneHot.forEach((rows, n) => {
      rows.forEach((row, h) => expect(row).toEqual([0, 1, 2, 3].map((g) => (g === expectedGroups[n]![h] ? 1 : 0))));
    });
    const single = tf.tidy(() => groupOfHeadOneHot(tf, tf.tensor1d([1, 2]), 3).arraySync());
    expect(single).toEqual([[1, 0], [0, 1], [0, 1]]);
  });
});

describe('the DGQA tracker steps in tensors', () => {
  const read = (r: { cache: tf.Tensor; score: tf.Tensor }) => ({ cache: Array.from(r.cache.dataSync()), score: Array.from(r.score.dataSync()) });
  const expectNear = (got: { cache: number[]; score: number[] }, want: { cache: readonly number[]; score: readonly number[] }) => {
    got.cache.forEach((v, g) => expect(v).toBeCloseTo(want.cache[g]!, 6));
    got.score.forEach((v, g) => expect(v).toBeCloseTo(want.score[g]!, 6));
  };

  // cache [1, 2], this step's norms [3, 1], decay 0.9, worked by hand
  const attnc = [
    { track: { kind: 'ema', decay: 0.9, rule: 'attnc' }, cache: [1.2, 1.9], score: [1.2, 1.9] }, // 0.9 c + 0.1 n
    { track: { kind: 'diff', rule: 'attnc' }, cache: [3, 1], score: [2, 1] }, // |c - n|, then c = n
  ] as const;
  for (const { track, cache, score } of attnc) {
    it(`trackerStep ${JSON.stringify(track)}`, () => {
      expectNear(tf.tidy(() => read(trackerStep(tf, track, tf.tensor1d([1, 2]), tf.tensor1d([3, 1])))), { cache, score });
    });
  }

  // rule 'paper', same inputs: the score from (norm, cache); the cache (c + n) / window in training, n at eval
  const paper = [
    { track: { kind: 'ema', decay: 0.9, rule: 'paper' }, phase: { training: true, window: 2 }, cache: [2, 1.5], score: [2.8, 1.1] },
    { track: { kind: 'ema', decay: 0.9, rule: 'paper' }, phase: { training: false }, cache: [3, 1], score: [2.8, 1.1] },
    { track: { kind: 'diff', rule: 'paper' }, phase: { training: true, window: 1 }, cache: [4, 3], score: [2, 1] },
    { track: { kind: 'diff', rule: 'paper' }, phase: { training: false }, cache: [3, 1], score: [2, 1] },
  ] as const;
  for (const { track, phase, cache, score } of paper) {
    it(`paperTrackerUpdate ${JSON.stringify(track)} ${JSON.stringify(phase)}`, () => {
      expectNear(tf.tidy(() => read(paperTrackerUpdate(tf, track, tf.tensor1d([1, 2]), tf.tensor1d([3, 1]), phase))), { cache, score });
    });
  }

  it('each refuses the other rule, and a window below 1', () => {
    tf.tidy(() => {
      const v = tf.tensor1d([1]);
      expect(() => trackerStep(tf, { kind: 'diff', rule: 'paper' }, v, v)).toThrow(/paperTrackerUpdate/);
      expect(() => paperTrackerUpdate(tf, { kind: 'diff', rule: 'attnc' }, v, v, { training: false })).toThrow(/trackerStep/);
      expect(() => paperTrackerUpdate(tf, { kind: 'diff', rule: 'paper' }, v, v, { training: true, window: 0 })).toThrow(/window/);
    });
  });
});

/** A float64 value as mantissa * 2^exponent, both exact (the value is finite). */
function decompose(x: number): { mantissa: bigint; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & 0xfffffffffffffn;
  const mantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  return { mantissa: bits >> 63n === 1n ? -mantissa : mantissa, exponent: (biased === 0 ? 1 : biased) - 1075 };
}

/**
 * Where a row stands against docs/attention.md's exactness statement, computed exactly (BigInt):
 * 'exact' when every float32 intermediate is a whole number of one power of two below 2^24, or all
 * nonzero claims are equal (then the tensor counts must equal alloc.ts's, ties included); 'margin' when every decision of the rounding
 * is further from its boundary than the float32 error bound of the docs (they must equal too);
 * 'near' otherwise (they may differ).
 */
function classify(scores: number[], opts: KeyNormOptions): 'exact' | 'margin' | 'near' {
  if (scores.some((s) => !Number.isFinite(s))) return 'exact';
  const parts = scores.map(decompose);
  const lowest = Math.min(...parts.map((p) => p.exponent));
  const ints = parts.map((p) => p.mantissa << BigInt(p.exponent - lowest));
  const lo = ints.reduce((a, b) => (b < a ? b : a));
  let claims = opts.scale === 'minmax' ? ints.map((n) => n - lo) : ints.map((n) => (n > 0n ? n : 0n));
  // no claim, or all nonzero claims equal (computed as claims of 1)
  if (new Set(claims.filter((c) => c !== 0n)).size <= 1) return 'exact';
  while (claims.every((c) => c % 2n === 0n)) claims = claims.map((c) => c / 2n);
  const total = claims.reduce((a, b) => a + b, 0n);
  const largest = claims.reduce((a, b) => (b > a ? b : a));
  // the documented exception: a claim below 2^-196 of the largest may underflow to 0
  if (claims.some((c) => c !== 0n && c << 196n < largest)) return 'near';
  const groups = scores.length;
  const share = opts.rounding === 'paper' ? opts.heads : opts.heads - opts.minPerGroup * groups;
  if (BigInt(share) * total < 1n << 24n) return 'exact';
  const u = 2 ** -23; // float32's unit roundoff, doubled for safety
  const ok = claims.every((c, g) => {
    if (c === 0n) return true; // a zero claim is computed exactly
    const x = BigInt(share) * c;
    const k = Number(x / total);
    const f = Number(((x % total) << 53n) / total) / 2 ** 53;
    const err = u * (2 * (k + f) + (groups + 1) * k + f);
    if (k >= 1 && !(f > err)) return false;
    if (!(1 - f > err + u * groups)) return false;
    if (opts.rounding === 'paper') return Math.abs(f - 0.5) > err + (u * groups) / 2;
    return claims.every((c2, g2) => {
      if (g2 === g || c2 === c) return true; // equal claims are computed identically
      const x2 = BigInt(share) * c2;
      const k2 = Number(x2 / total);
      const f2 = Number(((x2 % total) << 53n) / total) / 2 ** 53;
      return Math.abs(f - f2) > err + (c2 === 0n ? 0 : u * (2 * (k2 + f2) + (groups + 1) * k2 + f2));
    });
  });
  return ok ? 'margin' : 'near';
}

describe('tensor allocation equals compiler/alloc.ts on random inputs', () => {
  // Scores of several kinds: any float32 (NaN, infinities, subnormals included), small integers (true
  // ties and exact halves), norm-like floats, and near-duplicates of one value (float32 neighbours).
  const anyFloat = fc.float({ noDefaultInfinity: false, noNaN: false });
  const smallInt = fc.integer({ min: 0, max: 6 });
  // fc.float leans on extreme values; norms of real key activations spread evenly over a range.
  const norm = fc.integer({ min: 1, max: 1e9 }).map((n) => Math.fround(n / 1e7));
  const problem = fc
    .record({
      groups: fc.integer({ min: 1, max: 8 }),
      extraHeads: fc.integer({ min: 0, max: 20 }),
      scale: fc.constantFrom<'minmax' | 'none'>('minmax', 'none'),
      rounding: fc.constantFrom<'largest_remainder' | 'paper'>('largest_remainder', 'paper'),
      minFraction: fc.double({ min: 0, max: 1, noNaN: true }),
      kind: fc.constantFrom('any', 'int', 'norm', 'near'),
    })
    .chain((p) => {
      const value = p.kind === 'any' ? anyFloat : p.kind === 'int' ? smallInt : p.kind === 'norm' ? norm : fc.integer({ min: -3, max: 3 });
      return fc.tuple(fc.constant(p), fc.array(fc.array(value, { minLength: p.groups, maxLength: p.groups }), { minLength: 1, maxLength: 40 }), norm);
    });

  it('agrees exactly wherever docs/attention.md promises it, and that is nearly every norm-like row', () => {
    type Tally = { exact: number; margin: number; near: number; nearDiffer: number };
    const seen: Record<string, Tally> = {};
    fc.assert(
      fc.property(problem, ([p, raw, base]) => {
        const heads = p.groups + p.extraHeads;
        const minPerGroup = Math.floor(p.minFraction * Math.floor(heads / p.groups));
        const opts: KeyNormOptions = { heads, scale: p.scale, rounding: p.rounding, minPerGroup };
        // 'near' rows: one norm plus a few float32 ulps, so that quotas and remainders nearly tie.
        const scores = raw.map((row) => f32(p.kind === 'near' ? row.map((k) => base * (1 + k * 2 ** -23)) : row));
        const got = tensorCounts(scores, opts);
        const tally = (seen[p.kind] ??= { exact: 0, margin: 0, near: 0, nearDiffer: 0 });
        scores.forEach((row, n) => {
          const kind = classify(row, opts);
          tally[kind]++;
          const expected = allocateFromScores(row, opts).counts;
          expect(got[n]!.reduce((a, b) => a + b, 0)).toBe(heads); // always a valid allocation
          if (kind === 'near') {
            if (JSON.stringify(got[n]) !== JSON.stringify(expected)) {
              tally.nearDiffer++;
              if (process.env.SHOW_NEAR) console.log(JSON.stringify({ row, opts, got: got[n], expected })); // to inspect them
            }
            return;
          }
          expect(got[n], JSON.stringify({ row, opts, kind })).toEqual(expected);
        });
      }),
      { numRuns: 600, seed: 20240815 },
    );
    console.log(`allocation property (rows by input kind and class): ${JSON.stringify(seen)}`);
    const all = Object.values(seen).reduce((a, t) => a + t.exact + t.margin + t.near, 0);
    expect(all).toBeGreaterThan(3000);
    expect(seen.int!.exact).toBeGreaterThan(300); // true ties and exact halves, checked exactly
    const norm = seen.norm!;
    expect(norm.margin).toBeGreaterThan(300);
    expect(norm.near / (norm.exact + norm.margin + norm.near)).toBeLessThan(0.02);
    expect(seen.near!.near).toBeGreaterThan(50); // the adversarial rows do reach the near-ties
  });
});
