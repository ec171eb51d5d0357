// Pass 4: rules that span several fields, registered per node kind and run on resolved models and runs.
// Each rule reports at the span of the value that is wrong (often in a parent model or an override).
import type { Span } from '../core/span.js';
import type { CheckedBlock } from './check.js';
import { checkRequired } from './check.js';
import { DATASETS } from './datasets.js';
import { diag, type Diagnostic } from '../core/diagnostics.js';
import { covers, declaringModel, modelSetting, type EffectiveLayer, type ResolvedModel, type Setting } from './models.js';
import type { Choice, LayerSelector } from './values.js';
import { SCORES, type ScoreKind } from './ir/scores.js';

type Report = (d: Diagnostic) => void;
type ModelRule = (m: ResolvedModel, layers: EffectiveLayer[], report: Report) => void;

/** The divisors of n up to `upTo` (suggestions only: the loop stays short whatever n is). */
const divisors = (n: number, upTo = 64) => Array.from({ length: Math.min(n, upTo) }, (_, i) => i + 1).filter((d) => n % d === 0);

/**
 * Where to report two settings that break a rule together: at the one written nearer the model (a
 * child's value rather than the parent's it conflicts with), `first` when they are equally near.
 * When they come from different declarations the message names the model and the other setting is
 * related information.
 */
function conflict(m: ResolvedModel, first: [string, Setting<unknown>], second: [string, Setting<unknown>], d: (at: Span) => Diagnostic): Diagnostic {
  // A setting no declaration of the lineage holds is an experiment's sweep value: the nearest of all.
  const rank = (s: Setting<unknown>) => { const decl = declaringModel(m, s.span); return decl ? m.lineage.indexOf(decl) : -1; };
  const [[, at], [otherName, other]] = rank(second[1]) < rank(first[1]) ? [second, first] : [first, second];
  const out = d(at.span);
  const atDecl = declaringModel(m, at.span);
  const otherDecl = declaringModel(m, other.span);
  if (atDecl !== otherDecl) {
    out.message = `model '${m.name}': ${out.message}`;
    out.related = [{ span: other.span, message: `${otherName} ${String(other.value)} is set here${otherDecl ? `, in model '${otherDecl.name}'` : ''}` }];
  }
  return out;
}

const requiredFields: ModelRule = (m, _layers, report) => {
  const diags: Diagnostic[] = [];
  checkRequired('model', (f) => m.fields.has(f), { kind: 'model', name: m.name, span: m.decl.nameSpan }, diags);
  if (m.fields.has('attention')) checkRequired('attention', (f) => m.attention.has(f), { kind: 'model', name: m.name, span: m.fields.get('attention')!.field.nameSpan }, diags);
  diags.forEach(report);
};

const patchDividesImage: ModelRule = (m, _layers, report) => {
  const image = modelSetting<number[]>(m, 'image');
  const patch = modelSetting<number>(m, 'patch');
  if (!image || !patch) return;
  const [h, w] = image.value as [number, number];
  for (const [side, size] of [['height', h], ['width', w]] as const) {
    if (size % patch.value !== 0) {
      const near = divisors(size).filter((d) => d > 1 && d < size);
      const hint = near.length ? ` (patch sizes that divide ${size}: ${near.join(', ')})` : '';
      report(conflict(m, ['patch', patch], ['image', { value: image.value.join(' x '), span: image.span }], (at) => diag('PatchDoesNotDivideImage', at, [patch.value, side, size, hint])));
    }
  }
};

/** Loaders and normalisation know grey and RGB images only. */
const imageChannels: ModelRule = (m, _layers, report) => {
  const image = modelSetting<number[]>(m, 'image');
  const channels = image?.value[2];
  if (image && channels !== undefined && channels !== 1 && channels !== 3) {
    report(diag('OutOfRange', image.span, ['image channels', '1 (grey) or 3 (RGB)', channels]));
  }
};

const layerRanges: ModelRule = (m, layers, report) => {
  const depth = modelSetting<number>(m, 'depth')?.value;
  for (const o of m.overrides) {
    for (const s of o.selectors) {
      if (s.from > s.to) report(diag('EmptyLayerRange', s.span, [s.from, s.to]));
      else if (depth !== undefined && (s.to >= depth || s.from < 0)) {
        report(diag('LayerRangeOutsideDepth', s.span, [s.from === s.to ? `${s.from}` : `${s.from}..${s.to}`, depth - 1, depth]));
      }
    }
  }
  // Two overrides that set the same field for the same layer: legal, but probably a mistake.
  for (let i = 0; i < m.overrides.length; i++) {
    for (let j = i + 1; j < m.overrides.length; j++) {
      const [a, b] = [m.overrides[i]!, m.overrides[j]!];
      const shared = [...b.attention.keys()].filter((k) => a.attention.has(k));
      if (a.mlp && b.mlp) shared.push('mlp');
      if (shared.length && layers.some((l) => covers(a, l.index) && covers(b, l.index))) {
        report(diag('OverlappingLayerOverride', b.selectors[0]!.span, [selectorText(b.selectors), shared.join(', '), selectorText(a.selectors), `line ${a.span.line}`]));
      }
    }
  }
};

function selectorText(s: LayerSelector[]): string {
  return s.map((x) => (x.from === x.to ? `${x.from}` : `${x.from}..${x.to}`)).join(', ');
}

const attentionShapes: ModelRule = (m, layers, report) => {
  const dim = modelSetting<number>(m, 'dim');
  for (const layer of layers) {
    const heads = layer.heads;
    if (!heads) continue;
    if (dim !== undefined && dim.value % heads.value !== 0) {
      const options = divisors(dim.value).filter((d) => d <= 64 && d > 1);
      report(conflict(m, ['heads', heads], ['dim', dim], (at) => diag('HeadsDoNotDivideDim', at, [heads.value, dim.value, ` (heads that divide ${dim.value}: ${options.join(', ')})`])));
    }
    const kv = layer.kvHeads;
    if (!kv) continue;
    if (kv.value < 1 || kv.value > heads.value) {
      report(conflict(m, ['kv_heads', kv], ['heads', heads], (at) => diag('KvHeadsOutOfRange', at, [kv.value, heads.value])));
      continue;
    }
    const policy = layer.allocate?.value.option ?? 'uniform';
    if (policy === 'uniform' && heads.value % kv.value !== 0) {
      const ok = divisors(heads.value).join(', ');
      // Point at whichever of the two a layers override changed: that is the edit that broke it.
      const modelHeads = m.attention.get('heads')?.field.values[0]?.span;
      const at = modelHeads && heads.span.offset !== modelHeads.offset ? heads.span : kv.span;
      report(diag('KvHeadsDoNotDivideHeads', at, [kv.value, heads.value, m.overrides.length ? ` (first in layer ${layer.index})` : '', ok]));
    }
    const allocate = layer.allocate?.value;
    if (allocate && allocate.option !== 'uniform') {
      const paper = layer.compat?.value === 'paper';
      const min = (allocate.args.min as number | undefined) ?? (paper ? 0 : 1);
      if (min * kv.value > heads.value) {
        report(diag('MinQueriesTooLarge', allocate.argSpans.min ?? kv.span, [min, kv.value, min * kv.value, heads.value]));
      }
    }
  }
};

/** `window` and `init` mean something only for a tracked (scored) allocation. */
const trackedOnlyOptions: ModelRule = (_m, layers, report) => {
  for (const layer of layers) {
    const a = layer.allocate?.value;
    if (!a || a.option === 'uniform') continue;
    const track = (a.args.track as Choice | undefined)?.option ?? 'none';
    const lagged = a.option in SCORES && SCORES[a.option as ScoreKind].lagged === true;
    if (lagged && a.args.scope === 'sample') {
      report(diag('GradientScoreScopeSample', a.argSpans.scope!, [a.option]));
      continue;
    }
    if (lagged && track !== 'none' && a.args.init === 'first_batch') report(diag('GradientScoreFirstBatch', a.argSpans.init!, [a.option]));
    if (track !== 'none') {
      if (a.args.scope === 'sample') report(diag('TrackedScopeSample', a.argSpans.scope!));
      continue;
    }
    for (const opt of ['window', 'init']) {
      if (a.argSpans[opt]) report(diag('OptionNeedsPolicy', a.argSpans[opt]!, [opt, `a tracked allocation: ${a.option}(track: ema(0.9), ...) or ${a.option}(track: diff, ...)`]));
    }
  }
};

const mlpWidth: ModelRule = (m, layers, report) => {
  const dim = modelSetting<number>(m, 'dim')?.value;
  if (dim === undefined) return;
  for (const layer of layers) {
    const w = layer.mlp;
    if (w && 'ratio' in w.value && Math.floor(w.value.ratio * dim) < 1) report(diag('MlpTooSmall', w.span, [Math.floor(w.value.ratio * dim)]));
  }
};

/**
 * `compat paper` changes defaults, never what is written; where a layer's written perturbation
 * differs from the reference code's (uniform noise, at the output, at every pass) it warns, once per
 * setting however many layers share it.
 */
const compatPaperNoise: ModelRule = (_m, layers, report) => {
  const seen = new Set<string>();
  const warn = (span: Span, what: string) => {
    const key = `${span.file}:${span.line}:${span.col}`;
    if (!seen.has(key)) report(diag('CompatPaperNoise', span, [what]));
    seen.add(key);
  };
  for (const layer of layers) {
    const p = layer.perturb?.value;
    if (layer.compat?.value !== 'paper' || !p || p.option === 'none') continue;
    if (p.option === 'gaussian') warn(layer.perturb!.span, 'gaussian noise');
    if (p.args.at === 'scores' && p.argSpans.at) warn(p.argSpans.at, 'noise at the scores');
    if (p.args.during === 'train' && p.argSpans.during) warn(p.argSpans.during, 'noise in training only');
  }
};

export const MODEL_RULES: readonly ModelRule[] = [requiredFields, patchDividesImage, imageChannels, layerRanges, attentionShapes, trackedOnlyOptions, mlpWidth, compatPaperNoise];

/** Runs every model rule, reporting each distinct problem once (a range of layers shares a span). */
export function checkModel(m: ResolvedModel, layers: EffectiveLayer[], diags: Diagnostic[]): void {
  const seen = new Set<string>();
  const report: Report = (d) => {
    const key = `${d.code}@${d.span?.file}:${d.span?.offset}`;
    if (!seen.has(key)) { seen.add(key); diags.push(d); }
  };
  for (const rule of MODEL_RULES) rule(m, layers, report);
}

export interface RunContext { run: CheckedBlock; nameSpan: Span; name: string; model: ResolvedModel | null }
type RunRule = (r: RunContext, report: Report) => void;

const runRequired: RunRule = (r, report) => {
  const diags: Diagnostic[] = [];
  checkRequired('train', (f) => r.run.fields.has(f), { kind: 'train run', name: r.name, span: r.nameSpan }, diags);
  diags.forEach(report);
};

const epochsOrSteps: RunRule = (r, report) => {
  const [epochs, steps] = [r.run.fields.get('epochs'), r.run.fields.get('steps')];
  if (epochs && steps) report(diag('ConflictingFields', steps.field.nameSpan, ["set either 'epochs' or 'steps', not both"], 'steps counts optimizer steps; epochs counts passes over the data'));
};

const microBatch: RunRule = (r, report) => {
  const batch = (r.run.fields.get('batch')?.values?.[0] as number | undefined) ?? 128;
  const micro = r.run.fields.get('micro_batch');
  const m = micro?.values?.[0] as number | undefined;
  if (micro && m !== undefined && batch % m !== 0) report(diag('BatchNotDivisible', micro.field.values[0]!.span, [m, batch]));
};

const dataMatchesModel: RunRule = (r, report) => {
  const data = r.run.fields.get('data');
  const choice = data?.values?.[0] as Choice | undefined;
  const classes = r.model ? modelSetting<number>(r.model, 'classes') : undefined;
  const facts = choice ? DATASETS[choice.option] : undefined;
  if (facts && classes && classes.value !== facts.classes) {
    report(diag('DataClassesMismatch', data!.field.values[0]!.span, [r.model!.name, classes.value, choice!.option, facts.classes]));
  }
};

/** Optimizer steps of a run, when they are known before loading data (steps, or epochs of a known data set). */
function runSteps(r: RunContext): number | undefined {
  const one = <T>(f: string) => r.run.fields.get(f)?.values?.[0] as T | undefined;
  const steps = one<number>('steps');
  if (steps !== undefined) return steps;
  const data = one<Choice>('data');
  const images = data?.option === 'synthetic' ? ((data.args.train as number | undefined) ?? 2048) : DATASETS[data?.option ?? 'mnist']?.trainImages;
  if (images === undefined) return undefined;
  // The trainer drops the last partial batch (runtime/data/batcher.ts).
  return (one<number>('epochs') ?? 1) * Math.max(1, Math.floor(images / (one<number>('batch') ?? 128)));
}

const warmupFits: RunRule = (r, report) => {
  const schedule = r.run.fields.get('schedule')?.values?.[0] as Choice | undefined;
  const warmup = schedule?.args.warmup as number | undefined;
  const steps = warmup === undefined ? undefined : runSteps(r);
  if (warmup !== undefined && steps !== undefined && warmup >= steps) report(diag('WarmupTooLong', schedule!.argSpans.warmup!, [warmup, steps]));
};

export const RUN_RULES: readonly RunRule[] = [runRequired, epochsOrSteps, microBatch, dataMatchesModel, warmupFits];

/** An experiment's grid: a model or seed listed twice would train the same run twice. */
export function checkExperiment(exp: CheckedBlock, diags: Diagnostic[]): void {
  for (const field of ['models', 'seeds']) {
    const f = exp.fields.get(field);
    if (!f?.values) continue;
    const first = new Map<string, Span>();
    f.values.forEach((v, i) => {
      const key = typeof v === 'number' ? String(v) : (v as { name: string }).name;
      const span = f.field.values[i]!.span;
      const seen = first.get(key);
      if (seen) diags.push(diag('DuplicateGridEntry', span, [field === 'models' ? 'model' : 'seed', key, `line ${seen.line}, column ${seen.col}`]));
      else first.set(key, span);
    });
  }
}

export function checkRun(r: RunContext, diags: Diagnostic[]): void {
  for (const rule of RUN_RULES) rule(r, (d) => diags.push(d));
}
