// Which run of a compiled spec to train, with the command line's overrides applied.
import { dirname, isAbsolute, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import type { IRDocument, ModelIR, RunIR } from '../../compiler/ir/types.js';
import { TrainError } from './errors.js';

/**
 * The run named `name`, or the spec's only train block. Experiment runs (`experiment` grids) are
 * trainable by their names too: the base run (or the run a sweep derived from it) with the
 * experiment's model and seed.
 */
export function selectRun(doc: IRDocument, name: string | undefined, file: string): RunIR {
  const experimentRuns = doc.experiments.flatMap((e) => e.runs.map((r) => ({ experiment: e, run: r })));
  const listing = (): string => {
    const names = doc.runs.map((r) => r.name);
    const grid = experimentRuns.map((r) => r.run.name);
    return `${names.length ? names.join(', ') : '(no train blocks)'}${grid.length ? `; experiment runs: ${grid.slice(0, 12).join(', ')}${grid.length > 12 ? ` and ${grid.length - 12} more` : ''}` : ''}`;
  };
  if (name === undefined) {
    if (doc.runs.length === 1) return doc.runs[0]!;
    if (doc.runs.length === 0) throw new TrainError(`${file} has no train block to run; add one (docs/language.md, "train") or give a spec that has one`);
    throw new TrainError(`${file} has ${doc.runs.length} runs: ${listing()} — choose one with --run NAME`);
  }
  const run = doc.runs.find((r) => r.name === name);
  if (run) return run;
  const hit = experimentRuns.find((r) => r.run.name === name);
  if (hit) {
    const baseName = hit.run.run ?? hit.experiment.base;
    const base = doc.runs.find((r) => r.name === baseName);
    if (!base) throw new TrainError(`${file}: experiment '${hit.experiment.name}' names run '${baseName}', which does not exist`);
    const run: RunIR = { ...base, name: hit.run.name, model: hit.run.model, seed: hit.run.seed };
    // A swept model converts to its own K/V heads (the compiler checked that every point can).
    const model = doc.models.find((m) => m.name === hit.run.model);
    if (run.init?.convert && model && hit.run.model !== base.model) run.init = { ...run.init, convert: { kvHeads: model.layers[0]!.attention.kvHeads } };
    return run;
  }
  throw new TrainError(`${file} has no run '${name}'; its runs: ${listing()} — pass one of those to --run`);
}

export function modelOf(doc: IRDocument, run: RunIR, file: string): ModelIR {
  const model = doc.models.find((m) => m.name === run.model);
  if (!model) throw new TrainError(`${file}: run '${run.name}' names model '${run.model}', which the spec does not define`);
  return model;
}

export interface RunOverrides {
  epochs?: number;
  steps?: number;
  seed?: number;
}

/** The run with --epochs / --steps (either replaces both fields) and --seed applied. */
export function applyOverrides(run: RunIR, o: RunOverrides): RunIR {
  if (o.epochs !== undefined && o.steps !== undefined) throw new TrainError('give --epochs or --steps, not both');
  const out: RunIR = { ...run };
  if (o.epochs !== undefined) Object.assign(out, { epochs: o.epochs, steps: null });
  if (o.steps !== undefined) Object.assign(out, { epochs: null, steps: o.steps });
  if (o.seed !== undefined) out.seed = o.seed;
  return out;
}

/**
 * The folder that relative data paths are relative to: the .attn file's. For an IR document, the
 * folder of the .attn file it was compiled from (its `source`, relative to the current folder as
 * `attnc compile` was given it) when that file is there, else the IR file's own folder.
 */
export function dataBaseDir(file: string, doc: IRDocument, cwd: string): string {
  const abs = resolve(cwd, file);
  if (!abs.endsWith('.json')) return dirname(abs);
  const source = isAbsolute(doc.source) ? doc.source : resolve(cwd, doc.source);
  return doc.source && existsSync(source) ? dirname(source) : dirname(abs);
}
