// Two building blocks written around the wasm backend's gaps (docs/tfjs-backend.md): the patch
// embedding's patch rows (no Conv2D filter gradient on wasm: a reshape and a transpose), and the
// cross-entropy that evaluation and the tests' autodiff oracle use (a one-hot, not a gather).
//
// Every function takes the tfjs namespace first: the one selectBackend returned (runtime/tfjs/backend.ts).

import type { Scalar, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs';
import type { Tf } from './backend.js';

/**
 * Softmax cross-entropy with label smoothing, averaged over the batch: the target is
 * (1 - s) * onehot + s / classes, which equals timm's LabelSmoothingCrossEntropy. Labels become a
 * one-hot matrix rather than a gather (gather has no gradient on wasm).
 */
export function crossEntropy(tf: Tf, logits: Tensor2D, labels: Int32Array | Tensor1D, smoothing: number): Scalar {
  const [batch, classes] = logits.shape;
  if (smoothing < 0 || smoothing >= 1) throw new Error(`label smoothing must be in [0, 1), got ${smoothing}`);
  return tf.tidy(() => {
    const lab = labels instanceof Int32Array ? tf.tensor1d(labels, 'int32') : labels;
    if (lab.shape[0] !== batch) throw new Error(`crossEntropy: ${lab.shape[0]} labels for ${batch} rows`);
    const target = tf.add(tf.mul(tf.oneHot(lab, classes), 1 - smoothing), smoothing / classes);
    const logp = tf.logSoftmax(logits);
    return tf.div(tf.neg(tf.sum(tf.mul(target, logp))), batch) as Scalar;
  });
}

/**
 * NHWC images [B, H, W, C] to patch rows [B * N, C * p * p]: patches in row-major grid order (timm's
 * flatten(2) of the conv output) and each row ordered (c, i, j), the order of a Conv2d weight
 * [D, C, p, p] flattened, so a timm patch_embed weight reshaped to [D, C*p*p] and transposed applies.
 */
export function patchify(tf: Tf, x: Tensor4D, patch: number): Tensor2D {
  const [b, h, w, c] = x.shape;
  if (h % patch !== 0 || w % patch !== 0) throw new Error(`image ${h}x${w} is not divisible by patch ${patch}`);
  return tf.tidy(() => {
    const six = tf.reshape(x, [b, h / patch, patch, w / patch, patch, c]);
    // (b, gy, i, gx, j, c) -> (b, gy, gx, c, i, j)
    const ordered = tf.transpose(six, [0, 1, 3, 5, 2, 4]);
    return tf.reshape(ordered, [b * (h / patch) * (w / patch), c * patch * patch]) as Tensor2D;
  });
}
