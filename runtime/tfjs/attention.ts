// The allocation state of a TensorFlow.js model's allocating layers, and how a pass updates it: the
// graph's `allocate` op (./kernels-attention.ts) asks countsFromStatistics for the query heads per
// K/V group of a pass, as the policy says (KDGQA per batch or per image, DGQA rules 'attnc' and
// 'paper', eval 'frozen' or 'recompute'). docs/attention.md gives the rules exactly as implemented.
import type { Tensor, Tensor3D, Tensor4D, Variable } from '@tensorflow/tfjs';
import { equalShareCounts } from '../../compiler/alloc.js';
import type { AttentionIR, ScoredAllocationIR } from '../../compiler/ir/types.js';
import { randomScore, SCORES, type ScoreDraw, type ScoreIR } from '../../compiler/ir/scores.js';
import { allocateCounts, paperTrackerUpdate, trackerStep, type TensorAllocationOptions } from './allocation.js';
import type { Tf } from './backend.js';

/** Where a pass is, as the allocation's timing needs it. */
export interface AllocationPass {
  training: boolean;
  /** The global training step: times DGQA re-allocations (rule 'attnc'). */
  step: number;
  /** The batch index within the epoch: times DGQA rule 'paper' re-allocations; absent: `step`. */
  epochStep?: number;
}

/**
 * A key_norm layer's allocation state, as non-trainable float32 variables: `counts` [G] (the last
 * allocation made in training, used by eval 'frozen'), `cache` [G] (the tracker's cache), `score` [G]
 * (the last score allocated from, or the tracked score), `initialised` [] (1 after the first training
 * step). `initialisedHost` and `lastStep` mirror what the host must know without reading the device.
 */
export interface AttentionState {
  readonly policy: ScoredAllocationIR;
  readonly heads: number;
  readonly counts: Variable;
  readonly cache: Variable;
  readonly score: Variable;
  readonly initialised: Variable;
  /** key_grad layers: the previous step's statistic [1, G] (the graph's state row the allocation reads); null otherwise. */
  readonly keyGrad: Variable | null;
  initialisedHost: boolean;
  /** The training step whose tracker update is done (a second pass at that step changes nothing). */
  lastStep: number | null;
}

/** The state a layer needs, or null when its grouping is fixed (policy 'uniform'). */
export function createAttentionState(tf: Tf, ir: AttentionIR): AttentionState | null {
  if (ir.allocation.policy === 'uniform') return null;
  const groups = ir.kvHeads;
  return {
    policy: ir.allocation,
    heads: ir.heads,
    // Before any allocation: the equal share, which is the uniform grouping when G divides H.
    counts: tf.variable(tf.tensor1d(equalShareCounts(ir.heads, groups)), false),
    cache: tf.variable(tf.zeros([groups]), false),
    score: tf.variable(tf.zeros([groups]), false),
    initialised: tf.variable(tf.scalar(0), false),
    keyGrad: SCORES[ir.allocation.score.kind].lagged ? tf.variable(tf.zeros([1, groups]), false) : null,
    initialisedHost: false,
    lastStep: null,
  };
}

/** The state's tensors for a checkpoint; the caller prefixes the names with `blocks.<i>.attn.alloc.`. */
export function attentionStateTensors(state: AttentionState): Record<'counts' | 'cache' | 'score' | 'initialised', Tensor> & { key_grad?: Tensor } {
  return { counts: state.counts, cache: state.cache, score: state.score, initialised: state.initialised, ...(state.keyGrad ? { key_grad: state.keyGrad } : {}) };
}

/** Loads checkpoint tensors; a checkpoint without `initialised` comes from training, so it counts as initialised. */
export function loadAttentionState(state: AttentionState, tensors: Partial<Record<string, Tensor>>): void {
  for (const name of ['counts', 'cache', 'score'] as const) {
    const t = tensors[name];
    if (!t) throw new Error(`attention state: the checkpoint has no '${name}'`);
    if (t.shape.length !== 1 || t.shape[0] !== state[name].shape[0]) {
      throw new Error(`attention state: '${name}' has shape [${t.shape}], expected [${state[name].shape}]`);
    }
    state[name].assign(t.toFloat());
  }
  if (state.keyGrad) {
    const t = tensors.key_grad;
    if (!t || t.size !== state.keyGrad.size) throw new Error(`attention state: the checkpoint has no 'key_grad' of [${state.keyGrad.shape[1]}] values`);
    state.keyGrad.assign(t.toFloat().reshape(state.keyGrad.shape));
  }
  const flag = tensors.initialised;
  state.initialisedHost = flag ? flag.dataSync()[0] !== 0 : true;
  state.initialised.assign(state.initialisedHost ? state.initialised.onesLike() : state.initialised.zerosLike());
  state.lastStep = null;
}

export function disposeAttentionState(state: AttentionState): void {
  for (const v of [state.counts, state.cache, state.score, state.initialised, state.keyGrad]) v?.dispose();
}

/**
 * The statistics of the score registry (compiler/ir/scores.ts) in TensorFlow.js: per image and group,
 * [B, G], from the keys k [B, T, G, hd] (reduced over T and hd) or drawn from the pass's key.
 */
const STATISTICS: { [K in ScoreIR['kind']]: (tf: Tf, k: Tensor4D, score: Extract<ScoreIR, { kind: K }>, draw: ScoreDraw) => Tensor } = {
  key_norm: (_tf, k, s) => (s.norm === 'l2' ? k.square().sum([1, 3]).sqrt() : k.abs().sum([1, 3])),
  // key_grad: k is the qkv weight's gradient viewed as one image of `dim` rows (compiler/graph/lower.ts).
  key_grad: (_tf, k) => k.square().sum([1, 3]).sqrt(),
  key_variance: (_tf, k) => {
    const [, T, , hd] = k.shape;
    const centred = k.sub(k.mean([1, 3], true));
    return centred.square().sum([1, 3]).div(T * hd);
  },
  attention_entropy: (tf, k) => {
    // Each group's keys attend to themselves: s [B, G, T, T] = k k^T / sqrt(hd); the mean over rows of
    // each row's entropy, ln Z - sum e (s - m) / Z (compiler/ir/scores.ts keySelfAttentionEntropy).
    const [B, T, G, hd] = k.shape;
    const kg = tf.reshape(tf.transpose(k, [0, 2, 1, 3]), [B * G, T, hd]) as Tensor3D;
    const s = tf.mul(tf.matMul(kg, kg, false, true), 1 / Math.sqrt(hd));
    const shifted = tf.sub(s, tf.max(s, 2, true));
    const e = tf.exp(shifted);
    const z = tf.sum(e, 2);
    const entropy = tf.sub(tf.log(z), tf.div(tf.sum(tf.mul(e, shifted), 2), z));
    return tf.reshape(tf.mean(entropy, 1), [B, G]);
  },
  random: (tf, k, _s, draw) => {
    const [B, , G] = k.shape;
    return tf.tensor2d(Float32Array.from({ length: B * G }, (_, i) => randomScore(draw, Math.floor(i / G), i % G, G)), [B, G]);
  },
};

/** A statistic of the registry, [B, G], of keys k [B, T, G, hd]. */
export function keyStatistic(tf: Tf, k: Tensor4D, score: ScoreIR, draw: ScoreDraw): Tensor {
  return (STATISTICS[score.kind] as (tf: Tf, k: Tensor4D, s: ScoreIR, d: ScoreDraw) => Tensor)(tf, k, score, draw);
}

/**
 * The allocation of a pass from per-image statistics [B, G] (the graph's `allocate` op): counts [G]
 * or [B, G], updating the state as the policy says (docs/attention.md). eval 'frozen' is the caller's.
 */
export function countsFromStatistics(
  tf: Tf,
  perImage: Tensor,
  policy: Omit<ScoredAllocationIR, 'score'>,
  heads: number,
  state: AttentionState,
  ctx: AllocationPass,
): Tensor {
  const opts = { heads, scale: policy.scale, rounding: policy.rounding, minPerGroup: policy.min };
  const summed = perImage.sum(0); // the reference sums the per-image norms over the batch
  if (policy.track?.rule === 'paper') return paperTrackedCounts(tf, summed, policy, opts, state, ctx);
  if (!ctx.training) {
    if (!policy.track) return allocateCounts(tf, policy.scope === 'sample' ? perImage : summed, opts);
    // Tracked, recompute: the score this batch would give, without touching the training state.
    return allocateCounts(tf, trackerStep(tf, policy.track, state.cache, summed).score, opts);
  }
  if (!policy.track) {
    const counts = allocateCounts(tf, policy.scope === 'sample' ? perImage : summed, opts);
    state.score.assign(summed);
    // 'frozen' eval needs one allocation for every image: per-sample layers store the batch's.
    if (policy.scope === 'batch') state.counts.assign(counts);
    else if (policy.eval === 'frozen') state.counts.assign(allocateCounts(tf, summed, opts));
    markInitialised(state);
    return counts;
  }
  // DGQA, rule 'attnc': the tracker sees every training step once; the allocation changes only when it is due.
  if (state.lastStep === ctx.step) return state.counts;
  const window = policy.window ?? 1;
  const { cache, score } = trackerStep(tf, policy.track, state.cache, summed);
  state.cache.assign(cache);
  state.score.assign(score);
  const due = (!state.initialisedHost && policy.init === 'first_batch') || (ctx.step > 0 && ctx.step % window === 0);
  let counts: Tensor = state.counts;
  if (due) {
    counts = allocateCounts(tf, score, opts);
    state.counts.assign(counts);
  }
  markInitialised(state);
  state.lastStep = ctx.step;
  return counts;
}

/**
 * DGQA, rule 'paper' (compiler/alloc.ts paperTrackerStep; docs/attention.md): the reference's dgqa.py.
 * Training: only at steps whose index within the epoch is a multiple of the window, allocate from
 * the score of (norms, cache), then cache <- (cache + norms) / window; other steps keep everything.
 * Evaluation with eval 'recompute': every batch allocates the same way and then sets cache <- norms,
 * and the allocation is stored, since the reference's eval overwrites the splits that later training
 * steps use until the next due step. (eval 'frozen', never the reference's, was handled by the caller.)
 */
function paperTrackedCounts(
  tf: Tf,
  summed: Tensor,
  policy: Omit<ScoredAllocationIR, 'score'>,
  opts: TensorAllocationOptions,
  state: AttentionState,
  ctx: AllocationPass,
): Tensor {
  const track = policy.track!;
  const window = policy.window ?? 1;
  if (ctx.training) {
    // One update per optimizer step: later micro-batches and re-runs of the step reuse its allocation.
    if (state.lastStep === ctx.step) return state.counts;
    const epochStep = ctx.epochStep ?? ctx.step;
    // 'first_batch' (not the reference's: its first step of an epoch is always due) also makes due
    // a first step that starts mid-window, as when a run resumes mid-epoch from a fresh state.
    const due = epochStep % window === 0 || (!state.initialisedHost && policy.init === 'first_batch');
    markInitialised(state);
    state.lastStep = ctx.step;
    if (!due) return state.counts;
  }
  const phase = ctx.training ? { training: true as const, window } : { training: false as const };
  const { cache, score } = paperTrackerUpdate(tf, track, state.cache, summed, phase);
  const counts = allocateCounts(tf, score, opts);
  state.counts.assign(counts);
  state.cache.assign(cache);
  state.score.assign(score);
  return counts;
}

function markInitialised(state: AttentionState): void {
  if (state.initialisedHost) return;
  state.initialised.assign(state.initialised.onesLike());
  state.initialisedHost = true;
}
