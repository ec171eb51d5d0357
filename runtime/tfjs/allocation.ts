// KDGQA/DGQA allocation in tensors: compiler/alloc.ts `allocateFromScores`, step by step, so that the
// counts never travel to the host (a sync per layer per step would stall the backend's queue).
//
// Every row of a [N, G] score tensor is allocated on its own (N = 1: one allocation per batch; N = B:
// one per sample). The rules are alloc.ts's: claims s - min ('minmax') or max(s, 0) ('none'), equal
// claims for degenerate rows, Hamilton or the reference's rounding, the minimum per group. alloc.ts
// decides in exact rational arithmetic; here the quotas are whole parts and remainders in float32,
// computed so that they are exact whenever every intermediate fits float32's 24-bit integers (ties
// included), and otherwise off by at most a few float32 ulps: docs/attention.md, "Exactness", says
// precisely when the two can differ. Loops of alloc.ts are unrolled to their proven bounds.
import type { Tensor, Tensor2D } from '@tensorflow/tfjs';
import type { TrackIR } from '../../compiler/ir/types.js';
import type { Tf } from './backend.js';

export interface TensorAllocationOptions {
  heads: number;
  scale: 'minmax' | 'none';
  rounding: 'largest_remainder' | 'paper';
  minPerGroup: number;
}

/** The one-hot [H, G] of a fixed allocation, built on the host (uniform GQA, an equal share). */
export function oneHotFromCountsHost(tf: Tf, counts: readonly number[]): Tensor2D {
  const heads = counts.reduce((a, b) => a + b, 0);
  const groups = counts.length;
  const data = new Float32Array(heads * groups);
  let h = 0;
  counts.forEach((c, g) => {
    for (let i = 0; i < c; i++, h++) data[h * groups + g] = 1;
  });
  return tf.tensor2d(data, [heads, groups]);
}

/**
 * Counts from scores: [G] -> [G], or [N, G] -> [N, G]; float32 holding whole numbers. Row by row the
 * counts of allocateFromScores(row, opts) (see the file comment for the float32 caveat).
 */
export function allocateCounts(tf: Tf, scores: Tensor, opts: TensorAllocationOptions): Tensor {
  if (scores.rank !== 1 && scores.rank !== 2) throw new Error(`allocation: scores must be [G] or [N, G], got [${scores.shape}]`);
  const groups = scores.shape[scores.rank - 1]!;
  checkOptions(opts, groups);
  return tf.tidy(() => {
    const rows = (scores.rank === 1 ? scores.reshape([1, groups]) : scores).toFloat() as Tensor2D;
    const { claims, total } = exactClaims(tf, rows, opts.scale);
    let counts: Tensor2D;
    if (opts.rounding === 'largest_remainder') {
      const share = opts.heads - opts.minPerGroup * groups;
      counts = largestRemainder(tf, claims, total, share).add(opts.minPerGroup);
    } else {
      counts = raiseToMinimum(tf, paperRounding(tf, claims, total, opts.heads), opts.minPerGroup);
    }
    return scores.rank === 1 ? counts.reshape([groups]) : counts;
  });
}

/**
 * The head-to-group one-hot of counts: [G] -> [H, G], [N, G] -> [N, H, G]. Head h belongs to the
 * group g with start_g <= h < start_g + counts_g (contiguous runs in group order, as alloc.ts'
 * groupOfHeadFromCounts). A group with count 0 owns no head: its column is all zeros.
 */
export function groupOfHeadOneHot(tf: Tf, counts: Tensor, heads: number): Tensor {
  const groups = counts.shape[counts.rank - 1]!;
  return tf.tidy(() => {
    const rows = (counts.rank === 1 ? counts.reshape([1, groups]) : counts) as Tensor2D;
    // Inclusive cumsum as a plain 2-D matmul with an upper-triangular ones matrix: exact for whole
    // numbers in float32, and a 2-D matmul has none of the batched-matmul broadcast bugs.
    const upper = new Float32Array(groups * groups);
    for (let i = 0; i < groups; i++) for (let j = i; j < groups; j++) upper[i * groups + j] = 1;
    const end = tf.matMul(rows, tf.tensor2d(upper, [groups, groups])); // [N, G]
    const start = end.sub(rows);
    const head = tf.range(0, heads, 1, 'float32').reshape([1, heads, 1]);
    const inGroup = tf.logicalAnd(head.greaterEqual(start.expandDims(1)), head.less(end.expandDims(1)));
    const oneHot = inGroup.toFloat(); // [N, H, G]
    return counts.rank === 1 ? oneHot.reshape([heads, groups]) : oneHot;
  });
}

function checkOptions(opts: TensorAllocationOptions, groups: number): void {
  if (!Number.isInteger(opts.heads) || opts.heads < groups) throw new Error(`allocation: ${groups} groups need at least as many query heads, got ${opts.heads}`);
  if (!Number.isInteger(opts.minPerGroup) || opts.minPerGroup < 0 || opts.minPerGroup * groups > opts.heads) {
    throw new Error(`allocation: minPerGroup ${opts.minPerGroup} x ${groups} groups does not fit ${opts.heads} query heads`);
  }
}

/**
 * alloc.ts exactClaims: claim_g = s_g - min ('minmax') or max(s_g, 0) ('none'), and their row sum;
 * equal claims (1 each, total G) for a row with a non-finite score or claims summing to 0.
 * Powers of two change no ratio and, away from the subnormal range, lose no bit, so rows are scaled
 * by them to keep float32 from overflowing: scores by 1/4 when some |s| > 2^126 (s - min could
 * overflow), claims by 2^-30 when the largest is above 2^100 (share * total could), and by 2^100
 * when it is below 2^-100 (exact, and keeps products out of the subnormal range). What can underflow
 * there is a claim below 2^-196 of the largest, which docs/attention.md lists as an exception.
 */
function exactClaims(tf: Tf, s: Tensor2D, scale: 'minmax' | 'none'): { claims: Tensor2D; total: Tensor2D } {
  const groups = s.shape[1];
  const finite = s.sub(s).equal(0); // x - x is NaN exactly for NaN and +-Infinity
  const rowFinite = finite.all(1, true);
  let safe = tf.where(finite, s, tf.zerosLike(s));
  safe = tf.where(safe.abs().max(1, true).greater(2 ** 126), safe.mul(0.25), safe) as Tensor2D;
  let claims: Tensor = scale === 'minmax' ? safe.sub(safe.min(1, true)) : tf.maximum(safe, 0);
  const largest = claims.max(1, true);
  claims = tf.where(largest.greater(2 ** 100), claims.mul(2 ** -30), claims);
  claims = tf.where(tf.logicalAnd(largest.less(2 ** -100), largest.greater(0)), claims.mul(2 ** 100), claims);
  // When every nonzero claim is the same (equal scores; two levels under min-max), claims of 1 have
  // the same ratios and make every later step exact: such rows tie exactly, and must break ties as
  // alloc.ts does, where the rounding of share * claim would decide them by accident.
  const nonzero = claims.greater(0);
  const flat = tf.logicalOr(nonzero.logicalNot(), claims.equal(claims.max(1, true))).all(1, true);
  claims = tf.where(flat, nonzero.toFloat(), claims);
  const total = claims.sum(1, true);
  const ok = tf.logicalAnd(rowFinite, total.greater(0));
  return {
    claims: tf.where(ok, claims, tf.onesLike(claims)) as Tensor2D,
    total: tf.where(ok, total, tf.fill(total.shape, groups)) as Tensor2D,
  };
}

/**
 * Whole part k and remainder r of (share * claim) / total, with 0 <= r < total: k from the float
 * quotient, then one correction step each way, so r is x - k * total exactly when the products fit.
 * Remainders share the denominator `total`, so comparing r compares the fractional parts.
 */
function wholeAndRemainder(tf: Tf, claims: Tensor2D, total: Tensor2D, share: number): { whole: Tensor2D; rem: Tensor2D } {
  const x = claims.mul(share);
  let whole = x.div(total).floor();
  let rem = x.sub(whole.mul(total));
  const under = rem.less(0).toFloat();
  whole = whole.sub(under);
  rem = rem.add(under.mul(total));
  const over = rem.greaterEqual(total).toFloat();
  whole = whole.add(over);
  rem = rem.sub(over.mul(total));
  return { whole: whole as Tensor2D, rem: rem as Tensor2D };
}

/**
 * Hamilton: floors k_g, then the share - sum(k) heads left over (fewer than G) go one each to the
 * largest remainders, ties to the lower index. The order is a rank from a [N, G, G] pairwise
 * comparison (G is small): rank_g = #groups j with r_j > r_g, or r_j = r_g and j < g.
 */
function largestRemainder(tf: Tf, claims: Tensor2D, total: Tensor2D, share: number): Tensor2D {
  const groups = claims.shape[1];
  const { whole, rem } = wholeAndRemainder(tf, claims, total, share);
  const left = tf.scalar(share).sub(whole.sum(1, true)); // [N, 1]
  const rj = rem.expandDims(2);
  const rg = rem.expandDims(1);
  const index = tf.range(0, groups, 1, 'float32');
  const jBeforeG = index.reshape([groups, 1]).less(index.reshape([1, groups])).expandDims(0);
  const before = tf.logicalOr(rj.greater(rg), tf.logicalAnd(rj.equal(rg), jBeforeG));
  const rank = before.toFloat().sum(1); // [N, G]
  return whole.add(rank.less(left).toFloat()) as Tensor2D;
}

/** The first index of the row's max (or min), as a one-hot row (torch.argmax/argmin on ties). */
function firstExtremeOneHot(tf: Tf, counts: Tensor2D, which: 'max' | 'min'): Tensor2D {
  const groups = counts.shape[1];
  const extreme = which === 'max' ? counts.max(1, true) : counts.min(1, true);
  const index = tf.range(0, groups, 1, 'float32').reshape([1, groups]);
  const candidate = tf.where(counts.equal(extreme), index.tile([counts.shape[0], 1]), tf.fill(counts.shape, groups));
  return index.equal(candidate.min(1, true)).toFloat() as Tensor2D;
}

/**
 * The reference's rounding: round(H * claim / total) half to even (up when 2r > total, or 2r = total
 * and the whole part is odd), then -1 at the first argmax while the sum exceeds H, +1 at the first
 * argmin while it falls short. Every rounded quota is within 1/2 of its quota and the quotas sum to
 * H, so |sum - H| <= G/2: G unrolled steps always suffice (a step with nothing to fix is a no-op).
 */
function paperRounding(tf: Tf, claims: Tensor2D, total: Tensor2D, heads: number): Tensor2D {
  const { whole, rem } = wholeAndRemainder(tf, claims, total, heads);
  const twice = rem.mul(2);
  const odd = whole.mod(2).equal(1);
  const up = tf.logicalOr(twice.greater(total), tf.logicalAnd(twice.equal(total), odd));
  let counts = whole.add(up.toFloat()) as Tensor2D;
  for (let i = 0; i < claims.shape[1]; i++) {
    const excess = counts.sum(1, true).sub(heads); // [N, 1]
    const down = excess.greater(0).toFloat().mul(firstExtremeOneHot(tf, counts, 'max'));
    const raise = excess.less(0).toFloat().mul(firstExtremeOneHot(tf, counts, 'min'));
    counts = counts.sub(down).add(raise) as Tensor2D;
  }
  return counts;
}

/**
 * alloc.ts raiseToMinimum: while the first smallest group is below `min`, move one head to it from
 * the first largest. Each move removes one unit of the total shortfall (at most G * min) and the
 * donor never drops below min, so G * min unrolled steps suffice.
 */
function raiseToMinimum(tf: Tf, counts: Tensor2D, min: number): Tensor2D {
  const steps = counts.shape[1] * min;
  for (let i = 0; i < steps; i++) {
    const short = counts.min(1, true).less(min).toFloat();
    const move = firstExtremeOneHot(tf, counts, 'min').sub(firstExtremeOneHot(tf, counts, 'max'));
    counts = counts.add(short.mul(move)) as Tensor2D;
  }
  return counts;
}

/**
 * One DGQA tracker step of rule 'attnc' in tensors, as alloc.ts updateTrackedScore (float32 here):
 *   ema:  cache' = decay * cache + (1 - decay) * norm; score = cache'
 *   diff: score = |cache - norm|;                      cache' = norm
 */
export function trackerStep(tf: Tf, track: TrackIR, cache: Tensor, norms: Tensor): { cache: Tensor; score: Tensor } {
  if (track.rule !== 'attnc') throw new Error(`allocation: trackerStep is the 'attnc' tracker rule; rule '${String(track.rule)}' is paperTrackerUpdate`);
  return tf.tidy(() => {
    if (track.kind === 'diff') return { cache: norms.clone(), score: cache.sub(norms).abs() };
    const next = cache.mul(track.decay).add(norms.mul(1 - track.decay));
    return { cache: next, score: next.clone() };
  });
}

/**
 * A due step of rule 'paper' in tensors, as alloc.ts paperTrackerStep once it has decided the step
 * is due (the caller decides: it knows the step on the host). In float32, in the reference's order
 * of operations (dgqa.py get_ratios_ema / get_ratios_diff, update_splits_cache_*), so the cache is
 * the reference's to the last bit given the same norms:
 *   score: ema  decay * norm + (1 - decay) * cache;  diff |cache - norm|
 *   cache' training: (cache + norm) / window;  evaluation: norm
 */
export function paperTrackerUpdate(
  tf: Tf,
  track: TrackIR,
  cache: Tensor,
  norms: Tensor,
  phase: { training: true; window: number } | { training: false },
): { cache: Tensor; score: Tensor } {
  if (track.rule !== 'paper') throw new Error(`allocation: paperTrackerUpdate is the 'paper' tracker rule; rule '${String(track.rule)}' is trackerStep`);
  if (phase.training && !(Number.isInteger(phase.window) && phase.window >= 1)) {
    throw new Error(`allocation: window must be a whole number >= 1, got ${phase.window}`);
  }
  return tf.tidy(() => {
    const score = track.kind === 'diff' ? cache.sub(norms).abs() : norms.mul(track.decay).add(cache.mul(1 - track.decay));
    const next = phase.training ? cache.add(norms).div(phase.window) : norms.clone();
    return { cache: next, score };
  });
}
