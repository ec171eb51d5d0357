// The grouped attention core of the TensorFlow.js backend: MHA, MQA, GQA, KDGQA, DGQA and PGQA from
// one AttentionIR. docs/attention.md gives the math of every variant exactly as implemented here.
//
// All query heads run as one batched matmul. Each query head h reads K/V group g(h); the K and V of
// every query head are built from the G groups by a matmul with a one-hot selection [H, G] (or
// [B, H, G] for per-sample allocations): no tf.gather (no gradient on wasm), no loop over groups.
// Batched matmuls always get equal batch dimensions (tfjs 4.22 mis-broadcasts them).
import type { Tensor, Tensor2D, Tensor3D, Tensor4D, Variable } from '@tensorflow/tfjs';
import type { AttentionIR, ScoredAllocationIR } from '../../compiler/ir/types.js';
import { randomScore, type ScoreDraw, type ScoreIR } from '../../compiler/ir/scores.js';
import { Purpose, seed32, streamId, uniformFloats } from '../../core/random.js';
import { allocateCounts, groupOfHeadOneHot, oneHotFromCountsHost, paperTrackerUpdate, trackerStep, type TensorAllocationOptions } from './allocation.js';
import { equalShareCounts } from '../../compiler/alloc.js';
import type { Tf } from './backend.js';
import { applyPerturbation, perturbationActive, type PerturbDraw } from './perturb.js';

export interface AttentionContext {
  training: boolean;
  /** The global training step: seeds dropout and noise, and times DGQA re-allocations (rule 'attnc'). */
  step: number;
  /**
   * The batch index within the epoch (0 at each epoch's first batch): times the re-allocations of
   * DGQA rule 'paper', as the reference's train.py does. Absent: `step` stands in for it.
   */
  epochStep?: number;
  seed: number;
  /** The layer (block) index: seeds dropout and noise. */
  layer: number;
  /** This layer's allocation state (createAttentionState); null for uniform grouping. */
  state: AttentionState | null;
  /** Dropout rate on the attention probabilities (training only). */
  attnDropout: number;
  /** Index of the micro-batch within the step (default 0), so micro-batches draw different masks. */
  microBatch?: number;
  /**
   * Told the query heads per K/V group a key_norm layer used in this pass: [G], or [B, G] per image
   * (scope 'sample'). The tensor is kept out of the core's tidy; the receiver disposes it. Evaluation
   * uses it to report allocations that exist nowhere else (eval 'recompute' does not store them).
   */
  onCounts?: (layer: number, counts: Tensor) => void;
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
    initialisedHost: false,
    lastStep: null,
  };
}

/** The state's tensors for a checkpoint; the caller prefixes the names with `blocks.<i>.attn.alloc.`. */
export function attentionStateTensors(state: AttentionState): Record<'counts' | 'cache' | 'score' | 'initialised', Tensor> {
  return { counts: state.counts, cache: state.cache, score: state.score, initialised: state.initialised };
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
  const flag = tensors.initialised;
  state.initialisedHost = flag ? flag.dataSync()[0] !== 0 : true;
  state.initialised.assign(state.initialisedHost ? state.initialised.onesLike() : state.initialised.zerosLike());
  state.lastStep = null;
}

export function disposeAttentionState(state: AttentionState): void {
  for (const v of [state.counts, state.cache, state.score, state.initialised]) v.dispose();
}

/** qkv [B, T, (H + 2G) * hd] (H*hd query columns, then G*hd key, then G*hd value) -> [B, T, H * hd]. */
export function attentionCore(tf: Tf, qkv: Tensor3D, ir: AttentionIR, ctx: AttentionContext): Tensor3D {
  const [batch, tokens, width] = qkv.shape;
  const { heads, kvHeads: groups, headDim } = ir;
  if (width !== (heads + 2 * groups) * headDim) {
    throw new Error(`attention: qkv has ${width} columns, expected (${heads} + 2 x ${groups}) x ${headDim}`);
  }
  const micro = ctx.microBatch ?? 0;
  return tf.tidy(() => {
    const q = qkv.slice([0, 0, 0], [batch, tokens, heads * headDim]).reshape([batch, tokens, heads, headDim]);
    const k = qkv.slice([0, 0, heads * headDim], [batch, tokens, groups * headDim]).reshape([batch, tokens, groups, headDim]) as Tensor4D;
    const v = qkv.slice([0, 0, (heads + groups) * headDim], [batch, tokens, groups * headDim]).reshape([batch, tokens, groups, headDim]) as Tensor4D;
    const selection = headSelection(tf, k, ir, ctx);
    if (ctx.onCounts && selection !== null && ctx.state) ctx.onCounts(ctx.layer, tf.keep(selection.sum(selection.rank - 2)));
    const qh = q.transpose([0, 2, 1, 3]).mul(1 / Math.sqrt(headDim)).reshape([batch * heads, tokens, headDim]) as Tensor3D;
    const kh = expandGroups(tf, k, selection, heads).reshape([batch * heads, tokens, headDim]) as Tensor3D;
    const vh = expandGroups(tf, v, selection, heads).reshape([batch * heads, tokens, headDim]) as Tensor3D;

    const perturb = perturbationActive(ir.perturb, ctx.training) ? ir.perturb : null;
    const draw: PerturbDraw = {
      seed: ctx.seed, layer: ctx.layer, step: ctx.step, microBatch: micro,
      paper: ir.compat === 'paper' && perturb?.at === 'output',
      headsPerGroup: Math.max(1, Math.floor(heads / groups)),
    };
    let scores: Tensor = tf.matMul(qh, kh, false, true); // [B*H, T, T]
    if (perturb?.at === 'scores') scores = applyPerturbation(tf, scores.reshape([batch, heads, tokens, tokens]), perturb, draw);
    let probs = tf.softmax(scores.reshape([batch * heads, tokens, tokens]));
    if (ctx.training && ctx.attnDropout > 0) probs = probs.mul(dropoutMask(tf, probs.shape as number[], ctx.attnDropout, ctx, micro));
    let out: Tensor = tf.matMul(probs as Tensor3D, vh); // [B*H, T, hd]
    if (perturb?.at === 'output') out = applyPerturbation(tf, out.reshape([batch, heads, 1, tokens * headDim]), perturb, draw);
    return out.reshape([batch, heads, tokens, headDim]).transpose([0, 2, 1, 3]).reshape([batch, tokens, heads * headDim]) as Tensor3D;
  });
}

/** null: query head h reads group h (MHA). Otherwise a one-hot [H, G], or [B, H, G] per sample. */
type Selection = Tensor | null;

/** k, v [B, T, G, hd] -> [B, H, T, hd]: query head h's K (or V) is sum_g S[h, g] * group g. */
function expandGroups(tf: Tf, x: Tensor4D, selection: Selection, heads: number): Tensor {
  const [batch, tokens, groups, headDim] = x.shape;
  if (selection === null) return x.transpose([0, 2, 1, 3]);
  if (selection.rank === 2) {
    // One selection for the batch: a plain 2-D matmul [H, G] x [G, B*T*hd].
    const flat = x.transpose([2, 0, 1, 3]).reshape([groups, batch * tokens * headDim]) as Tensor2D;
    return tf.matMul(selection as Tensor2D, flat).reshape([heads, batch, tokens, headDim]).transpose([1, 0, 2, 3]);
  }
  // Per sample: [B, H, G] x [B, G, T*hd], batch dims equal.
  const flat = x.transpose([0, 2, 1, 3]).reshape([batch, groups, tokens * headDim]) as Tensor3D;
  return tf.matMul(selection as Tensor3D, flat).reshape([batch, heads, tokens, headDim]);
}

function headSelection(tf: Tf, k: Tensor4D, ir: AttentionIR, ctx: AttentionContext): Selection {
  const { heads, kvHeads: groups } = ir;
  const policy = ir.allocation;
  if (policy.policy === 'uniform') {
    if (groups === heads) return null;
    if (heads % groups !== 0) throw new Error(`attention: uniform grouping needs kvHeads (${groups}) to divide heads (${heads})`);
    return oneHotFromCountsHost(tf, equalShareCounts(heads, groups));
  }
  const state = ctx.state;
  if (!state) throw new Error(`attention: layer ${ctx.layer} allocates by key norm and needs its AttentionState`);
  // The counts are discrete: no gradient flows through the allocation. customGrad hides the ops
  // below from the tape (so comparisons without gradients never meet backprop) and sends zeros to K.
  const select = tf.customGrad((...inputs) => {
    const keys = inputs[0] as Tensor4D;
    return {
      value: groupOfHeadOneHot(tf, scoredCounts(tf, keys, policy, heads, state, ctx), heads),
      gradFunc: () => tf.zerosLike(keys),
    };
  });
  return select(k);
}

/**
 * The statistics of the score registry (compiler/ir/scores.ts) in TensorFlow.js: per image and group,
 * [B, G], from the keys k [B, T, G, hd] (reduced over T and hd) or drawn from the pass's key.
 */
const STATISTICS: { [K in ScoreIR['kind']]: (tf: Tf, k: Tensor4D, score: Extract<ScoreIR, { kind: K }>, draw: ScoreDraw) => Tensor } = {
  key_norm: (_tf, k, s) => (s.norm === 'l2' ? k.square().sum([1, 3]).sqrt() : k.abs().sum([1, 3])),
  key_variance: (_tf, k) => {
    const [, T, , hd] = k.shape;
    const centred = k.sub(k.mean([1, 3], true));
    return centred.square().sum([1, 3]).div(T * hd);
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

/** Counts [G] (one allocation for the batch) or [B, G] (scope 'sample'), updating the state in training (and at eval for DGQA rule 'paper'). */
function scoredCounts(tf: Tf, k: Tensor4D, policy: ScoredAllocationIR, heads: number, state: AttentionState, ctx: AttentionContext): Tensor {
  if (!ctx.training && policy.eval === 'frozen') return state.counts;
  const draw = { seed: ctx.seed, layer: ctx.layer, training: ctx.training, step: ctx.step, microBatch: ctx.microBatch ?? 0 };
  return countsFromStatistics(tf, keyStatistic(tf, k, policy.score, draw), policy, heads, state, ctx);
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
  ctx: Pick<AttentionContext, 'training' | 'step' | 'epochStep'>,
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
  ctx: Pick<AttentionContext, 'training' | 'step' | 'epochStep'>,
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

/** Inverted-dropout mask: 1 / (1 - p) where uniform(seed, stream, i) >= p, else 0, i the row-major index. */
export function dropoutMask(tf: Tf, shape: number[], p: number, ctx: Pick<AttentionContext, 'seed' | 'layer' | 'step'>, micro: number): Tensor {
  const count = shape.reduce((a, b) => a * b, 1);
  const u = uniformFloats(seed32(ctx.seed), streamId(Purpose.attentionDropout, ctx.layer, ctx.step, micro), count);
  const keep = 1 / (1 - p);
  const mask = new Float32Array(count);
  for (let i = 0; i < count; i++) mask[i] = u[i]! >= p ? keep : 0;
  return tf.tensor(mask, shape);
}
