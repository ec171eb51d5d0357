// Evaluating a model on a data set: the model in inference mode (no dropout, drop path or train-only
// noise), the images in data set order, unaugmented, normalised as in training. Each batch's logits
// and the allocation counts of its key_norm layers come back to the host in one read. A backend
// evaluates through its TrainingEngine (evaluateEngine) or its own loop (runtime/tfjs/evaluate.ts);
// runtime/backends.ts picks it, and nothing here imports a backend.
import { stateSpecs } from '../../compiler/ir/params.js';
import type { ModelIR } from '../../compiler/ir/types.js';
import type { Checkpoint } from '../checkpoint/names.js';
import { BatchIterator } from '../data/batcher.js';
import type { Normalization } from '../data/normalize.js';
import type { Dataset } from '../data/types.js';
import type { TrainingEngine } from '../train/engine.js';
import { AllocationMeans, type LayerAllocation } from './allocation-means.js';
import { EvalError } from './errors.js';
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
 * Evaluates a checkpoint with an eval-only engine (`run: null`) of any backend: the checkpoint's
 * parameters and allocation state loaded, then one `engine.evaluate` per batch. The caller disposes
 * the engine.
 */
export async function evaluateEngine(engine: TrainingEngine, c: Checkpoint, data: Dataset, o: EvalOptions): Promise<EvalReport> {
  const m = c.meta.model;
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
}
