// The metadata of a checkpoint without its tensors. Deciding whether each run of a grid is finished
// needs only the training state, and reading every tensor of every run (optimizer slots included,
// three times the weights) just for that would make restarting a grid of large models slow.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { fileKind } from '../../core/files.js';
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import { CHECKPOINT_FORMAT, META_KEYS, parseCheckpointMeta, type Checkpoint, type CheckpointMeta } from '../checkpoint/names.js';
import { CheckpointError, MAX_HEADER_BYTES } from '../checkpoint/safetensors.js';

export interface CheckpointMetaOnly {
  model: ModelIR;
  run: RunIR | null;
  trainState: CheckpointMeta['trainState'];
}

export async function readCheckpointMeta(path: string): Promise<CheckpointMetaOnly> {
  // Non-blocking, and checked through the descriptor: a FIFO under this name must not block us.
  const handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0)).catch((e: Error) => {
    throw new CheckpointError(path, `cannot read the file: ${e.message}`);
  });
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new CheckpointError(path, `a checkpoint must be a regular file, but this is ${fileKind(st)}`);
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
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) throw new CheckpointError(path, '"__metadata__" is not an object');
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new CheckpointError(path, `metadata '${k}' is not a string`);
    // The same validation as a full read: the model and run against the IR schema, the training state.
    const meta = parseCheckpointMeta(metadata, path);
    return { model: meta.model, run: meta.run, trainState: meta.trainState };
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
