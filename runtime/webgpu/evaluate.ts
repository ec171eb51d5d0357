// `attnc eval --backend webgpu`: a checkpoint evaluated by the WebGPU engine, with the report of
// runtime/eval/evaluate.ts evaluateEngine (accuracy, loss, confusion, the allocation each key_norm
// layer served). Each batch's logits and head -> group tables come back in one read.
import type { Checkpoint } from '../checkpoint/names.js';
import type { Dataset } from '../data/types.js';
import { checkEvalData, evaluateEngine, type EvalOptions, type EvalReport } from '../eval/evaluate.js';
import type { WebGpuSession } from './session.js';

export async function evaluateOnWebGpu(session: WebGpuSession, c: Checkpoint, data: Dataset, o: EvalOptions): Promise<EvalReport> {
  const m = c.meta.model;
  checkEvalData(m, data);
  // No run: an eval-only engine (the run is only needed for training), whose seed keys PGQA 'always'.
  const engine = await session.engine({ model: m, run: null, seed: o.seed, microBatch: o.batch });
  try {
    return await evaluateEngine(engine, c, data, o);
  } finally {
    engine.dispose();
  }
}
