// attnc eval on TensorFlow.js: a VitModel (load-model.ts) in inference mode over a data set, each
// batch's logits and the allocation its key_norm layers served (allocation-tap.ts) read back in one
// go, and the batch that fits the wasm heap. The report is runtime/eval/evaluate.ts's.
import { evalDependsOnBatch } from '../../compiler/graph/policy.js';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs';
import { analyzeModel } from '../../compiler/analyze.js';
import type { ModelIR } from '../../compiler/ir/types.js';
import { BatchIterator } from '../data/batcher.js';
import type { Dataset } from '../data/types.js';
import { AllocationMeans } from '../eval/allocation-means.js';
import { EvalError } from '../eval/errors.js';
import { checkEvalData, type EvalOptions, type EvalReport } from '../eval/evaluate.js';
import { MetricsAccumulator } from '../eval/metrics.js';
import type { BackendCandidate } from './backend.js';
import type { LoadedModel } from './load-model.js';
import { EVAL_FACTOR, formatBytes, HEAP_BUDGET_FRACTION, WASM_HEAP_BYTES } from './memory.js';

export async function evaluateModel({ model, tap }: LoadedModel, data: Dataset, o: EvalOptions): Promise<EvalReport> {
  const m = model.model;
  const tf = model.tf;
  checkEvalData(m, data);
  const started = performance.now();
  const metrics = new MetricsAccumulator(m.classes);
  const allocation = new AllocationMeans(m);
  let batches = 0;
  for await (const batch of BatchIterator.eval(data, { batchSize: o.batch, normalize: o.normalize, prefetch: 1 })) {
    const x = tf.tensor4d(batch.x, [batch.size, m.image.height, m.image.width, m.image.channels]) as Tensor4D;
    let logits: Tensor;
    let counts: Tensor[];
    try {
      logits = model.forward(x, { training: false, step: o.step, seed: o.seed, onCounts: tap.onCounts });
    } finally {
      x.dispose();
      counts = tap.take();
    }
    try {
      const [values, ...perLayer] = await Promise.all([logits.data(), ...counts.map((c) => c.data())]);
      metrics.add(values!, batch.y);
      allocation.add(perLayer, batch.size);
    } finally {
      logits.dispose();
      tf.dispose(counts);
    }
    batches++;
  }
  return { ...metrics.result(), allocation: allocation.result(), batches, seconds: (performance.now() - started) / 1000 };
}

/**
 * The batch to evaluate with: `wanted`, or on wasm (a 4 GiB heap) the most images whose forward pass
 * fits, with a note. The estimate is memory.ts's for evaluation.
 */
export function fitEvalBatch(model: ModelIR, wanted: number, backend: BackendCandidate): { batch: number; note: string | null } {
  if (backend !== 'wasm') return { batch: wanted, note: null };
  const { memory } = analyzeModel(model);
  const perImage = memory.activationsBytes * EVAL_FACTOR + model.image.height * model.image.width * model.image.channels * 4;
  const room = Math.floor((WASM_HEAP_BYTES * HEAP_BUDGET_FRACTION - memory.parameterBytes) / perImage);
  if (room < 1) {
    throw new EvalError(`model '${model.name}' needs about ${formatBytes(perImage)} per image to evaluate on wasm: not even one image fits in the 4 GiB wasm heap — use a native backend (--backend tfjs-node or tfjs-node-gpu)`);
  }
  if (wanted <= room) return { batch: wanted, note: null };
  const batchDependent = model.layers.some(evalDependsOnBatch);
  return {
    batch: room,
    note: `memory: evaluating in batches of ${room} images rather than ${wanted} (about ${formatBytes(perImage)} per image on the 4 GiB wasm heap)` +
      (batchDependent ? '; the key-norm allocation is computed per batch of that size' : ''),
  };
}
