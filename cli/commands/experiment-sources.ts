// The runs an experiment's grid starts from (`init run NAME` in its base run, and that run's sources):
// trained once per seed of the grid, sources first, into OUT/sources/NAME/seedN, before the grid; each
// grid run is then told where its seed's sources are (attnc train --from NAME=DIR). docs/experiments.md.
import { join } from 'node:path';
import type { ExperimentIR, IRDocument, RunIR } from '../../compiler/ir/types.js';
import { initChain } from '../../compiler/init-runs.js';
import { ExperimentError, lengthArgs, runState, type Length } from '../../runtime/experiment/plan.js';
import { applyOverrides, modelOf } from '../../runtime/train/runs.js';
import { fromArgs } from './train-start.js';

/** The runs some run of the grid starts from, directly or down the chain, sources first. */
export function gridSources(doc: IRDocument, exp: ExperimentIR): RunIR[] {
  const out: RunIR[] = [];
  for (const name of new Set(exp.runs.map((r) => r.run ?? exp.base))) {
    for (const source of initChain(doc.runs, name)) if (!out.includes(source)) out.push(source);
  }
  return out;
}

export interface SourcesOptions {
  doc: IRDocument;
  file: string;
  outDir: string;
  /** The command line's --epochs/--steps (sources otherwise train to their own length). */
  length: Length | null;
  resume: boolean;
  /** attnc train with these arguments (--backend and --quiet added by the caller); its exit code. */
  train: (args: string[]) => Promise<number>;
  say: (line: string) => void;
  shown: (p: string) => string;
}

/** Where seed `seed`'s sources go: OUT/sources/NAME/seedN, as --from arguments. */
export function sourceFolders(sources: RunIR[], seed: number, outDir: string): Map<string, string> {
  return new Map(sources.map((s) => [s.name, join(outDir, 'sources', s.name, `seed${seed}`)]));
}

/** Trains every source for every seed that lacks it; ExperimentError when one fails or is stopped part way without --resume. */
export async function trainSources(sources: RunIR[], seeds: number[], o: SourcesOptions): Promise<void> {
  for (const seed of seeds) {
    const from = sourceFolders(sources, seed, o.outDir);
    for (const source of sources) {
      const dir = from.get(source.name)!;
      const run = applyOverrides(source, { epochs: o.length?.epochs, steps: o.length?.steps, seed });
      const state = await runState(dir, { run, model: modelOf(o.doc, source, o.file) }, o.shown(dir));
      if (state.kind === 'complete') continue;
      if (state.kind === 'partial' && !o.resume) throw new ExperimentError(`${o.shown(dir)} (source run '${source.name}', seed ${seed}) was stopped at step ${state.step}: continue it with --resume`);
      o.say(`source ${source.name}/seed${seed}: ${state.kind === 'new' ? 'training' : 'resuming'} into ${o.shown(dir)}/`);
      const code = await o.train([o.file, '--run', source.name, '--seed', String(seed), '--out', dir, ...(o.length ? lengthArgs(o.length) : []), ...(state.kind === 'partial' ? ['--resume'] : []), ...fromArgs(from)]);
      if (code !== 0) throw new ExperimentError(`source run '${source.name}' (seed ${seed}) did not finish (exit code ${code}); the grid runs that start from it were not trained`);
    }
  }
}
