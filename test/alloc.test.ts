// Worked examples of the allocation rules (docs/allocation.md has the same ones, with the arithmetic).
// The 'paper' expectations were checked against the reference code's steps run in PyTorch 1.13.
import { describe, expect, it } from 'vitest';
import {
  allocateFromScores,
  allocationWeights,
  groupOfHeadFromCounts,
  paperTrackerStep,
  uniformAllocation,
  updateTrackedScore,
  type KeyNormOptions,
} from '../compiler/alloc.js';
import { allocCommand } from '../cli/commands/alloc.js';
import type { Io } from '../cli/io.js';

const paper = (heads: number, minPerGroup = 0): KeyNormOptions => ({ heads, scale: 'minmax', rounding: 'paper', minPerGroup });
const hamilton = (heads: number, minPerGroup = 0, scale: 'minmax' | 'none' = 'minmax'): KeyNormOptions => ({
  heads,
  scale,
  rounding: 'largest_remainder',
  minPerGroup,
});
const counts = (scores: number[], opts: KeyNormOptions) => allocateFromScores(scores, opts).counts;

describe('uniformAllocation', () => {
  it('gives every group heads / kvHeads contiguous query heads', () => {
    expect(uniformAllocation(8, 2)).toEqual({ counts: [4, 4], groupOfHead: [0, 0, 0, 0, 1, 1, 1, 1] });
    expect(uniformAllocation(6, 3).groupOfHead).toEqual([0, 0, 1, 1, 2, 2]);
  });

  it('covers MHA (one head per group) and MQA (one group)', () => {
    expect(uniformAllocation(4, 4).groupOfHead).toEqual([0, 1, 2, 3]);
    expect(uniformAllocation(4, 1)).toEqual({ counts: [4], groupOfHead: [0, 0, 0, 0] });
  });

  it('rejects groups that do not divide the heads, and impossible sizes', () => {
    expect(() => uniformAllocation(6, 4)).toThrow(/kvHeads \(4\) to divide heads \(6\)/);
    expect(() => uniformAllocation(2, 4)).toThrow(/4 K\/V groups need at least as many query heads/);
    expect(() => uniformAllocation(0, 1)).toThrow(/heads must be a whole number/);
    expect(() => uniformAllocation(8, 0)).toThrow(/at least one K\/V group/);
    expect(() => uniformAllocation(8.5, 1)).toThrow(/heads must be a whole number/);
  });
});

describe('groupOfHeadFromCounts', () => {
  it('cuts heads into contiguous runs in group order, skipping a starved group', () => {
    expect(groupOfHeadFromCounts([2, 0, 3])).toEqual([0, 0, 2, 2, 2]);
    expect(groupOfHeadFromCounts([0, 1])).toEqual([1]);
  });

  it('rejects negative or fractional counts', () => {
    expect(() => groupOfHeadFromCounts([2, -1])).toThrow(/counts\[1\]/);
    expect(() => groupOfHeadFromCounts([1.5])).toThrow(/counts\[0\]/);
  });
});

describe('largest_remainder rounding', () => {
  it('shares by Hamilton: floors first, left-over heads to the largest remainders', () => {
    // minmax claims 4,0,2,1 of 7; quotas 4.571, 0, 2.286, 1.143; one head left, to group 0 (.571).
    expect(counts([5, 1, 3, 2], hamilton(8))).toEqual([5, 0, 2, 1]);
  });

  it('gives every group the minimum first and shares the rest', () => {
    // 4 heads left after 1 each; quotas 2.286, 0, 1.143, 0.571; the left-over head goes to group 3 (.571).
    expect(counts([5, 1, 3, 2], hamilton(8, 1))).toEqual([3, 1, 2, 2]);
    expect(allocateFromScores([5, 1, 3, 2], hamilton(8, 1)).groupOfHead).toEqual([0, 0, 0, 1, 2, 2, 3, 3]);
  });

  it('breaks exactly tied remainders towards the lower group index', () => {
    // claims 3,1,0 of 4 over 14 heads: quotas 10.5, 3.5, 0, tied remainders; group 0 wins.
    expect(counts([4, 2, 1], hamilton(14))).toEqual([11, 3, 0]);
    expect(counts([7, 7, 7, 7], hamilton(6))).toEqual([2, 2, 1, 1]);
  });

  it('uses the scores as they are with scale none, a negative score claiming nothing', () => {
    expect(counts([1, 1, 2], hamilton(4, 0, 'none'))).toEqual([1, 1, 2]);
    expect(counts([-3, 1, 1], hamilton(4, 0, 'none'))).toEqual([0, 2, 2]);
    // The same scores min-max scaled: claims 0,1,2 of 3; quotas 0, 1.333, 2.667.
    expect(counts([-1, 0, 1], hamilton(4))).toEqual([0, 1, 3]);
  });

  it('is exact: scores one ulp apart still differ, and scaling by a power of two changes nothing', () => {
    expect(counts([1, 1 + 2 ** -52], hamilton(2))).toEqual([0, 2]);
    const scores = [0.1, 0.7, 0.2, 0.35];
    for (const opts of [hamilton(11), hamilton(11, 0, 'none'), paper(11)]) {
      expect(counts(scores.map((s) => s * 2 ** 40), opts)).toEqual(counts(scores, opts));
      expect(counts(scores.map((s) => s * 2 ** -40), opts)).toEqual(counts(scores, opts));
    }
  });
});

describe("'paper' rounding (the reference code's rule)", () => {
  it('starves the min-max-scaled smallest group at min 0', () => {
    // weights 0, .5, 1 of 1.5 over 4 heads: 0, 1.333, 2.667 -> 0, 1, 3 (sums to 4, no fix-up).
    expect(allocateFromScores([1, 2, 3], paper(4))).toEqual({ counts: [0, 1, 3], groupOfHead: [1, 2, 2, 2] });
    expect(counts([5, 1, 3, 2], paper(8))).toEqual([5, 0, 2, 1]);
  });

  it('rounds halves to even', () => {
    // weights 0, 1, 1, 2 (of 4) over 10 heads: 0, 2.5, 2.5, 5 -> 0, 2, 2, 5 (not 3, 3).
    // That sums to 9, so the fix-up adds one at the first smallest count: the starved group 0.
    expect(counts([0, 1, 1, 2], paper(10))).toEqual([1, 2, 2, 5]);
  });

  it('takes the excess from the first largest count', () => {
    // 0, 1.5, 1.5, 3 -> 0, 2, 2, 3 = 7 > 6: group 3 (the largest) gives one back.
    expect(counts([0, 1, 1, 2], paper(6))).toEqual([0, 2, 2, 2]);
    // 0, 1.5, 1.5 -> 0, 2, 2 = 4 > 3: groups 1 and 2 tie, the first (1) gives.
    expect(counts([0, 1, 1], paper(3))).toEqual([0, 1, 2]);
    expect(counts([0, 0, 1, 1, 1], paper(5))).toEqual([0, 0, 1, 2, 2]);
  });

  it('gives a shortfall to the first smallest count', () => {
    // 0, 0, 2.333 x 3 -> 0, 0, 2, 2, 2 = 6 < 7: groups 0 and 1 tie at 0, the first (0) gets it.
    expect(counts([0, 0, 1, 1, 1], paper(7))).toEqual([1, 0, 2, 2, 2]);
  });

  it('rounds the exact quotas, where float64 would miss the half', () => {
    // weights 1, 1/3, 0 over 14 heads: exactly 10.5, 3.5, 0 -> 10, 4, 0. In float64 the second
    // quota comes out as 3.4999999999999996, which would round to 3 (and the fix-up then feeds group 2).
    expect(counts([4, 2, 1], paper(14))).toEqual([10, 4, 0]);
  });

  it('then raises starved groups to the minimum from the first largest group', () => {
    expect(counts([1, 2, 3], paper(4, 1))).toEqual([1, 1, 2]);
    // [5, 0, 2, 1] -> group 1 from group 0 twice, then group 3 from group 0: all 2.
    expect(counts([5, 1, 3, 2], paper(8, 2))).toEqual([2, 2, 2, 2]);
  });
});

describe('degenerate scores', () => {
  it('shares equally when all scores are equal (where the reference divides 0 by 0)', () => {
    expect(counts([3, 3, 3], paper(6))).toEqual([2, 2, 2]);
    // Equal shares of 6 over 4: quotas 1.5 each. Paper: 2, 2, 2, 2 = 8, minus one at the first
    // largest count, twice. Hamilton: the two left-over heads to the lowest indices.
    expect(counts([3, 3, 3, 3], paper(6))).toEqual([1, 1, 2, 2]);
    expect(counts([3, 3, 3, 3], hamilton(6))).toEqual([2, 2, 1, 1]);
  });

  it('shares equally when any score is NaN or infinite', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      // Quotas 2.333 each: Hamilton gives the left-over head to group 0 (lowest index); paper rounds
      // to 2, 2, 2 and gives the shortfall to the first smallest count, also group 0.
      expect(counts([1, bad, 5], hamilton(7))).toEqual([3, 2, 2]);
      expect(counts([1, bad, 5], paper(7))).toEqual([3, 2, 2]);
      expect(counts([1, bad, 5, 5], paper(6))).toEqual([1, 1, 2, 2]);
    }
  });

  it('shares equally when the scores claim nothing under scale none', () => {
    expect(counts([0, 0, 0], hamilton(3, 0, 'none'))).toEqual([1, 1, 1]);
    expect(counts([-1, -2], hamilton(3, 0, 'none'))).toEqual([2, 1]);
  });

  it('handles the extremes of float64 exactly', () => {
    expect(counts([5e-324, 0], hamilton(2, 0, 'none'))).toEqual([2, 0]);
    expect(counts([1.7e308, 1.7e308, 0], hamilton(4, 0, 'none'))).toEqual([2, 2, 0]);
    expect(counts([-1.7e308, 1.7e308, 0], hamilton(4))).toEqual([0, 3, 1]);
  });
});

describe('allocateFromScores validation', () => {
  it('rejects impossible inputs with a clear message', () => {
    expect(() => allocateFromScores([], hamilton(4))).toThrow(/at least one K\/V group/);
    expect(() => allocateFromScores([1, 2, 3], hamilton(2))).toThrow(/3 K\/V groups need at least as many query heads, but there are 2/);
    expect(() => allocateFromScores([1, 2], hamilton(5, 3))).toThrow(/minPerGroup 3 x 2 groups needs 6 query heads, but there are 5/);
    expect(() => allocateFromScores([1, 2], hamilton(5, -1))).toThrow(/minPerGroup must be a whole number/);
    expect(() => allocateFromScores([1, 2], hamilton(4.5))).toThrow(/heads must be a whole number/);
    expect(() => allocateFromScores([1, 2], { ...hamilton(4), rounding: 'banker' as never })).toThrow(/unknown rounding 'banker'/);
    expect(() => allocateFromScores([1, 2], { ...hamilton(4), scale: 'zscore' as never })).toThrow(/unknown scale 'zscore'/);
  });
});

describe("updateTrackedScore (rule 'attnc')", () => {
  it('ema: the cache decays towards the norm', () => {
    const r = updateTrackedScore({ kind: 'ema', decay: 0.9, rule: 'attnc' }, [1, 2], [3, 4]);
    expect(r.cache[0]).toBeCloseTo(1.2, 12);
    expect(r.cache[1]).toBeCloseTo(2.2, 12);
    expect(r.score).toEqual(r.cache);
  });

  it('diff: the score is how far the norm moved, and the cache becomes the norm', () => {
    expect(updateTrackedScore({ kind: 'diff', rule: 'attnc' }, [1, 5], [3, 4])).toEqual({ cache: [3, 4], score: [2, 1] });
    // From the zero cache, the first diff score is the norm itself.
    expect(updateTrackedScore({ kind: 'diff', rule: 'attnc' }, [0, 0], [3, 4]).score).toEqual([3, 4]);
  });

  it('does not change its inputs, and the returned arrays are independent', () => {
    const cache = [1, 2];
    const norms = [3, 4];
    const r = updateTrackedScore({ kind: 'ema', decay: 0.5, rule: 'attnc' }, cache, norms);
    r.score[0] = 99;
    expect(cache).toEqual([1, 2]);
    expect(norms).toEqual([3, 4]);
    expect(r.cache[0]).toBe(2);
  });

  it("rejects mismatched lengths, decays outside [0, 1], and rule 'paper' (paperTrackerStep's)", () => {
    expect(() => updateTrackedScore({ kind: 'diff', rule: 'attnc' }, [1], [1, 2])).toThrow(/cache has 1 groups but 2 norms/);
    expect(() => updateTrackedScore({ kind: 'ema', decay: 1.5, rule: 'attnc' }, [1], [1])).toThrow(/decay must be in \[0, 1\]/);
    expect(() => updateTrackedScore({ kind: 'ema', decay: NaN, rule: 'attnc' }, [1], [1])).toThrow(/decay/);
    expect(() => updateTrackedScore({ kind: 'ema', decay: 0.9, rule: 'paper' }, [1], [1])).toThrow(/paperTrackerStep/);
  });
});

describe("paperTrackerStep (rule 'paper': the reference's dgqa.py)", () => {
  const ema = { kind: 'ema', decay: 0.9, rule: 'paper' } as const;
  const diff = { kind: 'diff', rule: 'paper' } as const;
  const train = (epochStep: number, window: number) => ({ training: true as const, epochStep, window });

  it('ema at a due step: the score weighs the norm by decay; the cache becomes (cache + norm) / window', () => {
    const r = paperTrackerStep(ema, [1, 2], [3, 4], train(6, 3));
    expect(r.score![0]).toBeCloseTo(0.9 * 3 + 0.1 * 1, 12); // 2.8
    expect(r.score![1]).toBeCloseTo(0.9 * 4 + 0.1 * 2, 12); // 3.8
    expect(r.cache).toEqual([4 / 3, 2]);
  });

  it('diff at a due step, window 1: the cache is the running sum of the norms', () => {
    const first = paperTrackerStep(diff, [0, 0], [3, 4], train(0, 1));
    expect(first).toEqual({ score: [3, 4], cache: [3, 4] });
    const second = paperTrackerStep(diff, first.cache, [1, 5], train(1, 1));
    expect(second).toEqual({ score: [2, 1], cache: [4, 9] });
  });

  it('between window boundaries (of the epoch) nothing changes', () => {
    for (const epochStep of [1, 2, 4, 5]) {
      expect(paperTrackerStep(ema, [1, 2], [3, 4], train(epochStep, 3))).toEqual({ score: null, cache: [1, 2] });
    }
    expect(paperTrackerStep(ema, [1, 2], [3, 4], train(0, 3)).score).not.toBeNull();
  });

  it('evaluation is always due, and the cache becomes the norms', () => {
    const r = paperTrackerStep(diff, [1, 5], [3, 4], { training: false });
    expect(r).toEqual({ score: [2, 1], cache: [3, 4] });
    const e = paperTrackerStep(ema, [1, 2], [3, 4], { training: false });
    expect(e.score![0]).toBeCloseTo(2.8, 12);
    expect(e.cache).toEqual([3, 4]);
  });

  it('does not change its inputs', () => {
    const cache = [1, 2];
    const norms = [3, 4];
    const r = paperTrackerStep(diff, cache, norms, { training: false });
    r.cache[0] = 99;
    expect(cache).toEqual([1, 2]);
    expect(norms).toEqual([3, 4]);
  });

  it("rejects rule 'attnc', bad windows and steps, mismatched lengths", () => {
    expect(() => paperTrackerStep({ kind: 'diff', rule: 'attnc' }, [1], [1], { training: false })).toThrow(/updateTrackedScore/);
    expect(() => paperTrackerStep(diff, [1], [1], train(0, 0))).toThrow(/window must be a whole number >= 1, got 0/);
    expect(() => paperTrackerStep(diff, [1], [1], train(-1, 2))).toThrow(/epochStep must be a whole number >= 0, got -1/);
    expect(() => paperTrackerStep(diff, [1], [1], train(1.5, 2))).toThrow(/epochStep/);
    expect(() => paperTrackerStep(diff, [1], [1, 2], { training: false })).toThrow(/cache has 1 groups but 2 norms/);
    expect(() => paperTrackerStep({ ...ema, decay: -0.1 }, [1], [1], { training: false })).toThrow(/decay/);
  });
});

function fakeIo() {
  const io = { stdout: '', stderr: '', cwd: '/', out(t: string) { io.stdout += t; }, err(t: string) { io.stderr += t; } };
  return io satisfies Io;
}

async function run(line: string) {
  const io = fakeIo();
  const code = await allocCommand(line.split(' ').filter(Boolean), io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe('attnc alloc', () => {
  it('prints one line of JSON for uniform grouping', async () => {
    const r = await run('--policy uniform --heads 8 --kv-heads 2');
    expect(r).toEqual({ code: 0, stdout: '{"counts":[4,4],"groupOfHead":[0,0,0,0,1,1,1,1]}\n', stderr: '' });
  });

  it('defaults key_norm to minmax, largest remainder and at least one head per group', async () => {
    const r = await run('--policy key_norm --heads 8 --norms 5,1,3,2');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ counts: [3, 1, 2, 2], groupOfHead: [0, 0, 0, 1, 2, 2, 3, 3] });
  });

  it('--compat paper reproduces the reference, and explicit flags override it', async () => {
    expect(JSON.parse((await run('--policy key_norm --heads 10 --norms 0,1,1,2 --compat paper')).stdout).counts).toEqual([1, 2, 2, 5]);
    expect(JSON.parse((await run('--policy key_norm --heads 4 --norms 1,2,3 --compat paper')).stdout).counts).toEqual([0, 1, 3]);
    expect(JSON.parse((await run('--policy key_norm --heads 4 --norms 1,2,3 --compat paper --min 1')).stdout).counts).toEqual([1, 1, 2]);
    const noScale = await run('--policy key_norm --heads 4 --norms 1,1,2 --compat paper --scale none');
    expect(JSON.parse(noScale.stdout).counts).toEqual([1, 1, 2]);
  });

  it('accepts --kv-heads with --norms when they agree', async () => {
    const r = await run('--policy key_norm --heads 6 --kv-heads 3 --norms 1,2,3 --rounding largest_remainder --min 0 --scale none');
    expect(JSON.parse(r.stdout).counts).toEqual([1, 2, 3]);
  });

  it('--help prints the usage and exits 0', async () => {
    const r = await run('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: attnc alloc --policy uniform\|key_norm/);
    expect(r.stdout).toContain('--compat paper');
    expect(r.stderr).toBe('');
  });

  const mistakes: [string, RegExp][] = [
    ['--heads 8 --kv-heads 2', /--policy is required: uniform or key_norm/],
    ['--policy kdgqa --heads 8 --kv-heads 2', /--policy must be one of uniform, key_norm; got 'kdgqa'/],
    ['--policy uniform --kv-heads 2', /--heads is required/],
    ['--policy uniform --heads eight --kv-heads 2', /--heads must be a whole number from 1 to \d+; got 'eight'/],
    ['--policy uniform --heads 0 --kv-heads 1', /--heads must be a whole number from 1/],
    ['--policy uniform --heads 8', /--policy uniform needs --kv-heads G/],
    ['--policy uniform --heads 6 --kv-heads 4', /--kv-heads 4 must divide --heads 6 for uniform grouping; choose one of 1, 2, 3, 6, or use --policy key_norm/],
    ['--policy uniform --heads 2 --kv-heads 4', /--kv-heads gives 4 K\/V groups, more than the 2 query heads/],
    ['--policy uniform --heads 8 --kv-heads 2 --norms 1,2', /--norms applies only to --policy key_norm/],
    ['--policy uniform --heads 8 --kv-heads 2 --compat paper', /--compat applies only to --policy key_norm/],
    ['--policy key_norm --heads 8', /--norms is required: one score per K\/V group/],
    ['--policy key_norm --heads 8 --norms 1,x,3', /--norms: item 2 \('x'\) is not a finite number/],
    ['--policy key_norm --heads 8 --norms 1,,3', /--norms: item 2 \(''\) is not a finite number/],
    ['--policy key_norm --heads 8 --norms 1,Infinity', /--norms: item 2 \('Infinity'\)/],
    ['--policy key_norm --heads 8 --kv-heads 3 --norms 1,2', /--kv-heads 3 does not match the 2 numbers in --norms/],
    ['--policy key_norm --heads 2 --norms 1,2,3', /--norms gives 3 K\/V groups, more than the 2 query heads/],
    ['--policy key_norm --heads 5 --norms 1,2 --min 3', /--min 3 x 2 groups needs 6 query heads, but --heads is 5; lower --min to at most 2/],
    ['--policy key_norm --heads 5 --norms 1,2 --min -1', /--min/],
    ['--policy key_norm --heads 5 --norms 1,2 --rounding nearest', /--rounding must be one of largest_remainder, paper; got 'nearest'/],
    ['--policy key_norm --heads 5 --norms 1,2 --scale log', /--scale must be one of minmax, none/],
    ['--policy key_norm --heads 5 --norms 1,2 --compat timm', /--compat must be one of none, paper/],
    ['--policy uniform --heads 8 --kv-heads 2 --bogus 1', /--bogus[\s\S]*attnc alloc --help/],
    ['--policy uniform --heads 8 --kv-heads 2 extra', /extra[\s\S]*attnc alloc --help/],
  ];
  it.each(mistakes)('`attnc alloc %s` exits 1 with a message naming the flag', async (line, message) => {
    const r = await run(line);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^attnc alloc: /);
    expect(r.stderr).toMatch(message);
  });
});

describe('allocationWeights', () => {
  it('gives the claims as float64 weights relative to the largest, with their sum', () => {
    expect(allocationWeights([5, 1, 3, 2], 'minmax')).toEqual({ weights: [1, 0, 0.5, 0.25], total: 1.75 });
    expect(allocationWeights([-3, 1, 2], 'none')).toEqual({ weights: [0, 0.5, 1], total: 1.5 });
    expect(allocationWeights([1, NaN], 'none')).toEqual({ weights: [1, 1], total: 2 });
    const tiny = allocationWeights([5e-324, 1.7e308], 'none');
    expect(tiny.weights[1]).toBe(1);
    expect(tiny.weights[0]).toBe(0); // far below float64's range once divided by the largest
  });
});
