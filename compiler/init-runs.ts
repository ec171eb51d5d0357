// Runs that start from other runs (`init run NAME [convert(kv_heads: N)]`) or from files: the checks
// the compiler makes of a start, on lowered models, and its IR. The order runs must train in, and the
// cycles the compiler refuses, are here too; runtime/train/pipeline.ts finds and trains the sources.
import { diag, type Diagnostic } from '../core/diagnostics.js';
import type { Span } from '../core/span.js';
import { conversionProblem, convertedModel, initMismatch } from './ir/convert.js';
import type { DataIR, InitIR, ModelIR, RunIR } from './ir/types.js';
import type { InitValue } from './values.js';

/** The run the start comes from, when it is a run of the document (null: it did not compile, already reported). */
export interface InitSource {
  run: RunIR;
  model: ModelIR;
}

/** K/V heads of every layer when they are all equal, else the first layer that differs from layer 0. */
function uniformKvHeads(m: ModelIR): { kvHeads: number; differs?: { layer: number; kvHeads: number } } {
  const kvHeads = m.layers[0]!.attention.kvHeads;
  const other = m.layers.find((l) => l.attention.kvHeads !== kvHeads);
  return other ? { kvHeads, differs: { layer: other.index, kvHeads: other.attention.kvHeads } } : { kvHeads };
}

/** The model with kv_heads = heads in every layer: what an MHA file for it would hold. */
function asMha(m: ModelIR): ModelIR {
  return { ...m, layers: m.layers.map((l) => ({ ...l, attention: { ...l.attention, kvHeads: l.attention.heads } })) };
}

/**
 * Checks that `target` (the model run `runName` trains on `data`) can start as `init` says, and returns the
 * IR of the start; null with diagnostics when it cannot. `source` is null for a file (whose model is
 * known only when it is read, at train time) or for a run that did not compile.
 */
export function checkInit(init: InitValue, runName: string, target: ModelIR, data: DataIR, source: InitSource | null, diags: Diagnostic[]): InitIR | null {
  const before = diags.length;
  let kvHeads: number | null = null;
  if (init.convert) {
    const uniform = uniformKvHeads(target);
    kvHeads = init.convert.kvHeads ?? uniform.kvHeads;
    // A file's model is read at train time; until then its heads are the target's.
    const problem = source ? conversionProblem(source.model, kvHeads) : conversionProblem(asMha(target), kvHeads);
    const from = source?.model ?? target;
    const off = uniform.differs ?? (uniform.kvHeads !== kvHeads ? { layer: 0, kvHeads: uniform.kvHeads } : undefined);
    if (problem?.kind === 'not_mha') diags.push(diag('InitNotMha', init.convert.span, [source!.run.name, from.name, problem.layer, problem.kvHeads, problem.heads]));
    else if (problem) diags.push(diag('InitConvertDivides', init.convert.span, [kvHeads, problem.heads, source?.run.name ?? runName, from.name, problem.choices.join(', ')]));
    else if (off) diags.push(diag('InitConvertKvHeads', init.convert.span, [kvHeads, target.name, off.kvHeads, off.layer]));
  }
  if (source && diags.length === before) {
    const weights = kvHeads === null ? source.model : convertedModel(source.model, kvHeads);
    const mismatch = initMismatch(weights, target);
    if (mismatch) {
      const converted = kvHeads === null ? '' : `, converted to kv_heads ${kvHeads}`;
      diags.push(diag('InitIncompatible', init.span, [runName, target.name, source.run.name, source.model.name, converted, mismatch]));
    }
  }
  if (diags.length > before) return null;
  const convert = kvHeads === null ? null : { kvHeads };
  // Up-training goes on with the same task, so the head comes along; another data set gets a fresh one.
  const sameTask = source !== null && source.model.classes === target.classes && JSON.stringify(source.run.data) === JSON.stringify(data);
  return init.kind === 'run' ? { run: init.run.name, convert, head: sameTask ? 'keep' : 'fresh' } : { file: init.file, convert, head: 'fresh' };
}

/** `a -> b -> a`: the runs of a cycle of starts, as InitCycle says them. */
export function initCycle(stack: readonly string[], again: string, span: Span): Diagnostic {
  const from = stack.indexOf(again);
  return diag('InitCycle', span, [[...stack.slice(from), again].join(' -> ')]);
}

/**
 * The runs that must be trained before `name`, sources first: the run its `init` names, that run's
 * source, and so on (the compiler has refused cycles). Each appears once.
 */
export function initChain(runs: readonly RunIR[], name: string): RunIR[] {
  const byName = new Map(runs.map((r) => [r.name, r]));
  const chain: RunIR[] = [];
  for (let r = byName.get(name); r?.init?.run !== undefined; ) {
    const source = byName.get(r.init.run);
    if (!source || chain.includes(source)) break;
    chain.unshift(source);
    r = source;
  }
  return chain;
}
