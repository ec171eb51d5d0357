// The attnc IR: what the compiler hands every backend. Plain JSON, versioned, every default explicit,
// one entry per transformer layer after per-layer overrides, each entry with its source span.
// compiler/ir/schema.json is the JSON Schema (2020-12) of this file's types; a test keeps them in step.
// Bump IR_VERSION whenever a change would make an older reader misread a document (and teach
// compiler/ir/migrate.ts to read the older one: checkpoints embed the IR).
import type { ScoreIR } from './scores.js';

export type { ScoreIR } from './scores.js';

export const IR_VERSION = 2;

/** Where an IR entry came from in the .attn source (1-based line and column). */
export interface SourceSpan {
  file: string;
  line: number;
  col: number;
  endLine: number;
  endCol: number;
}

export interface IRDocument {
  irVersion: typeof IR_VERSION;
  /** The compiler that wrote it, e.g. "attnc 0.1.0". */
  compiler: string;
  /** The root .attn file, as given on the command line. */
  source: string;
  models: ModelIR[];
  runs: RunIR[];
  experiments: ExperimentIR[];
}

export interface ModelIR {
  name: string;
  /** The chain of models this one extends, nearest first (empty when it extends nothing). */
  extends: string[];
  span: SourceSpan;
  image: { height: number; width: number; channels: number };
  patch: number;
  /** (height / patch) * (width / patch). */
  patches: number;
  /** Sequence length the blocks see: patches, plus one with a class token. */
  tokens: number;
  dim: number;
  depth: number;
  classes: number;
  /** 'cls': a learned class token is prepended and read out; 'mean': tokens are mean-pooled. */
  pool: 'cls' | 'mean';
  norm: { kind: 'layernorm'; eps: number };
  qkvBias: boolean;
  /** Dropout after the attention projection and in the MLP. */
  dropout: number;
  /** Dropout on the attention probabilities. */
  attnDropout: number;
  layers: LayerIR[];
}

export interface LayerIR {
  index: number;
  /** The innermost source construct that decided this layer (a `layers` override, or the model). */
  span: SourceSpan;
  attention: AttentionIR;
  mlp: { hidden: number; activation: 'gelu' };
  /** Stochastic depth rate of this block (the model's drop_path scaled linearly over depth, as timm). */
  dropPath: number;
}

/** A label for reports; the behaviour is fully given by the other fields. */
export type AttentionVariant = 'mha' | 'mqa' | 'gqa' | 'kdgqa' | 'dgqa' | 'pgqa';

export interface AttentionIR {
  variant: AttentionVariant;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** 'paper' reproduces the reference code of arXiv 2408.08454, quirks included (docs/language.md). */
  compat: 'none' | 'paper';
  allocation: AllocationIR;
  perturb: PerturbIR | null;
  span: SourceSpan;
}

export type AllocationIR = UniformAllocationIR | ScoredAllocationIR;

/** Query head h uses K/V head floor(h / (heads / kvHeads)): GQA, with MHA and MQA as special cases. */
export interface UniformAllocationIR {
  policy: 'uniform';
}

/**
 * Query heads are shared out among K/V groups in proportion to a score per group: an importance
 * statistic of the registry (compiler/ir/scores.ts; the key norms for KDGQA); with `track` the score
 * is tracked over training and the allocation recomputed only every `window` steps (DGQA).
 * (IR version 1 called this policy 'key_norm', with `norm` for the score and `minPerGroup` for `min`.)
 */
export interface ScoredAllocationIR {
  policy: 'scored';
  /** The statistic, per image and K/V group: `kind` names a registry entry, with its parameters. */
  score: ScoreIR;
  /** 'minmax' rescales the scores to [0, 1] before sharing out (the paper's choice). */
  scale: 'minmax' | 'none';
  /** 'largest_remainder' (Hamilton); 'paper': round, then +/-1 at argmin/argmax until the sum is right. */
  rounding: 'largest_remainder' | 'paper';
  /** Every group gets at least this many query heads (0 allows starving a group, as the paper can). */
  min: number;
  /** 'batch': one allocation per batch from statistics summed over it (the paper); 'sample': one per image. */
  scope: 'batch' | 'sample';
  /** 'recompute': allocate from the current batch at eval too; 'frozen': use the allocation held in the model state. */
  eval: 'recompute' | 'frozen';
  track: TrackIR | null;
  /** Training steps between re-allocations when tracked (null when not tracked). */
  window: number | null;
  /** The allocation before the first re-allocation when tracked: uniform groups, or from the first batch. */
  init: 'uniform' | 'first_batch';
}

/**
 * How a tracked score evolves (DGQA), per layer and K/V group; `norm` is the batch's statistic of a group (its key norm for KDGQA).
 *
 * rule 'attnc' (the default): at every training step (the global optimizer step, from 0)
 *   ema:  cache <- decay * cache + (1 - decay) * norm;  score = cache
 *   diff: score = |cache - norm|;  cache <- norm
 * and the allocation is recomputed from `score` when step > 0 and step % window == 0 (and at step 0
 * with init 'first_batch'), frozen in between. Evaluation never changes the state: `eval: frozen`
 * uses the stored allocation; `eval: recompute` allocates from the score this batch would give.
 *
 * rule 'paper' (compat paper: the reference code's dgqa.py, as read): only at training steps whose
 * index *within the epoch* is a multiple of `window` (so at the first step of every epoch):
 *   ema:  score = decay * norm + (1 - decay) * cache      (decay weighs the current norms)
 *   diff: score = |cache - norm|
 *   allocate from `score`, then  cache <- (cache + norm) / window;
 * other steps change nothing. At evaluation, every batch allocates from the score of (norm, cache)
 * and then sets cache <- norm: evaluation changes the state, as in the reference. The cache starts
 * at zero. Where the reference fixes the rounding with a random group, attnc uses the deterministic
 * rule of docs/allocation.md.
 */
export type TrackIR = { kind: 'ema'; decay: number; rule: 'attnc' | 'paper' } | { kind: 'diff'; rule: 'attnc' | 'paper' };

/**
 * PGQA: noise subtracted from the grouped attention output. The noise is drawn per row, standardised,
 * then rescaled to that row's mean and std and multiplied by `scale`.
 */
export interface PerturbIR {
  distribution: 'gaussian' | 'uniform';
  scale: number;
  /** 'output': each head's softmax(QK^T)V rows (the paper); 'scores': the pre-softmax logits. */
  at: 'output' | 'scores';
  during: 'train' | 'always';
}

export type DataIR =
  | { kind: 'mnist' | 'fashion_mnist'; path: string | null }
  | { kind: 'idx'; path: string }
  | { kind: 'cifar10' | 'cifar100'; path: string }
  | { kind: 'folder' | 'tiny_imagenet' | 'food101'; path: string }
  | { kind: 'synthetic'; train: number; test: number };

export type AugmentIR =
  | { kind: 'flip'; p: number }
  | { kind: 'crop'; padding: number }
  | { kind: 'randaugment'; n: number; magnitude: number };

export interface RunIR {
  name: string;
  span: SourceSpan;
  /** The name of a model in IRDocument.models. */
  model: string;
  data: DataIR;
  /** Resize the images to the model's input when the data differs. */
  augment: AugmentIR[];
  /** Per-channel mean and std applied after scaling pixels to [0, 1]. */
  normalize: { mean: number[]; std: number[] };
  /** Exactly one of epochs and steps is set; the other is null. */
  epochs: number | null;
  steps: number | null;
  batch: number;
  /** Images per forward/backward pass; gradients are accumulated over batch / microBatch passes. */
  microBatch: number;
  seed: number;
  optimizer:
    | { kind: 'adamw'; lr: number; weightDecay: number; beta1: number; beta2: number; eps: number }
    | { kind: 'sgd'; lr: number; momentum: number; weightDecay: number };
  schedule: { kind: 'cosine' | 'linear' | 'constant'; warmupSteps: number; minLr: number };
  labelSmoothing: number;
  /** Clip the global gradient norm to this value; null: no clipping. */
  clipGrad: number | null;
  eval: { everyEpochs: number; batch: number };
  /** Where the weights start, the head excepted; absent: fresh weights (IR documents before it had none). */
  init?: InitIR;
}

/**
 * A run that starts from other weights: the output of another run of the document (`attnc train`
 * finds it in runs/RUN/, or trains it first with --with-deps) or a checkpoint file (relative to the
 * spec's folder). `convert` mean-pools the K/V heads of an MHA source into kvHeads groups first, as
 * `attnc convert` does. `head`: 'keep' when the source is a run that trained the same classes on the
 * same data (up-training), else 'fresh' (fine-tuning on other data, or a file): freshly initialised.
 */
export type InitIR = ({ run: string; file?: undefined } | { file: string; run?: undefined }) & { convert: { kvHeads: number } | null; head: 'keep' | 'fresh' };

/** A named grid of runs to compare: every model x every seed, each run otherwise as its base run. */
export interface ExperimentIR {
  name: string;
  span: SourceSpan;
  base: string;
  /** `run`: the run of the document this grid run trains as, when a sweep sets run fields (absent: `base`). */
  runs: { name: string; model: string; seed: number; run?: string }[];
}
