// The metadata of a checkpoint without its tensors. Deciding whether each run of a grid is finished
// needs only the training state, and reading every tensor of every run (optimizer slots included,
// three times the weights) just for that would make restarting a grid of large models slow.
import { open } from 'node:fs/promises';
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import { CHECKPOINT_FORMAT, META_KEYS, type Checkpoint, type CheckpointMeta } from '../checkpoint/names.js';
import { CheckpointError, MAX_HEADER_BYTES } from '../checkpoint/safetensors.js';

export interface CheckpointMetaOnly {
  model: ModelIR;
  run: RunIR | null;
  trainState: CheckpointMeta['trainState'];
}

export async function readCheckpointMeta(path: string): Promise<CheckpointMetaOnly> {
  const handle = await open(path, 'r').catch((e: Error) => {
    throw new CheckpointError(path, `cannot read the file: ${e.message}`);
  });
  try {
    const lengthBytes = Buffer.alloc(8);
    const { bytesRead } = await handle.read(lengthBytes, 0, 8, 0);
    if (bytesRead < 8) throw new CheckpointError(path, 'too short for a safetensors file');
    const length = Number(lengthBytes.readBigUInt64LE(0));
    if (length > MAX_HEADER_BYTES) throw new CheckpointError(path, `the header length ${length} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
    const header = Buffer.alloc(length);
    const read = await handle.read(header, 0, length, 8);
    if (read.bytesRead < length) throw new CheckpointError(path, 'the header is truncated');
    const metadata = (JSON.parse(header.toString('utf8')) as { __metadata__?: Record<string, string> }).__metadata__ ?? {};
    if (metadata[META_KEYS.format] !== CHECKPOINT_FORMAT) throw new CheckpointError(path, `not an attnc checkpoint (format '${metadata[META_KEYS.format] ?? ''}')`);
    const json = (key: string) => (metadata[key] === undefined ? null : JSON.parse(metadata[key]));
    return { model: json(META_KEYS.model) as ModelIR, run: json(META_KEYS.run) as RunIR | null, trainState: json(META_KEYS.trainState) as CheckpointMetaOnly['trainState'] };
  } catch (e) {
    if (e instanceof SyntaxError) throw new CheckpointError(path, `the header is not valid JSON (${e.message})`);
    throw e;
  } finally {
    await handle.close();
  }
}

/** The metadata dressed as a Checkpoint with no tensors, for checks that read only `meta` (checkResumable). */
export function metaAsCheckpoint(m: CheckpointMetaOnly): Checkpoint {
  return { meta: { format: CHECKPOINT_FORMAT, version: '', model: m.model, run: m.run, trainState: m.trainState, extra: {} }, params: {}, state: {}, optimizer: {} };
}
