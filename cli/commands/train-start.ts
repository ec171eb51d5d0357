// `attnc train` of a run whose spec says `init`: the runs it starts from (its source, that source's
// source, ...) must have been trained to their length in their folders (runs/NAME, or --from
// NAME=DIR); with --with-deps the missing ones are trained first, sources first, each by attnc train
// itself. Then the start is read (and converted) for the trainer. docs/training.md, "Pipelines".
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { readCheckpointMeta } from '../../runtime/experiment/checkpoint-meta.js';
import type { IRDocument, ModelIR, RunIR } from '../../compiler/ir/types.js';
import { initChain } from '../../compiler/init-runs.js';
import { runState, type RunState } from '../../runtime/experiment/plan.js';
import type { Checkpoint } from '../../runtime/checkpoint/names.js';
import { TrainError } from '../../runtime/train/errors.js';
import { applyOverrides, dataBaseDir, modelOf, type RunOverrides } from '../../runtime/train/runs.js';
import { missingSource, readStart, sourceDir, startFile } from '../../runtime/train/start.js';
import type { Io } from '../io.js';

export interface StartOptions {
  file: string;
  doc: IRDocument;
  io: Io;
  /** --from NAME=DIR: where a source run's output is, instead of runs/NAME. */
  from: ReadonlyMap<string, string>;
  withDeps: boolean;
  /** --epochs/--steps and --seed: the length and seed the sources are trained with (and checked against); else their own. */
  overrides: RunOverrides;
  /** What a source's attnc train is also given: --backend, --quiet. */
  passOn: string[];
  /** attnc train in-process, with these arguments; its exit code. */
  train: (args: string[]) => Promise<number>;
  say: (line: string) => void;
}

/** --from NAME=DIR (repeatable) as a map; UserError-worthy text for a malformed one. */
export function parseFrom(values: string[]): Map<string, string> | string {
  const out = new Map<string, string>();
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq < 1 || eq === v.length - 1) return `--from takes RUN=DIR (the folder run RUN trained into), got '${v}'`;
    out.set(v.slice(0, eq), v.slice(eq + 1));
  }
  return out;
}

export function fromArgs(from: ReadonlyMap<string, string>): string[] {
  return [...from].flatMap(([name, dir]) => ['--from', `${name}=${dir}`]);
}

/**
 * Makes sure the run `run` starts from is trained, looking down the chain only as far as a source is
 * complete; with --with-deps trains the missing ones, sources first. Without it, names the command.
 */
export async function ensureSources(run: RunIR, o: StartOptions): Promise<void> {
  const shown = (p: string) => relative(o.io.cwd, p) || '.';
  const { epochs, steps, seed } = o.overrides;
  const lengthArgs = [
    ...(epochs !== undefined ? ['--epochs', String(epochs)] : steps !== undefined ? ['--steps', String(steps)] : []),
    ...(seed !== undefined ? ['--seed', String(seed)] : []),
  ];
  // From the run's own start (an experiment run is not among the document's runs, but starts as its base run).
  const first = run.init?.run !== undefined ? o.doc.runs.find((r) => r.name === run.init!.run) : undefined;
  const chain = first ? [...initChain(o.doc.runs, first.name), first] : [];
  const missing: { source: RunIR; needer: string; dir: string; state: Exclude<RunState, { kind: 'complete' }>; args: string[] }[] = [];
  for (let i = chain.length - 1; i >= 0; i--) {
    const source = chain[i]!;
    const dir = sourceDir(source.name, { cwd: o.io.cwd, from: o.from });
    const state = await runState(dir, { run: await expectedSource(source, dir, o), model: modelOf(o.doc, source, o.file) }, shown(dir));
    if (state.kind === 'complete') break;
    const dirArgs = o.from.has(source.name) ? ['--out', o.from.get(source.name)!] : [];
    missing.unshift({ source, needer: chain[i + 1]?.name ?? run.name, dir, state, args: [o.file, '--run', source.name, ...dirArgs, ...lengthArgs] });
  }
  if (missing.length && !o.withDeps) {
    const direct = missing[missing.length - 1]!;
    throw missingSource(direct.needer, direct.source.name, shown(join(direct.dir, 'last.safetensors')), direct.state, direct.args);
  }
  for (const { source, needer, dir, state } of missing) {
    o.say(`run '${needer}' starts from run '${source.name}': ${state.kind === 'new' ? 'training it first' : `resuming it from step ${state.step} first`}, into ${shown(dir)}/`);
    const code = await o.train([o.file, '--run', source.name, ...lengthArgs, '--out', dir, ...(state.kind === 'partial' ? ['--resume'] : []), ...fromArgs(o.from), ...o.passOn]);
    if (code !== 0) throw new TrainError(`run '${source.name}', which run '${needer}' starts from, did not finish (exit code ${code}); nothing more was trained`);
  }
}

/**
 * The source run as its folder should hold it: with the command line's length and seed; a folder
 * named by --from is taken at the length and seed it was trained with (attnc experiment trains a
 * source once per seed and names each folder so).
 */
async function expectedSource(source: RunIR, dir: string, o: StartOptions): Promise<RunIR> {
  const last = join(dir, 'last.safetensors');
  if (!o.from.has(source.name) || !existsSync(last)) return applyOverrides(source, o.overrides);
  const saved = (await readCheckpointMeta(last)).run;
  if (!saved) return source;
  return applyOverrides(source, { ...(saved.steps !== null ? { steps: saved.steps } : { epochs: saved.epochs ?? 1 }), seed: saved.seed });
}

/** The start of `run` as its spec says, read (and converted) for the trainer. */
export async function readSpecStart(run: RunIR, model: ModelIR, o: Pick<StartOptions, 'file' | 'doc' | 'io' | 'from'>): Promise<{ file: string; checkpoint: Checkpoint; keepHead: boolean }> {
  const init = run.init!;
  const path = startFile(init, { cwd: o.io.cwd, specDir: dataBaseDir(o.file, o.doc, o.io.cwd), from: o.from });
  return readStart({ ...run, init }, model, path, relative(o.io.cwd, path) || path);
}
