// `attnc export CHECKPOINT --timm -o FILE`: the weights of an attnc checkpoint for another library.
// Today: timm's VisionTransformer (runtime/checkpoint/timm-export.ts; docs/checkpoints.md).
import { relative, resolve } from 'node:path';
import { writeFileAtomic } from '../../runtime/checkpoint/atomic.js';
import { readCheckpoint, type Checkpoint } from '../../runtime/checkpoint/names.js';
import { CheckpointError } from '../../runtime/checkpoint/safetensors.js';
import { exportTimm, timmLoadSnippet } from '../../runtime/checkpoint/timm-export.js';
import { EXIT_OK, UserError, type Io } from '../io.js';
import { parseCommandArgs } from '../args.js';
import { explainNotCheckpoint } from '../checkpoint-file.js';

export const EXPORT_USAGE = `Usage: attnc export CHECKPOINT --timm -o FILE

Writes the weights of an attnc checkpoint for another library.
  --timm          timm's VisionTransformer: the parameters only (no optimizer moments, allocation
                  state or training state), in timm's names and layouts, as safetensors with
                  format: pt; loads with load_state_dict(strict=True) into the model built from the
                  keyword arguments recorded in the file (attnc.timm_kwargs) and printed here.
                  Multi-head attention models only: timm has no grouped K/V heads, key_norm
                  allocation or PGQA noise (attnc says what to load such a checkpoint with instead).
  -o, --out FILE  the file to write`;

export async function exportCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs('export', {
    args, allowPositionals: true,
    options: { timm: { type: 'boolean' }, out: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return io.out(EXPORT_USAGE), EXIT_OK;
  if (positionals.length !== 1) throw new UserError(`attnc export: give exactly one checkpoint\n\n${EXPORT_USAGE}`);
  if (!values.timm) throw new UserError(`attnc export: say what to export for: --timm (the one format so far)\n\n${EXPORT_USAGE}`);
  if (!values.out) throw new UserError(`attnc export: give the file to write with -o FILE\n\n${EXPORT_USAGE}`);
  const shown = positionals[0]!;
  const path = resolve(io.cwd, shown);
  const outPath = resolve(io.cwd, values.out);
  if (outPath === path) throw new UserError(`attnc export: the output would replace the checkpoint ${shown}; choose another file with -o`);
  let checkpoint: Checkpoint;
  try {
    checkpoint = await readCheckpoint(path);
  } catch (e) {
    if (e instanceof CheckpointError) throw new UserError(`attnc export: ${explainNotCheckpoint(path, shown, 'export') ?? e.message.replace(path, shown)}`);
    throw e;
  }
  try {
    const exported = exportTimm(checkpoint, shown);
    await writeFileAtomic(outPath, exported.bytes);
    const out = relative(io.cwd, outPath) || values.out;
    io.out(`wrote ${out}: ${exported.tensors} tensors of model '${checkpoint.meta.model.name}' in timm's VisionTransformer names (format: pt)`);
    io.out(`left out: ${exported.dropped.length ? exported.dropped.join(', ') : 'nothing'}`);
    io.out(`load it in Python (timm and safetensors installed):\n${timmLoadSnippet(exported.kwargs, out)}`);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof CheckpointError) throw new UserError(`attnc export: ${e.message}`);
    throw e;
  }
}
