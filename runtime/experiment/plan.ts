// Which experiment of a spec to run, the runs of its grid, where each goes, and how far each got.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ExperimentIR, IRDocument, ModelIR, RunIR } from '../../compiler/ir/types.js';
import { applyOverrides, checkResumable, modelOf, selectRun } from '../train/index.js';
import { metaAsCheckpoint, readCheckpointMeta } from './checkpoint-meta.js';

/** A mistake in what the user asked for: printed as is, exit 1. */
export class ExperimentError extends Error {}

/**
 * How long every run of the grid trains: the command line's --epochs/--steps, else the base run's;
 * `own` when a sweep gives the runs different lengths (each trains to its own).
 */
export type Length = { epochs: number; steps?: undefined; own?: undefined } | { steps: number; epochs?: undefined; own?: undefined } | { own: true; epochs?: undefined; steps?: undefined };

/** The --epochs/--steps arguments that train a run to `length` (none for `own`). */
export function lengthArgs(length: Length): string[] {
  return length.epochs !== undefined ? ['--epochs', String(length.epochs)] : length.steps !== undefined ? ['--steps', String(length.steps)] : [];
}

export interface GridRun {
  /** The experiment run's name, 'exp/LABEL/seedN': what `attnc train --run` takes. */
  name: string;
  /** LABEL: the model's name, and the values a sweep of run fields set (`tiny__lr_0_001`); the report's rows. */
  model: string;
  seed: number;
  /** The run's folder relative to the experiment's: LABEL/seedN. */
  dir: string;
}

/** How far a run's folder got: nothing yet, stopped part way (resumable), or trained to its length. */
export type RunState = { kind: 'new' } | { kind: 'partial'; step: number } | { kind: 'complete'; step: number };

export function selectExperiment(doc: IRDocument, name: string | undefined, file: string): ExperimentIR {
  const names = doc.experiments.map((e) => e.name);
  if (doc.experiments.length === 0) {
    throw new ExperimentError(`${file} has no experiment block; add one (docs/language.md, "Experiments"): experiment NAME { train RUN  models A, B  seeds 0, 1 }`);
  }
  if (name === undefined) {
    if (doc.experiments.length === 1) return doc.experiments[0]!;
    throw new ExperimentError(`${file} has ${names.length} experiments: ${names.join(', ')} — choose one with --name NAME`);
  }
  const hit = doc.experiments.find((e) => e.name === name);
  if (!hit) throw new ExperimentError(`${file} has no experiment '${name}'; its experiments: ${names.join(', ')}`);
  return hit;
}

export function gridRuns(exp: ExperimentIR): GridRun[] {
  return exp.runs.map((r) => {
    const label = r.name.slice(exp.name.length + 1, r.name.lastIndexOf('/'));
    return { name: r.name, model: label, seed: r.seed, dir: join(label, `seed${r.seed}`) };
  });
}

/** The runs of the models named by --only (all without it); an unknown name lists the experiment's models. */
export function onlyModels(runs: GridRun[], only: string[], experiment: string): GridRun[] {
  if (only.length === 0) return runs;
  const models = [...new Set(runs.map((r) => r.model))];
  const unknown = only.filter((m) => !models.includes(m));
  if (unknown.length) throw new ExperimentError(`experiment '${experiment}' has no model ${unknown.map((m) => `'${m}'`).join(', ')}; its models: ${models.join(', ')}`);
  return runs.filter((r) => only.includes(r.model));
}

export function baseLength(doc: IRDocument, exp: ExperimentIR, file: string): Length {
  const base = doc.runs.find((r) => r.name === exp.base);
  if (!base) throw new ExperimentError(`${file}: experiment '${exp.name}' names base run '${exp.base}', which does not exist`);
  const lengthOf = (r: RunIR) => (r.steps !== null ? `s${r.steps}` : `e${r.epochs}`);
  const swept = exp.runs.some((g) => g.run !== undefined && lengthOf(doc.runs.find((r) => r.name === g.run) ?? base) !== lengthOf(base));
  if (swept) return { own: true };
  return base.steps !== null ? { steps: base.steps } : { epochs: base.epochs! };
}

/** The run and model exactly as `attnc train --run NAME` with this length trains them. */
export function trainedRun(doc: IRDocument, run: GridRun, length: Length, file: string): { run: RunIR; model: ModelIR } {
  const specRun = selectRun(doc, run.name, file);
  return { run: applyOverrides(specRun, { epochs: length.epochs, steps: length.steps }), model: modelOf(doc, specRun, file) };
}

/**
 * Reads DIR/last.safetensors's metadata. A folder holding a checkpoint of another model or run (the
 * spec changed since, or --out points at another experiment) is refused, rather than reported as if
 * it belonged to this grid.
 */
export async function runState(dir: string, trained: { run: RunIR; model: ModelIR }, shown: string): Promise<RunState> {
  const last = join(dir, 'last.safetensors');
  if (!existsSync(last)) return { kind: 'new' };
  const meta = await readCheckpointMeta(last);
  const state = meta.trainState;
  if (!state) throw new ExperimentError(`${shown}/last.safetensors has no training state: it was not written by attnc train; move it away or choose another --out`);
  const shared = sharedRunName(meta.run?.name, trained.run.name);
  checkResumable(metaAsCheckpoint(meta), `${shown}/last.safetensors`, trained.model, shared ? { ...trained.run, name: shared } : trained.run);
  const { steps, epochs } = trained.run;
  const done = steps !== null ? state.step >= steps : state.epoch >= epochs!;
  if (!done && shared) {
    throw new ExperimentError(`${shown} holds run '${shared}' of another experiment, stopped at step ${state.step}: finish it there (attnc experiment ... --resume), then this grid reuses it`);
  }
  return done ? { kind: 'complete', step: state.step } : { kind: 'partial', step: state.step };
}

/**
 * Experiments of one study share runs: a folder (a link or a copy) holding the same model, settings and
 * seed trained by another experiment, 'other/MODEL/seedN' where this grid has 'exp/MODEL/seedN', is
 * this grid's run too (a run's name is a label: nothing it computes depends on it). The name that
 * differs is returned; undefined when the names are equal or are not two grid runs of one model and seed.
 */
export function sharedRunName(saved: string | undefined, wanted: string): string | undefined {
  if (saved === undefined || saved === wanted) return undefined;
  const tail = (name: string) => name.slice(name.indexOf('/'));
  const isGridRun = (name: string) => name.split('/').length === 3;
  return isGridRun(saved) && isGridRun(wanted) && tail(saved) === tail(wanted) ? saved : undefined;
}
