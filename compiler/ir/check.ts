// The semantic checks of an IR document that passed its JSON Schema: the rules the compiler applies to
// a spec (semantics.ts), restated on the IR, plus what lowering guarantees (head_dim, patches, tokens,
// one layer per block). An IR document is a public input (checkpoints carry it), so `attnc compile
// x.ir.json`, `attnc train x.ir.json` and every other reader run these before a backend sees it.
// Each problem names its JSON pointer; the wording of the spec rules comes from the catalogue.
import { DATASETS } from '../datasets.js';
import { diag, type Diagnostic, type DiagnosticName } from '../../core/diagnostics.js';
import { variantOf } from '../lower.js';
import { SCORES } from './scores.js';
import type { IRDocument, LayerIR, ModelIR, RunIR } from './types.js';
import { conversionProblem, convertedModel, initMismatch } from './convert.js';

type Report = (pointer: string, message: string) => void;

/** A catalogue message (the same words as for a spec), to say what is wrong at a JSON pointer. */
const say = (name: DiagnosticName, args: (string | number)[]): string => diag(name, undefined, args).message;

function duplicates(items: { name: string }[], pointer: string, what: string, report: Report): void {
  const first = new Map<string, number>();
  items.forEach((item, i) => {
    const seen = first.get(item.name);
    if (seen !== undefined) report(`${pointer}/${i}/name`, `${what} '${item.name}' is already defined at ${pointer}/${seen}`);
    else first.set(item.name, i);
  });
}

function checkLayer(m: ModelIR, layer: LayerIR, at: string, report: Report): void {
  const a = layer.attention;
  if (m.dim % a.heads !== 0) report(`${at}/attention/heads`, say('HeadsDoNotDivideDim', [a.heads, m.dim, '']));
  else if (a.headDim !== m.dim / a.heads) report(`${at}/attention/headDim`, `headDim (${a.headDim}) must be dim / heads (${m.dim / a.heads})`);
  if (a.kvHeads > a.heads) return report(`${at}/attention/kvHeads`, say('KvHeadsOutOfRange', [a.kvHeads, a.heads]));
  const alloc = a.allocation;
  if (alloc.policy === 'uniform' && a.heads % a.kvHeads !== 0) report(`${at}/attention/kvHeads`, say('KvHeadsDoNotDivideHeads', [a.kvHeads, a.heads, '']));
  if (alloc.policy === 'scored') {
    if (alloc.min * a.kvHeads > a.heads) {
      report(`${at}/attention/allocation/min`, say('MinQueriesTooLarge', [alloc.min, a.kvHeads, alloc.min * a.kvHeads, a.heads]));
    }
    if ((alloc.track === null) !== (alloc.window === null)) report(`${at}/attention/allocation/window`, 'window is set exactly when the allocation is tracked');
    if (SCORES[alloc.score.kind].lagged && alloc.scope === 'sample') report(`${at}/attention/allocation/scope`, say('GradientScoreScopeSample', [alloc.score.kind]));
  }
  const variant = variantOf(a.heads, a.kvHeads, alloc, a.perturb);
  if (a.variant !== variant) report(`${at}/attention/variant`, `variant '${a.variant}' does not describe this attention, which is '${variant}'`);
}

function checkModel(m: ModelIR, at: string, report: Report): void {
  const { height, width } = m.image;
  if (height % m.patch !== 0) report(`${at}/patch`, say('PatchDoesNotDivideImage', [m.patch, 'height', height, '']));
  if (width % m.patch !== 0) report(`${at}/patch`, say('PatchDoesNotDivideImage', [m.patch, 'width', width, '']));
  const patches = Math.floor(height / m.patch) * Math.floor(width / m.patch);
  if (m.patches !== patches) report(`${at}/patches`, `patches (${m.patches}) must be (height / patch) x (width / patch) = ${patches}`);
  const tokens = patches + (m.pool === 'cls' ? 1 : 0);
  if (m.tokens !== tokens) report(`${at}/tokens`, `tokens (${m.tokens}) must be ${tokens}: the patches${m.pool === 'cls' ? ' and the class token' : ''}`);
  if (m.layers.length !== m.depth) report(`${at}/layers`, `there must be one layer per block: depth is ${m.depth}, layers has ${m.layers.length}`);
  m.layers.forEach((layer, j) => {
    if (layer.index !== j) report(`${at}/layers/${j}/index`, `layer ${j} has index ${layer.index}: layers are listed in order, from 0`);
    checkLayer(m, layer, `${at}/layers/${j}`, report);
  });
}

function checkRun(run: RunIR, models: Map<string, ModelIR>, at: string, report: Report): void {
  const m = models.get(run.model);
  if (!m) report(`${at}/model`, say('UnknownModel', [run.model, '']));
  if (run.batch % run.microBatch !== 0) report(`${at}/microBatch`, say('BatchNotDivisible', [run.microBatch, run.batch]));
  if ((run.epochs === null) === (run.steps === null)) report(`${at}/epochs`, 'exactly one of epochs and steps is set; the other is null');
  if (!m) return;
  for (const key of ['mean', 'std'] as const) {
    if (run.normalize[key].length !== m.image.channels) report(`${at}/normalize/${key}`, `${key} has ${run.normalize[key].length} values for a model of ${m.image.channels} channels`);
  }
  const facts = DATASETS[run.data.kind];
  if (facts && facts.classes !== m.classes) report(`${at}/data`, say('DataClassesMismatch', [m.name, m.classes, run.data.kind, facts.classes]));
}

/** A run's start from another run: that run exists, the starts make no cycle, and its weights fit (converted when said). */
function checkInit(run: RunIR, runs: Map<string, RunIR>, models: Map<string, ModelIR>, at: string, report: Report): void {
  const name = run.init?.run;
  if (name === undefined) return;
  const source = runs.get(name);
  if (!source) return report(`${at}/run`, say('UnknownRun', [name, '']));
  const chain = [run.name];
  for (let r: RunIR | undefined = source; r; r = r.init?.run !== undefined ? runs.get(r.init.run) : undefined) {
    if (chain.includes(r.name)) return report(`${at}/run`, say('InitCycle', [[...chain, r.name].join(' -> ')]));
    chain.push(r.name);
  }
  const [from, to] = [models.get(source.model), models.get(run.model)];
  if (!from || !to) return;
  const kvHeads = run.init!.convert?.kvHeads;
  const problem = kvHeads === undefined ? null : conversionProblem(from, kvHeads);
  if (problem?.kind === 'not_mha') return report(`${at}/convert`, say('InitNotMha', [source.name, from.name, problem.layer, problem.kvHeads, problem.heads]));
  if (problem) return report(`${at}/convert`, say('InitConvertDivides', [kvHeads!, problem.heads, source.name, from.name, problem.choices.join(', ')]));
  const mismatch = initMismatch(kvHeads === undefined ? from : convertedModel(from, kvHeads), to);
  if (mismatch) report(at, say('InitIncompatible', [run.name, to.name, source.name, from.name, kvHeads === undefined ? '' : `, converted to kv_heads ${kvHeads}`, mismatch]));
}

/** The semantic problems of a schema-valid IR document, as AT5004 diagnostics naming their JSON pointers. */
export function checkIrDocument(doc: IRDocument, file: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const report: Report = (pointer, message) => {
    const d = diag('IrInconsistent', undefined, [pointer, message]);
    d.file = file;
    out.push(d);
  };
  duplicates(doc.models, '/models', 'model', report);
  duplicates(doc.runs, '/runs', 'train run', report);
  duplicates(doc.experiments, '/experiments', 'experiment', report);
  const models = new Map(doc.models.map((m) => [m.name, m]));
  doc.models.forEach((m, i) => checkModel(m, `/models/${i}`, report));
  const runs = new Map(doc.runs.map((r) => [r.name, r]));
  doc.runs.forEach((r, i) => checkRun(r, models, `/runs/${i}`, report));
  doc.runs.forEach((r, i) => checkInit(r, runs, models, `/runs/${i}/init`, report));
  doc.experiments.forEach((e, i) => {
    if (!runs.has(e.base)) report(`/experiments/${i}/base`, say('UnknownRun', [e.base, '']));
    e.runs.forEach((r, j) => {
      if (!models.has(r.model)) report(`/experiments/${i}/runs/${j}/model`, say('UnknownModel', [r.model, '']));
      if (r.run !== undefined && !runs.has(r.run)) report(`/experiments/${i}/runs/${j}/run`, say('UnknownRun', [r.run, '']));
    });
  });
  return out;
}
