// Pass 5: lower checked, resolved declarations to the IR, making every default explicit.
// Defaults live here, next to the IR they fill; docs/language.md states the same values (schema.ts
// carries their doc strings). `compat paper` changes the defaults, never an explicit setting.
import type { Span } from '../core/span.js';
import type { CheckedBlock } from './check.js';
import { datasetNormalization, fitNormalization, IMAGENET_NORMALIZATION } from './datasets.js';
import type {
  InitIR,
  AllocationIR, AttentionIR, AttentionVariant, AugmentIR, DataIR, ExperimentIR, LayerIR, ModelIR, PerturbIR, RunIR, SourceSpan, TrackIR,
} from './ir/types.js';
import { scoreFromArgs, type ScoreKind } from './ir/scores.js';
import { effectiveLayers, modelSetting, type EffectiveLayer, type ResolvedModel } from './models.js';
import type { Choice, Width } from './values.js';

export function sourceSpan(s: Span): SourceSpan {
  return { file: s.file, line: s.line, col: s.col, endLine: s.endLine, endCol: s.endCol };
}

const arg = <T>(c: Choice | undefined, name: string, fallback: T): T => (c && name in c.args ? (c.args[name] as T) : fallback);

function lowerAllocation(choice: Choice | undefined, paper: boolean): AllocationIR {
  if (!choice || choice.option === 'uniform') return { policy: 'uniform' };
  const trackChoice = choice.args.track as Choice | undefined;
  let track: TrackIR | null = null;
  if (trackChoice?.option === 'ema') track = { kind: 'ema', decay: arg(trackChoice, 'decay', 0.9), rule: paper ? 'paper' : 'attnc' };
  if (trackChoice?.option === 'diff') track = { kind: 'diff', rule: paper ? 'paper' : 'attnc' };
  return {
    policy: 'scored',
    score: scoreFromArgs(choice.option as ScoreKind, choice.args),
    // The reference min-max scales for KDGQA only; its DGQA shares out the tracked norms as they are.
    scale: arg(choice, 'scale', paper && !track ? 'minmax' : 'none'),
    rounding: arg(choice, 'rounding', paper ? 'paper' : 'largest_remainder'),
    min: arg(choice, 'min', paper ? 0 : 1),
    scope: arg(choice, 'scope', 'batch'),
    eval: arg(choice, 'eval', track && !paper ? 'frozen' : 'recompute'),
    track,
    window: track ? arg(choice, 'window', 300) : null,
    init: arg(choice, 'init', 'uniform'),
  };
}

function lowerPerturb(choice: Choice | undefined, paper: boolean): PerturbIR | null {
  if (!choice || choice.option === 'none') return null;
  return {
    distribution: choice.option as PerturbIR['distribution'],
    scale: arg(choice, 'scale', 1.0),
    at: arg(choice, 'at', 'output'),
    during: arg(choice, 'during', paper ? 'always' : 'train'),
  };
}

/** The report label of an attention, from what decides its behaviour (the IR checks use it too). */
export function variantOf(heads: number, kvHeads: number, allocation: AllocationIR, perturb: PerturbIR | null): AttentionVariant {
  if (perturb) return 'pgqa';
  if (allocation.policy === 'scored') return allocation.track ? 'dgqa' : 'kdgqa';
  return kvHeads === heads ? 'mha' : kvHeads === 1 ? 'mqa' : 'gqa';
}

function lowerAttention(layer: EffectiveLayer, dim: number): AttentionIR {
  const heads = layer.heads!.value;
  const kvHeads = layer.kvHeads?.value ?? heads;
  const paper = layer.compat?.value === 'paper';
  const allocation = lowerAllocation(layer.allocate?.value, paper);
  const perturb = lowerPerturb(layer.perturb?.value, paper);
  return {
    variant: variantOf(heads, kvHeads, allocation, perturb),
    heads, kvHeads, headDim: dim / heads,
    compat: paper ? 'paper' : 'none',
    allocation, perturb,
    span: sourceSpan(layer.attentionSpan),
  };
}

function mlpHidden(width: Width | undefined, dim: number): number {
  if (!width) return 4 * dim;
  return 'ratio' in width ? Math.floor(width.ratio * dim) : width.width;
}

/** Lowers a model that has passed every check (semantics.ts guarantees the fields used here). */
export function lowerModel(m: ResolvedModel): ModelIR {
  const get = <T>(name: string, fallback: T): T => modelSetting<T>(m, name)?.value ?? fallback;
  const [height, width, channels = 3] = get<number[]>('image', []);
  const patch = get('patch', 1);
  const dim = get('dim', 1);
  const depth = get('depth', 1);
  const pool = get<'cls' | 'mean'>('pool', 'cls');
  const norm = modelSetting<Choice>(m, 'norm')?.value;
  const dropPath = get('drop_path', 0);
  const patches = (height! / patch) * (width! / patch);
  const layers: LayerIR[] = effectiveLayers(m, depth).map((layer) => ({
    index: layer.index,
    span: sourceSpan(layer.span),
    attention: lowerAttention(layer, dim),
    mlp: { hidden: mlpHidden(layer.mlp?.value, dim), activation: 'gelu' },
    // timm: torch.linspace(0, drop_path_rate, depth)
    dropPath: depth > 1 ? (dropPath * layer.index) / (depth - 1) : 0,
  }));
  return {
    name: m.name, extends: m.chain, span: sourceSpan(m.decl.nameSpan),
    image: { height: height!, width: width!, channels },
    patch, patches, tokens: patches + (pool === 'cls' ? 1 : 0),
    dim, depth, classes: get('classes', 1), pool,
    norm: { kind: 'layernorm', eps: arg(norm, 'eps', 1e-6) },
    qkvBias: get('qkv_bias', true),
    dropout: get('dropout', 0), attnDropout: get('attn_dropout', 0),
    layers,
  };
}

export function lowerData(c: Choice | undefined): DataIR {
  if (!c) return { kind: 'mnist', path: null };
  switch (c.option) {
    case 'mnist':
    case 'fashion_mnist': return { kind: c.option, path: c.path ?? null };
    case 'synthetic': return { kind: 'synthetic', train: arg(c, 'train', 2048), test: arg(c, 'test', 512) };
    default: return { kind: c.option as 'idx' | 'cifar10' | 'cifar100' | 'folder' | 'tiny_imagenet' | 'food101', path: c.path! };
  }
}

function lowerAugment(items: Choice[]): AugmentIR[] {
  return items.map((c): AugmentIR => {
    if (c.option === 'flip') return { kind: 'flip', p: arg(c, 'p', 0.5) };
    if (c.option === 'crop') return { kind: 'crop', padding: arg(c, 'padding', 4) };
    return { kind: 'randaugment', n: arg(c, 'n', 2), magnitude: arg(c, 'magnitude', 9) };
  });
}

function lowerNormalize(c: Choice | undefined, data: DataIR, channels: number): RunIR['normalize'] {
  const all = (x: number) => Array.from({ length: channels }, () => x);
  switch (c?.option ?? 'dataset') {
    case 'none': return { mean: all(0), std: all(1) };
    case 'imagenet': return fitNormalization(IMAGENET_NORMALIZATION, channels);
    // mean and std are required arguments (schema.ts): the checker has seen both.
    case 'mean_std': return { mean: all(c!.args.mean as number), std: all(c!.args.std as number) };
    default: return datasetNormalization(data.kind, channels);
  }
}

export function lowerRun(name: string, nameSpan: Span, run: CheckedBlock, model: ModelIR, init: InitIR | null): RunIR {
  const one = <T>(field: string): T | undefined => run.fields.get(field)?.values?.[0] as T | undefined;
  const data = lowerData(one<Choice>('data'));
  const batch = one<number>('batch') ?? 128;
  const steps = one<number>('steps') ?? null;
  const opt = one<Choice>('optimizer');
  const sched = one<Choice>('schedule');
  const evalBlock = run.fields.get('eval')?.block;
  const evalOne = (f: string) => evalBlock?.fields.get(f)?.values?.[0] as number | undefined;
  return {
    name, span: sourceSpan(nameSpan), model: model.name, data,
    augment: lowerAugment((run.fields.get('augment')?.values ?? []) as Choice[]),
    normalize: lowerNormalize(one<Choice>('normalize'), data, model.image.channels),
    epochs: steps === null ? (one<number>('epochs') ?? 1) : null,
    steps,
    batch, microBatch: one<number>('micro_batch') ?? batch,
    seed: one<number>('seed') ?? 0,
    optimizer: opt?.option === 'sgd'
      ? { kind: 'sgd', lr: arg(opt, 'lr', 0.1), momentum: arg(opt, 'momentum', 0.9), weightDecay: arg(opt, 'weight_decay', 0) }
      : { kind: 'adamw', lr: arg(opt, 'lr', 1e-3), weightDecay: arg(opt, 'weight_decay', 0.05), beta1: arg(opt, 'beta1', 0.9), beta2: arg(opt, 'beta2', 0.999), eps: arg(opt, 'eps', 1e-8) },
    schedule: { kind: (sched?.option ?? 'cosine') as RunIR['schedule']['kind'], warmupSteps: arg(sched, 'warmup', 0), minLr: arg(sched, 'min_lr', 0) },
    labelSmoothing: one<number>('label_smoothing') ?? 0,
    clipGrad: one<number>('clip_grad') ?? null,
    eval: { everyEpochs: evalOne('every') ?? 1, batch: evalOne('batch') ?? 256 },
    ...(init ? { init } : {}),
  };
}

/**
 * The grid: every model (swept points included, already lowered under their own names) as every run
 * (the base run, or the runs a sweep of run fields derived from it) x every seed. A grid run is named
 * EXPERIMENT/LABEL/seedN, LABEL the model's name and the run's swept values.
 */
export function lowerExperiment(name: string, nameSpan: Span, exp: CheckedBlock, base: RunIR, grid: { model: string; run: string | null; label: string }[]): ExperimentIR {
  const seeds = (exp.fields.get('seeds')?.values ?? []) as number[];
  const runs: ExperimentIR['runs'] = [];
  for (const { model, run, label } of grid) {
    for (const seed of seeds.length ? seeds : [base.seed]) runs.push({ name: `${name}/${label}/seed${seed}`, model, seed, ...(run ? { run } : {}) });
  }
  return { name, span: sourceSpan(nameSpan), base: base.name, runs };
}
