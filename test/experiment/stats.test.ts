// The experiment statistics against SciPy 1.10 (Debian's python3-scipy), whose outputs for these fixed
// inputs were computed once and are pinned here:
//   stats.ttest_rel(a, b) -> (statistic, pvalue);  stats.wilcoxon(a, b) -> (statistic, pvalue)
//   stats.t.sf(2.5, 4) * 2;  stats.norm.sf(1.96);  stats.norm.sf(4.2)
import { describe, expect, it } from 'vitest';
import { bootstrapCI, holm, mean, normalSf, pairedTTest, sampleStd, studentTwoSided, wilcoxonSignedRank } from '../../runtime/experiment/stats.js';

const sixty = (f: (i: number) => number) => Array.from({ length: 60 }, (_, i) => f(i));

const CASES: Record<string, { a: number[]; b: number[]; t: [number, number]; w: [number, number] }> = {
  'five seeds (exact Wilcoxon)': {
    a: [82.64, 83.1, 81.9, 82.2, 83.4], b: [82.26, 82.0, 82.1, 81.5, 82.9],
    t: [2.3325749449968445, 0.0800260767052239], w: [1.0, 0.125],
  },
  'eight seeds (exact Wilcoxon)': {
    a: [0.912, 0.905, 0.921, 0.899, 0.915, 0.908, 0.918, 0.902], b: [0.901, 0.907, 0.915, 0.890, 0.905, 0.909, 0.911, 0.895],
    t: [3.4239268696178784, 0.011076167145285492], w: [3.0, 0.0390625],
  },
  'ties and a zero difference (normal approximation, tie correction)': {
    a: [1, 2, 3, 4, 5, 6, 7, 8], b: [0, 1, 1, 5, 3, 6, 5, 9],
    t: [1.6550318531021113, 0.1418916027014795], w: [5.0, 0.11857143244439367],
  },
  'a zero difference without ties (normal approximation)': {
    a: [1.0, 2.0, 3.5, 4.0, 5.0, 6.5], b: [1.0, 1.5, 3.0, 4.5, 4.0, 5.0],
    t: [1.7320508075688774, 0.14381080871160376], w: [2.0, 0.13079706180685857],
  },
  'sixty pairs (normal approximation)': {
    a: sixty((i) => Math.sin(i * 0.7) + 0.1), b: sixty((i) => Math.cos(i * 1.3)),
    t: [0.8955524739276586, 0.37413110579042597], w: [792.0, 0.3652126497063902],
  },
};

describe('paired tests equal SciPy', () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(name, () => {
      const t = pairedTTest(c.a, c.b)!;
      expect(t.statistic).toBeCloseTo(c.t[0], 10);
      expect(Math.abs(t.p - c.t[1]) / c.t[1]).toBeLessThan(1e-9);
      const w = wilcoxonSignedRank(c.a, c.b)!;
      expect(w.statistic).toBe(c.w[0]);
      expect(Math.abs(w.p - c.w[1]) / c.w[1]).toBeLessThan(1e-9);
    });
  }

  it('Student t and normal tails', () => {
    expect(Math.abs(studentTwoSided(2.5, 4) - 0.06676654481198813)).toBeLessThan(1e-14);
    expect(Math.abs(normalSf(1.96) - 0.024997895148220435) / 0.025).toBeLessThan(1e-12);
    expect(Math.abs(normalSf(4.2) - 1.334574901590631e-05) / 1.3e-5).toBeLessThan(1e-10);
  });

  it('degenerate inputs: too few pairs, all-equal differences, unequal lengths', () => {
    expect(pairedTTest([1], [0])).toBeNull();
    expect(pairedTTest([1, 2, 3], [1, 2, 3])).toEqual({ statistic: 0, p: 1 });
    expect(pairedTTest([2, 3, 4], [1, 2, 3])!.p).toBe(0);
    expect(wilcoxonSignedRank([1, 2], [1, 2])).toBeNull();
    expect(() => pairedTTest([1, 2], [1])).toThrow(/different sizes/);
    // Five pairs all of one sign: the smallest p the exact test can give, above 0.05.
    expect(wilcoxonSignedRank([2, 3, 4, 5, 6], [1, 1, 1, 1, 1])!.p).toBe(0.0625);
  });
});

describe('Holm, mean, standard deviation, bootstrap', () => {
  it('Holm adjusts step-down and keeps the order (hand-computed)', () => {
    const adjusted = holm([0.01, 0.04, 0.03, 0.005]);
    [0.03, 0.06, 0.06, 0.02].forEach((want, i) => expect(adjusted[i]).toBeCloseTo(want, 12));
    expect(holm([0.5, 0.9])).toEqual([1, 1]);
    expect(holm([0.2, 0.01, 0.6])).toEqual([0.4, 0.03, 0.6]);
  });

  it('mean and sample standard deviation', () => {
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    expect(sampleStd([1, 2, 3, 4])).toBeCloseTo(Math.sqrt(5 / 3), 14);
    expect(sampleStd([7])).toBeNull();
  });

  it('the bootstrap interval holds the mean, shrinks with more data, is reproducible, and degenerates on constant data', () => {
    const xs = CASES['eight seeds (exact Wilcoxon)']!.a;
    const ci = bootstrapCI(xs, 1)!;
    expect(ci[0]).toBeLessThan(mean(xs));
    expect(ci[1]).toBeGreaterThan(mean(xs));
    expect(ci[0]).toBeGreaterThanOrEqual(Math.min(...xs));
    expect(bootstrapCI(xs, 1)).toEqual(ci);
    expect(bootstrapCI(xs, 2)).not.toEqual(ci);
    const wide = sixty((i) => Math.sin(i * 0.7));
    const [lo, hi] = bootstrapCI(wide, 3)!;
    const [lo8, hi8] = bootstrapCI(wide.slice(0, 8), 3)!;
    expect(hi - lo).toBeLessThan(hi8 - lo8);
    // Near the normal-theory interval of the mean for 60 values: mean +- 1.96 s / sqrt(n), within 10%.
    const half = (1.96 * sampleStd(wide)!) / Math.sqrt(60);
    expect(Math.abs((hi - lo) / 2 - half) / half).toBeLessThan(0.1);
    expect(bootstrapCI([3, 3, 3], 4)).toEqual([3, 3]);
    expect(bootstrapCI([3], 4)).toBeNull();
  });
});
