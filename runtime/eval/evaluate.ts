// Evaluating a model on a data set: the model in inference mode (no dropout, drop path or train-only
// noise), the images in data set order, unaugmented, normalised as in training. Each batch's logits
// and the allocation counts of its key_norm layers come back to the host in one read.
import type { Tensor, Tensor4D } from '@tensorflow/tfjs';
import { analyzeModel } from '../../compiler/analyze.js';
import type { ModelIR } from '../../compiler/ir/types.js';
import { BatchIterator } from '../data/batcher.js';
import type { Normalization } from '../data/normalize.js';
import type { Dataset } from '../data/types.js';
import type { BackendCandidate } from '../tfjs/backend.js';
import { EVAL_FACTOR, formatBytes, HEAP_BUDGET_FRACTION, WASM_HEAP_BYTES } from '../train/memory.js';
import { AllocationMeans, type LayerAllocation } from './allocation-tap.js';
import { EvalError } from './errors.js';
import type { LoadedModel } from './load-model.js';
import { MetricsAccumulator, type ClassificationMetrics } from './metrics.js';

export interface EvalOptions {
  /** Images per forward pass. KDGQA's `eval: recompute` allocates once per batch, so it matters there. */
  batch: number;
  normalize: Normalization;
  /**
   * The training step and seed of the checkpoint: they key the random streams of layers that perturb
   * at inference too (PGQA `during: always`), so an evaluation replays the one training made.
   */
  step: number;
  seed: number;
}

export interface EvalReport extends ClassificationMetrics {
  allocation: LayerAllocation[];
  batches: number;
  seconds: number;
}

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

/** EvalError unless the data's images and classes are the model's. */
export function checkEvalData(m: ModelIR, data: Dataset): void {
  if (data.height !== m.image.height || data.width !== m.image.width || data.channels !== m.image.channels) {
    throw new EvalError(`${data.source}: images are ${data.height}x${data.width}x${data.channels}, the model '${m.name}' takes ${m.image.height}x${m.image.width}x${m.image.channels}`);
  }
  if (data.classes !== m.classes) {
    throw new EvalError(`${data.source}: ${data.name} has ${data.classes} classes, the model '${m.name}' classifies ${m.classes}; evaluate it on data with ${m.classes} classes`);
  }
}

/**
 * The batch to evaluate with: `wanted`, or on wasm (a 4 GiB heap) the most images whose forward pass
 * fits, with a note. The estimate is runtime/train/memory.ts's for evaluation.
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
  const batchDependent = model.layers.some((l) => l.attention.allocation.policy === 'key_norm' && l.attention.allocation.eval === 'recompute' && l.attention.allocation.scope === 'batch');
  return {
    batch: room,
    note: `memory: evaluating in batches of ${room} images rather than ${wanted} (about ${formatBytes(perImage)} per image on the 4 GiB wasm heap)` +
      (batchDependent ? '; the key-norm allocation is computed per batch of that size' : ''),
  };
}
