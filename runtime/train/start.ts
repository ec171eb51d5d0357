// Where a run's weights start when its spec says `init` (compiler/init-runs.ts checks it): the
// checkpoint of another run's folder or a file, mean-pooled from MHA to GQA first when it says
// `convert`, as `attnc convert` does (runtime/checkpoint/convert.ts).
import { join, resolve } from 'node:path';
import type { InitIR, ModelIR, RunIR } from '../../compiler/ir/types.js';
import { convertToGqa, loadForConversion } from '../checkpoint/convert.js';
import { CHECKPOINT_FORMAT, readCheckpoint, readCheckpointBytes, type Checkpoint } from '../checkpoint/names.js';
import type { Tensor } from '../checkpoint/safetensors.js';
import { TrainError } from './errors.js';

/**
 * The checkpoint a run's start reads. A run's output is its folder's last.safetensors: the end of the
 * training the recipe asked for (best.safetensors is chosen on the test set, which the next stage
 * should not see). The folder is `from[RUN]` when given, else runs/RUN under `cwd`, where
 * `attnc train --run RUN` writes it; a file is relative to the spec's folder, as data paths are.
 */
export function startFile(init: InitIR, opts: { cwd: string; specDir: string; from: ReadonlyMap<string, string> }): string {
  if (init.run !== undefined) return join(sourceDir(init.run, opts), 'last.safetensors');
  return resolve(opts.specDir, init.file);
}

/** The folder of run `name`'s output: `from[name]`, else runs/NAME under `cwd`. */
export function sourceDir(name: string, opts: { cwd: string; from: ReadonlyMap<string, string> }): string {
  return resolve(opts.cwd, opts.from.get(name) ?? join('runs', name));
}

/**
 * Reads the start of `run` (training `model`) from `path` (shown as `shown`): as it is, or converted
 * to the run's K/V heads. A file without attnc metadata is read as timm ViT weights, with the
 * model's heads. Throws CheckpointError for files that are not checkpoints, TrainError for a
 * source that does not convert.
 */
export async function readStart(run: RunIR & { init: InitIR }, model: ModelIR, path: string, shown: string): Promise<{ file: string; checkpoint: Checkpoint; keepHead: boolean }> {
  const keepHead = run.init.head === 'keep';
  if (!run.init.convert) return { file: shown, checkpoint: await readCheckpoint(path), keepHead };
  const kvHeads = run.init.convert.kvHeads;
  const source = loadForConversion(await readCheckpointBytes(path, shown), shown, { heads: model.layers[0]!.attention.heads, name: model.name });
  const converted = convertToGqa(source.tensors, source.model, kvHeads, shown);
  const checkpoint: Checkpoint = {
    meta: { format: CHECKPOINT_FORMAT, version: '', model: converted.model, run: null, trainState: null, extra: {} },
    params: converted.tensors as Record<string, Tensor>,
    state: {},
    optimizer: {},
  };
  return { file: `${shown} (converted to kv_heads ${kvHeads})`, checkpoint, keepHead };
}

/** TrainError for a start whose source run has not been trained (far enough) yet, with the commands that do it. */
export function missingSource(run: string, source: string, file: string, state: { kind: 'new' } | { kind: 'partial'; step: number }, trainArgs: string[]): TrainError {
  const what = state.kind === 'new' ? `${file} does not exist` : `${file} stopped at step ${state.step}, short of its length`;
  const command = ['attnc', 'train', ...trainArgs, ...(state.kind === 'partial' ? ['--resume'] : [])].join(' ');
  return new TrainError(`run '${run}' starts from the output of run '${source}', but ${what}: train it first with\n  ${command}\nor let this command train what is missing: add --with-deps`);
}
