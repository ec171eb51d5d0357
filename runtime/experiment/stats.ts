// Statistics that can tell a real gain from noise (docs/experiments.md, "Statistics"): per
// configuration the mean, the sample standard deviation and a bootstrap 95% confidence interval over
// seeds; against a baseline, paired by seed, the mean difference with its bootstrap interval, a paired
// t-test and a Wilcoxon signed-rank test, Holm-corrected across the comparisons of a report. The tests
// follow SciPy 1.10's conventions (scipy.stats.ttest_rel, scipy.stats.wilcoxon with its defaults) and
// test/experiment/stats.test.ts pins their values for fixed inputs. The bootstrap draws from the
// counter-based generator, so a report is the same every time it is built.
import { Purpose, seed32, streamId, uniformFloats } from '../../core/random.js';

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** The sample standard deviation (n - 1); null below two values. */
export function sampleStd(xs: readonly number[]): number | null {
  if (xs.length < 2) return null;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** Resamples of the bootstrap: enough that the interval's ends move by well under a tenth of a point between seeds. */
export const BOOTSTRAP_RESAMPLES = 10_000;

/**
 * The percentile bootstrap interval of the mean at `level` (default 95%): the mean of `resamples`
 * samples drawn with replacement, and the (1 - level)/2 and (1 + level)/2 quantiles of those means.
 * `key` separates the random streams of the intervals of one report. Null below two values.
 */
export function bootstrapCI(xs: readonly number[], key: number, level = 0.95, resamples = BOOTSTRAP_RESAMPLES): [number, number] | null {
  const n = xs.length;
  if (n < 2) return null;
  const u = uniformFloats(seed32(0), streamId(Purpose.bootstrap, key >>> 0, n), resamples * n);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += xs[Math.min(n - 1, Math.floor(u[r * n + i]! * n))]!;
    means[r] = s / n;
  }
  means.sort();
  const at = (q: number) => means[Math.min(resamples - 1, Math.max(0, Math.round(q * (resamples - 1))))]!;
  return [at((1 - level) / 2), at((1 + level) / 2)];
}

/** ln Gamma(x) for x > 0 (Lanczos, g = 671/128 with 14 terms, as Numerical Recipes' gammln: about 1e-15). */
function lnGamma(x: number): number {
  const c = [
    57.1562356658629235, -59.5979603554754912, 14.1360979747417471, -0.491913816097620199, 0.339946499848118887e-4,
    0.465236289270485756e-4, -0.983744753048795646e-4, 0.158088703224912494e-3, -0.210264441724104883e-3,
    0.217439618115212643e-3, -0.16431810653676389e-3, 0.844182239838527433e-4, -0.261908384015814087e-4, 0.368991826595316234e-5,
  ];
  let y = x;
  const tmp = x + 5.2421875;
  let ser = 0.999999999999997092;
  for (const k of c) ser += k / ++y;
  return (x + 0.5) * Math.log(tmp) - tmp + Math.log((2.5066282746310005 * ser) / x);
}

/** The regularised incomplete beta function I_x(a, b) (continued fraction, modified Lentz). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  if (x > (a + 1) / (a + b + 2)) return 1 - incompleteBeta(1 - x, b, a);
  const front = Math.exp(a * Math.log(x) + b * Math.log(1 - x) - (lnGamma(a) + lnGamma(b) - lnGamma(a + b))) / a;
  const tiny = 1e-300;
  let f = 1;
  let c = 1;
  let d = 0;
  for (let i = 0; i <= 400; i++) {
    const m = Math.floor(i / 2);
    let num: number;
    if (i === 0) num = 1;
    else if (i % 2 === 0) num = (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m));
    else num = -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 + num * d;
    d = Math.abs(d) < tiny ? tiny : d;
    d = 1 / d;
    c = 1 + num / c;
    c = Math.abs(c) < tiny ? tiny : c;
    const cd = c * d;
    f *= cd;
    if (Math.abs(1 - cd) < 1e-15) return front * (f - 1);
  }
  return front * (f - 1);
}

/** Two-sided p-value of Student's t with `df` degrees of freedom. */
export function studentTwoSided(t: number, df: number): number {
  if (!Number.isFinite(t)) return 0;
  return incompleteBeta(df / (df + t * t), df / 2, 0.5);
}

/** The standard normal upper tail P(Z > z), from erfc (a series below 0.5, a continued fraction above). */
export function normalSf(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 0.5) return 1 - erfSeries(x);
  // Continued fraction of erfc for x >= 0.5 (Lentz), converges fast there.
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let i = 1; i < 500; i++) {
    const a = i / 2;
    d = x + a * d;
    d = Math.abs(d) < tiny ? tiny : d;
    d = 1 / d;
    c = x + a / c;
    c = Math.abs(c) < tiny ? tiny : c;
    const cd = c * d;
    f *= cd;
    if (Math.abs(1 - cd) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

function erfSeries(x: number): number {
  let sum = x;
  let term = x;
  for (let n = 1; n < 100; n++) {
    term *= (-x * x) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

export interface TestResult {
  statistic: number;
  p: number;
}

/**
 * scipy.stats.ttest_rel(a, b): t = mean(d) / (std(d) / sqrt(n)), d = a - b, two-sided. Null below two
 * pairs. Differences that are all equal give t = +-inf (p = 0) or, all zero, p = 1 (SciPy: nan).
 */
export function pairedTTest(a: readonly number[], b: readonly number[]): TestResult | null {
  const d = differences(a, b);
  if (d.length < 2) return null;
  const sd = sampleStd(d)!;
  const m = mean(d);
  if (sd === 0) return m === 0 ? { statistic: 0, p: 1 } : { statistic: Math.sign(m) * Infinity, p: 0 };
  const t = m / (sd / Math.sqrt(d.length));
  return { statistic: t, p: studentTwoSided(t, d.length - 1) };
}

/**
 * scipy.stats.wilcoxon(a, b) with its defaults (zero_method 'wilcox': zero differences dropped;
 * two-sided; method 'auto'): the statistic is min(R+, R-) of the ranked |differences| (ties get
 * their mean rank); the exact null distribution when there are at most 50 pairs and no zero
 * difference (ties do not switch it off, as in SciPy 1.10: the tail is summed up to the statistic),
 * else the normal approximation with the tie correction and no continuity correction.
 * Null when no nonzero difference remains. With n pairs the exact test cannot go below 2 / 2^n:
 * 0.0625 for 5 seeds, so it cannot reach 0.05 with fewer than 6.
 */
export function wilcoxonSignedRank(a: readonly number[], b: readonly number[]): (TestResult & { exact: boolean }) | null {
  const all = differences(a, b);
  const d = all.filter((x) => x !== 0);
  const n = d.length;
  if (n === 0) return null;
  const order = d.map((x, i) => ({ v: Math.abs(x), i })).sort((x, y) => x.v - y.v);
  const ranks = new Array<number>(n);
  const tieSizes: number[] = [];
  for (let s = 0; s < n; ) {
    let e = s;
    while (e + 1 < n && order[e + 1]!.v === order[s]!.v) e++;
    for (let k = s; k <= e; k++) ranks[order[k]!.i] = (s + e) / 2 + 1;
    tieSizes.push(e - s + 1);
    s = e + 1;
  }
  const rPlus = d.reduce((acc, x, i) => acc + (x > 0 ? ranks[i]! : 0), 0);
  const rMinus = (n * (n + 1)) / 2 - rPlus;
  const statistic = Math.min(rPlus, rMinus);
  if (all.length <= 50 && all.length === n) {
    // counts[w] = number of sign assignments with R+ = w, over ranks 1..n.
    const max = (n * (n + 1)) / 2;
    let counts = new Float64Array(max + 1);
    counts[0] = 1;
    for (let r = 1; r <= n; r++) {
      const next = Float64Array.from(counts);
      for (let w = r; w <= max; w++) next[w]! += counts[w - r]!;
      counts = next;
    }
    let tail = 0;
    for (let w = 0; w <= Math.floor(statistic); w++) tail += counts[w]!;
    return { statistic, p: Math.min(1, (2 * tail) / 2 ** n), exact: true };
  }
  const mn = (n * (n + 1)) / 4;
  const variance = (n * (n + 1) * (2 * n + 1)) / 24 - tieSizes.reduce((acc, t) => acc + (t ** 3 - t), 0) / 48;
  const z = (statistic - mn) / Math.sqrt(variance);
  return { statistic, p: Math.min(1, 2 * normalSf(Math.abs(z))), exact: false };
}

/** Holm's step-down adjustment of p-values (family-wise error): adjusted values, in the input order. */
export function holm(ps: readonly number[]): number[] {
  const m = ps.length;
  const order = ps.map((p, i) => ({ p, i })).sort((x, y) => x.p - y.p);
  const out = new Array<number>(m);
  let running = 0;
  order.forEach(({ p, i }, k) => {
    running = Math.max(running, Math.min(1, (m - k) * p));
    out[i] = running;
  });
  return out;
}

function differences(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length) throw new Error(`paired samples of different sizes: ${a.length} and ${b.length}`);
  return a.map((x, i) => x - b[i]!);
}
