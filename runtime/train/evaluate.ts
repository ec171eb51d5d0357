// Evaluation on the test split: top-1 accuracy and the mean cross-entropy (without label smoothing,
// as timm's validate), the model in inference mode (no dropout, drop-path or train-only noise).
import type { RunIR } from '../../compiler/ir/types.js';
import { BatchIterator } from '../data/batcher.js';
import type { Dataset } from '../data/types.js';
import type { TrainingEngine } from './engine.js';

export interface EvalResult {
  loss: number;
  acc: number;
  images: number;
  seconds: number;
}

/**
 * Evaluates in batches of `chunk` images (eval.batch, or fewer when memory says so; see runtime/backends.ts planTraining),
 * in data set order. `step` only keys random streams of layers that perturb at inference too (PGQA
 * during: always), so an evaluation at a given step replays exactly.
 */
export async function evaluate(
  engine: TrainingEngine, test: Dataset, run: RunIR, chunk: number, at: { step: number },
  onBatch?: (images: number, total: number) => void,
): Promise<EvalResult> {
  const started = performance.now();
  let lossSum = 0;
  let correct = 0;
  let images = 0;
  const batches = BatchIterator.eval(test, { batchSize: chunk, normalize: run.normalize, prefetch: 1 });
  for await (const batch of batches) {
    const r = await engine.evaluate(batch, { step: at.step });
    lossSum += r.lossSum;
    correct += r.correct;
    images += batch.size;
    onBatch?.(images, test.count);
  }
  return { loss: lossSum / images, acc: correct / images, images, seconds: (performance.now() - started) / 1000 };
}
