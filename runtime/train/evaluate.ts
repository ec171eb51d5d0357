// Evaluation on the test split: top-1 accuracy and the mean cross-entropy (without label smoothing,
// as timm's validate), the model in inference mode (no dropout, drop-path or train-only noise).
import type { Tensor1D, Tensor4D } from '@tensorflow/tfjs';
import type { RunIR } from '../../compiler/ir/types.js';
import { BatchIterator } from '../data/batcher.js';
import type { Dataset } from '../data/types.js';
import { crossEntropy } from '../tfjs/ops.js';
import type { VitModel } from '../tfjs/vit.js';

export interface EvalResult {
  loss: number;
  acc: number;
  images: number;
  seconds: number;
}

/**
 * Evaluates in batches of `chunk` images (eval.batch, or fewer when memory says so; see memory.ts),
 * in data set order. `step` and `seed` only key random streams of layers that perturb at inference
 * too (PGQA during: always), so an evaluation at a given step replays exactly.
 */
export async function evaluate(model: VitModel, test: Dataset, run: RunIR, chunk: number, at: { step: number }): Promise<EvalResult> {
  const { tf, model: m } = model;
  const started = performance.now();
  let lossSum = 0;
  let correct = 0;
  let images = 0;
  const batches = BatchIterator.eval(test, { batchSize: chunk, normalize: run.normalize, prefetch: 1 });
  for await (const batch of batches) {
    const stats = tf.tidy(() => {
      const x = tf.tensor4d(batch.x, [batch.size, m.image.height, m.image.width, m.image.channels]) as Tensor4D;
      const y = tf.tensor1d(batch.y, 'int32') as Tensor1D;
      const logits = model.forward(x, { training: false, step: at.step, seed: run.seed });
      const loss = tf.mul(crossEntropy(tf, logits, y, 0), batch.size);
      const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'float32'));
      return tf.stack([loss, hits]);
    });
    const [l, c] = await stats.data();
    stats.dispose();
    lossSum += l!;
    correct += c!;
    images += batch.size;
  }
  return { loss: lossSum / images, acc: correct / images, images, seconds: (performance.now() - started) / 1000 };
}
