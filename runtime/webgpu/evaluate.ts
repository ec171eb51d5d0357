// `attnc eval --backend webgpu`: a checkpoint evaluated by the WebGPU engine, with the report of
// runtime/eval/evaluate.ts evaluateModel (accuracy, loss, confusion, the allocation each key_norm
// layer served). Each batch's logits and head -> group tables come back in one read.
import { type Checkpoint } from '../checkpoint/names.js';
import { stateSpecs } from '../../compiler/ir/params.js';
import { BatchIterator } from '../data/batcher.js';
import type { Dataset } from '../data/types.js';
import { AllocationMeans } from '../eval/allocation-tap.js';
import { checkEvalData, type EvalOptions, type EvalReport } from '../eval/evaluate.js';
import { MetricsAccumulator } from '../eval/metrics.js';
import type { WebGpuSession } from './session.js';

export async function evaluateOnWebGpu(session: WebGpuSession, c: Checkpoint, data: Dataset, o: EvalOptions): Promise<EvalReport> {
  const m = c.meta.model;
  checkEvalData(m, data);
  // No run: an eval-only engine (the run is only needed for training), whose seed keys PGQA 'always'.
  const engine = await session.engine({ model: m, run: null, seed: o.seed, microBatch: o.batch });
  try {
    await engine.load({ params: c.params, ...(stateSpecs(m).length ? { state: c.state } : {}) });
    const started = performance.now();
    const metrics = new MetricsAccumulator(m.classes);
    const allocation = new AllocationMeans(m);
    let batches = 0;
    for await (const batch of BatchIterator.eval(data, { batchSize: o.batch, normalize: o.normalize, prefetch: 1 })) {
      const r = await engine.evaluate(batch, { step: o.step, logits: true });
      metrics.add(r.logits!, batch.y);
      allocation.add(r.counts!, batch.size);
      batches++;
    }
    return { ...metrics.result(), allocation: allocation.result(), batches, seconds: (performance.now() - started) / 1000 };
  } finally {
    engine.dispose();
  }
}
