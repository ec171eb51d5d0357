// The one allocation function of attnc: how many query heads each K/V group gets, and which ones.
// Every backend (TensorFlow.js, WebGPU, the emitted PyTorch) must give exactly these counts for the
// same scores. So the shares are computed in exact rational arithmetic (BigInt) from the float64
// scores: the result depends on the real values only, never on the order or precision of float
// operations, and a port needs only exact integers or fractions (Python: fractions.Fraction).
// docs/allocation.md is the specification, with worked examples; keep the two in step.
import type { TrackIR } from './ir/types.js';

/**
 * Counts of the equal share: floor(H / G) each, one more for the first H mod G groups. This is what
 * allocateFromScores gives for equal scores, and the uniform grouping when G divides H.
 */
export function equalShareCounts(heads: number, groups: number): number[] {
  const base = Math.floor(heads / groups);
  return Array.from({ length: groups }, (_, g) => base + (g < heads % groups ? 1 : 0));
}

/** counts[g]: query heads of K/V group g. groupOfHead[h]: the group of query head h. */
export interface AllocationResult {
  counts: number[];
  groupOfHead: number[];
}

export interface KeyNormOptions {
  heads: number;
  /** 'minmax': weights s' = (s - min) / (max - min); 'none': s' = s, a negative score counted as 0. */
  scale: 'minmax' | 'none';
  /** 'largest_remainder' (Hamilton) or 'paper' (round half to even, then the reference's fix-up). */
  rounding: 'largest_remainder' | 'paper';
  /** Every group gets at least this many query heads; 0 lets a group starve, as the reference can. */
  minPerGroup: number;
}

// groupOfHead has one entry per query head; a count beyond any real model is a typo, not a model.
export const MAX_HEADS = 1 << 20;

/** Query heads are cut into contiguous runs: group 0 takes heads 0..counts[0]-1, group 1 the next counts[1], ... */
export function groupOfHeadFromCounts(counts: readonly number[]): number[] {
  const groupOfHead: number[] = [];
  counts.forEach((count, g) => {
    if (!Number.isInteger(count) || count < 0) {
      throw new Error(`allocation: counts[${g}] must be a whole number >= 0, got ${count}`);
    }
    for (let i = 0; i < count; i++) groupOfHead.push(g);
  });
  return groupOfHead;
}

/** GQA (MHA and MQA included): every group gets heads / kvHeads query heads, so head h uses group floor(h / (heads / kvHeads)). */
export function uniformAllocation(heads: number, kvHeads: number): AllocationResult {
  checkHeadsAndGroups(heads, kvHeads);
  if (heads % kvHeads !== 0) {
    throw new Error(`allocation: uniform grouping needs kvHeads (${kvHeads}) to divide heads (${heads})`);
  }
  const counts = new Array<number>(kvHeads).fill(heads / kvHeads);
  return { counts, groupOfHead: groupOfHeadFromCounts(counts) };
}

/**
 * KDGQA/DGQA: shares `opts.heads` query heads among scores.length K/V groups in proportion to the
 * groups' scores (key norms, or tracked scores). Deterministic for every input, degenerate ones included.
 */
export function allocateFromScores(scores: readonly number[], opts: KeyNormOptions): AllocationResult {
  const groups = scores.length;
  checkHeadsAndGroups(opts.heads, groups);
  const min = opts.minPerGroup;
  if (!Number.isInteger(min) || min < 0) {
    throw new Error(`allocation: minPerGroup must be a whole number >= 0, got ${min}`);
  }
  if (min * groups > opts.heads) {
    throw new Error(`allocation: minPerGroup ${min} x ${groups} groups needs ${min * groups} query heads, but there are ${opts.heads}`);
  }
  if (opts.scale !== 'minmax' && opts.scale !== 'none') throw new Error(`allocation: unknown scale '${String(opts.scale)}'`);
  const { claims, total } = exactClaims(scores, opts.scale);
  let counts: number[];
  if (opts.rounding === 'largest_remainder') {
    const spare = opts.heads - min * groups;
    counts = largestRemainder(claims, total, spare).map((c) => c + min);
  } else if (opts.rounding === 'paper') {
    counts = raiseToMinimum(paperRounding(claims, total, opts.heads), min);
  } else {
    throw new Error(`allocation: unknown rounding '${String(opts.rounding)}'`);
  }
  return { counts, groupOfHead: groupOfHeadFromCounts(counts) };
}

/**
 * Each group's claim on the heads, as exact integers on a common scale (the scale cancels: only the
 * ratios claim_g / total matter). With 'minmax' the claim is s_g - min (dividing every claim by
 * max - min would not change a ratio, so the exact rule skips it); with 'none' it is s_g, a negative
 * score claiming 0. Degenerate inputs fall back to equal claims (1 each): any NaN or infinite score,
 * or claims that sum to 0 (all scores equal under 'minmax', where the reference divides 0 by 0; all
 * scores <= 0 under 'none'). Equal claims then go through the same rounding as any others.
 */
function exactClaims(scores: readonly number[], scale: 'minmax' | 'none'): { claims: bigint[]; total: bigint } {
  const equal = () => ({ claims: scores.map(() => 1n), total: BigInt(scores.length) });
  if (scores.some((s) => !Number.isFinite(s))) return equal();
  const exact = toCommonScale(scores);
  let claims: bigint[];
  if (scale === 'minmax') {
    const lo = exact.reduce((a, b) => (b < a ? b : a));
    claims = exact.map((n) => n - lo);
  } else {
    claims = exact.map((n) => (n > 0n ? n : 0n));
  }
  const total = claims.reduce((a, b) => a + b, 0n);
  return total === 0n ? equal() : { claims, total };
}

/**
 * The claims as float64 weights, each claim divided by the largest (so min-max weights are the
 * scaled scores s' in [0, 1]), with their sum. For reports and for tests that look for near-ties;
 * the counts never use these approximations.
 */
export function allocationWeights(scores: readonly number[], scale: 'minmax' | 'none'): { weights: number[]; total: number } {
  const { claims } = exactClaims(scores, scale);
  const largest = claims.reduce((a, b) => (b > a ? b : a));
  // 64 fractional bits before the one rounding to float64: more than a double holds.
  const weights = claims.map((c) => Number((c << 64n) / largest) * 2 ** -64);
  let total = 0;
  for (const w of weights) total += w;
  return { weights, total };
}

/**
 * Finite float64 values as integers n_g with value_g = n_g * 2^E for one shared E, exactly: a double
 * is mantissa * 2^exponent, so shifting every mantissa up to the smallest exponent loses nothing.
 */
function toCommonScale(values: readonly number[]): bigint[] {
  const parts = values.map(decomposeDouble);
  const lowest = Math.min(...parts.map((p) => p.exponent));
  return parts.map((p) => p.mantissa << BigInt(p.exponent - lowest));
}

const bitsView = new DataView(new ArrayBuffer(8));

function decomposeDouble(x: number): { mantissa: bigint; exponent: number } {
  bitsView.setFloat64(0, x);
  const bits = bitsView.getBigUint64(0);
  const negative = bits >> 63n === 1n;
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & 0xfffffffffffffn;
  // Normal numbers carry an implicit leading 1; subnormals (biased exponent 0) share the exponent of biased 1.
  const mantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  const exponent = (biased === 0 ? 1 : biased) - 1075;
  return { mantissa: negative ? -mantissa : mantissa, exponent };
}

/**
 * Hamilton's method on the exact quotas q_g = share * claim_g / total: each group first gets
 * floor(q_g), then the share - sum(floors) heads left over (fewer than G) go one each to the groups
 * with the largest remainders, ties to the lower index. The remainders are compared exactly, as the
 * integers share * claim_g mod total (they all have the denominator total), so a tie is a true tie.
 */
function largestRemainder(claims: readonly bigint[], total: bigint, share: number): number[] {
  const scaled = claims.map((c) => BigInt(share) * c);
  const counts = scaled.map((x) => Number(x / total));
  const remainders = scaled.map((x) => x % total);
  let left = share - counts.reduce((a, b) => a + b, 0);
  const order = claims.map((_, g) => g).sort((a, b) => (remainders[b]! > remainders[a]! ? 1 : remainders[b]! < remainders[a]! ? -1 : a - b));
  for (const g of order) {
    if (left === 0) break;
    counts[g]! += 1;
    left -= 1;
  }
  return counts;
}

/**
 * What the reference code of arXiv 2408.08454 does (modules/attention/kdgqa.py, KDGQA.forward, lines
 * 52-62): counts_g = round(heads * w_g / sum(w)) with round half to even (torch.round); then, while the
 * sum exceeds heads, take 1 from the first group with the largest count (torch.argmax returns the
 * first maximum); while it falls short, give 1 to the first group with the smallest count (torch.argmin).
 * The quotas here are exact rationals; the reference rounds float32 ones (docs/allocation.md).
 */
function paperRounding(claims: readonly bigint[], total: bigint, heads: number): number[] {
  const counts = claims.map((c) => {
    const x = BigInt(heads) * c;
    const below = x / total;
    const twice = 2n * (x % total); // compare the remainder with half of total without leaving integers
    const up = twice > total || (twice === total && below % 2n === 1n);
    return Number(up ? below + 1n : below);
  });
  let sum = counts.reduce((a, b) => a + b, 0);
  while (sum > heads) {
    counts[firstIndexOf(counts, 'max')]! -= 1;
    sum -= 1;
  }
  while (sum < heads) {
    counts[firstIndexOf(counts, 'min')]! += 1;
    sum += 1;
  }
  return counts;
}

/**
 * Our addition to 'paper' rounding (the reference has no minimum): while the first group with the
 * smallest count has fewer than `min`, move one head to it from the first group with the largest
 * count. The donor always has more than `min` (G * min <= heads), so no group drops below it.
 */
function raiseToMinimum(counts: number[], min: number): number[] {
  for (;;) {
    const poorest = firstIndexOf(counts, 'min');
    if (counts[poorest]! >= min) return counts;
    counts[firstIndexOf(counts, 'max')]! -= 1;
    counts[poorest]! += 1;
  }
}

function firstIndexOf(values: readonly number[], which: 'min' | 'max'): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) {
    if (which === 'max' ? values[i]! > values[best]! : values[i]! < values[best]!) best = i;
  }
  return best;
}

/**
 * One DGQA tracker step of rule 'attnc' for one layer (TrackIR in compiler/ir/types.ts): the K/V
 * groups' tracked score given the previous cache and this training step's key norms. The caller
 * applies it at every training step and allocates, allocateFromScores(score), only when due.
 *   ema:  cache' = decay * cache + (1 - decay) * norm; score = cache'
 *   diff: score = |cache - norm|;                      cache' = norm
 * Rule 'paper' keeps the cache and the score apart and depends on the step: paperTrackerStep.
 */
export function updateTrackedScore(
  track: TrackIR,
  cache: readonly number[],
  norms: readonly number[],
): { cache: number[]; score: number[] } {
  if (track.rule !== 'attnc') {
    throw new Error(`allocation: updateTrackedScore is the 'attnc' tracker rule; rule '${String(track.rule)}' is paperTrackerStep`);
  }
  checkTracker(track, cache, norms);
  if (track.kind === 'diff') {
    return { cache: [...norms], score: norms.map((n, g) => Math.abs(cache[g]! - n)) };
  }
  const next = norms.map((n, g) => track.decay * cache[g]! + (1 - track.decay) * n);
  return { cache: next, score: [...next] };
}

/** When a rule-'paper' tracker step runs: a training step (with its index within the epoch) or an evaluation batch. */
export type PaperTrackerPhase = { training: true; epochStep: number; window: number } | { training: false };

/**
 * One DGQA tracker step of rule 'paper' for one layer: what the reference code's dgqa.py does
 * (DGQA.update_splits_cache_training / _inference with get_ratios_ema / get_ratios_diff), with
 * `epochStep` the batch index within the epoch (train.py calls set_training_step(step) with the
 * enumerate index of the epoch's dataloader, so it restarts at 0 every epoch).
 *
 *   due:   a training step with epochStep % window == 0, or any evaluation batch
 *   score: ema  decay * norm + (1 - decay) * cache   (the weight is on the current norms)
 *          diff |cache - norm|
 *   cache' training: (cache + norm) / window          (window 1: the running sum of the norms)
 *          evaluation: norm                           (evaluation changes the state)
 *
 * Returns score null and the cache unchanged when the step is not due (the allocation stays as it
 * is); otherwise the score to allocate from (allocateFromScores, which the reference does without
 * min-max scaling: scale 'none') and the new cache. The cache starts at zero.
 */
export function paperTrackerStep(
  track: TrackIR,
  cache: readonly number[],
  norms: readonly number[],
  phase: PaperTrackerPhase,
): { score: number[] | null; cache: number[] } {
  if (track.rule !== 'paper') {
    throw new Error(`allocation: paperTrackerStep is the 'paper' tracker rule; rule '${String(track.rule)}' is updateTrackedScore`);
  }
  checkTracker(track, cache, norms);
  const window = phase.training ? phase.window : 1;
  if (phase.training) {
    if (!Number.isInteger(window) || window < 1) throw new Error(`allocation: window must be a whole number >= 1, got ${window}`);
    const { epochStep } = phase;
    if (!Number.isInteger(epochStep) || epochStep < 0) throw new Error(`allocation: epochStep must be a whole number >= 0, got ${epochStep}`);
    if (epochStep % window !== 0) return { score: null, cache: [...cache] };
  }
  const score =
    track.kind === 'diff'
      ? norms.map((n, g) => Math.abs(cache[g]! - n))
      : norms.map((n, g) => track.decay * n + (1 - track.decay) * cache[g]!);
  const next = phase.training ? norms.map((n, g) => (cache[g]! + n) / window) : [...norms];
  return { score, cache: next };
}

function checkTracker(track: TrackIR, cache: readonly number[], norms: readonly number[]): void {
  if (cache.length !== norms.length) {
    throw new Error(`allocation: the tracker cache has ${cache.length} groups but ${norms.length} norms were given`);
  }
  if (track.kind === 'ema' && !(track.decay >= 0 && track.decay <= 1)) {
    throw new Error(`allocation: ema decay must be in [0, 1], got ${track.decay}`);
  }
}

function checkHeadsAndGroups(heads: number, groups: number): void {
  if (!Number.isInteger(heads) || heads < 1 || heads > MAX_HEADS) {
    throw new Error(`allocation: heads must be a whole number from 1 to ${MAX_HEADS}, got ${heads}`);
  }
  if (!Number.isInteger(groups) || groups < 1) {
    throw new Error(`allocation: there must be at least one K/V group, got ${groups}`);
  }
  if (groups > heads) {
    throw new Error(`allocation: ${groups} K/V groups need at least as many query heads, but there are ${heads}`);
  }
}
