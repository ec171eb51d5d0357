// Properties every allocation must have, for random heads, groups, scores and minimums.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { allocateFromScores, uniformAllocation, type KeyNormOptions } from '../compiler/alloc.js';

const RUNS = 500;

// Any double at all, degenerate ones included: the allocation must stay well-formed for every input.
const anyScore = fc.oneof(
  fc.double(),
  fc.double({ min: 0, max: 100, noNaN: true }),
  fc.integer({ min: 0, max: 5 }).map(Number),
  fc.constantFrom(NaN, Infinity, -Infinity, 0, -0, 5e-324, 1.7e308),
);
const normLike = fc.oneof(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.integer({ min: 0, max: 5 }).map(Number));

/** heads, then G <= heads scores, then a minimum that fits, then the two modes. */
function caseOf(score: fc.Arbitrary<number>) {
  return fc
    .integer({ min: 1, max: 64 })
    .chain((heads) =>
      fc.record({
        heads: fc.constant(heads),
        scores: fc.array(score, { minLength: 1, maxLength: Math.min(heads, 16) }),
        minFraction: fc.double({ min: 0, max: 1, noNaN: true }),
        scale: fc.constantFrom('minmax' as const, 'none' as const),
        rounding: fc.constantFrom('largest_remainder' as const, 'paper' as const),
      }),
    )
    .map(({ heads, scores, minFraction, scale, rounding }) => {
      const opts: KeyNormOptions = { heads, scale, rounding, minPerGroup: Math.floor(minFraction * Math.floor(heads / scores.length)) };
      return { scores, opts };
    });
}

describe('allocateFromScores properties', () => {
  it('counts sum to heads, each at least the minimum, and groupOfHead cuts contiguous runs matching them', () => {
    fc.assert(
      fc.property(caseOf(anyScore), ({ scores, opts }) => {
        const { counts, groupOfHead } = allocateFromScores(scores, opts);
        expect(counts).toHaveLength(scores.length);
        expect(counts.reduce((a, b) => a + b, 0)).toBe(opts.heads);
        for (const c of counts) {
          expect(Number.isInteger(c)).toBe(true);
          expect(c).toBeGreaterThanOrEqual(opts.minPerGroup);
        }
        expect(groupOfHead).toHaveLength(opts.heads);
        for (let h = 1; h < groupOfHead.length; h++) expect(groupOfHead[h]!).toBeGreaterThanOrEqual(groupOfHead[h - 1]!);
        counts.forEach((c, g) => expect(groupOfHead.filter((x) => x === g)).toHaveLength(c));
        // Contiguous: group g starts right after the heads of groups 0..g-1.
        let start = 0;
        counts.forEach((c, g) => {
          if (c > 0) expect(groupOfHead[start]).toBe(g);
          start += c;
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('is deterministic', () => {
    fc.assert(
      fc.property(caseOf(anyScore), ({ scores, opts }) => {
        expect(allocateFromScores(scores, opts)).toEqual(allocateFromScores([...scores], { ...opts }));
      }),
      { numRuns: RUNS },
    );
  });

  it('largest remainder never gives a larger score fewer heads than a smaller one', () => {
    fc.assert(
      fc.property(caseOf(normLike), fc.constantFrom('minmax' as const, 'none' as const), ({ scores, opts }, scale) => {
        const { counts } = allocateFromScores(scores, { ...opts, scale, rounding: 'largest_remainder' });
        for (let a = 0; a < scores.length; a++) {
          for (let b = 0; b < scores.length; b++) {
            if (scores[a]! > scores[b]!) expect(counts[a]!).toBeGreaterThanOrEqual(counts[b]!);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('largest remainder (scale none) gives each group the floor or ceiling of its quota above the minimum', () => {
    fc.assert(
      fc.property(caseOf(fc.double({ min: 1e-3, max: 1e3, noNaN: true })), ({ scores, opts }) => {
        const { counts } = allocateFromScores(scores, { ...opts, scale: 'none', rounding: 'largest_remainder' });
        const spare = opts.heads - opts.minPerGroup * scores.length;
        const total = scores.reduce((a, b) => a + b, 0);
        counts.forEach((c, g) => {
          const quota = (spare * scores[g]!) / total;
          expect(c - opts.minPerGroup).toBeGreaterThanOrEqual(Math.floor(quota - 1e-9));
          expect(c - opts.minPerGroup).toBeLessThanOrEqual(Math.ceil(quota + 1e-9));
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('depends only on the ratios: scaling every score by a power of two changes nothing', () => {
    fc.assert(
      fc.property(caseOf(fc.double({ min: 1e-100, max: 1e100, noNaN: true })), fc.integer({ min: -60, max: 60 }), ({ scores, opts }, k) => {
        const scaled = scores.map((s) => s * 2 ** k);
        expect(allocateFromScores(scaled, opts).counts).toEqual(allocateFromScores(scores, opts).counts);
      }),
      { numRuns: RUNS },
    );
  });

  it('equal scores give the uniform allocation whenever the groups divide the heads', () => {
    const divisible = fc
      .record({ groups: fc.integer({ min: 1, max: 12 }), perGroup: fc.integer({ min: 1, max: 8 }) })
      .chain(({ groups, perGroup }) =>
        fc.record({
          groups: fc.constant(groups),
          heads: fc.constant(groups * perGroup),
          min: fc.integer({ min: 0, max: perGroup }),
          score: fc.oneof(fc.double(), fc.constant(0)),
          scale: fc.constantFrom('minmax' as const, 'none' as const),
          rounding: fc.constantFrom('largest_remainder' as const, 'paper' as const),
        }),
      );
    fc.assert(
      fc.property(divisible, ({ groups, heads, min, score, scale, rounding }) => {
        const scores = new Array<number>(groups).fill(score);
        expect(allocateFromScores(scores, { heads, scale, rounding, minPerGroup: min })).toEqual(uniformAllocation(heads, groups));
      }),
      { numRuns: RUNS },
    );
  });
});
