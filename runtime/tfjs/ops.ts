// The ViT's building blocks in TensorFlow.js, written around the wasm backend's gaps and slow paths
// (docs/tfjs-backend.md): no gather (oneHot instead), no stridedSlice (slice), no Conv2D (the patch
// embedding is a reshape, a transpose and a matMul), no _FusedMatMul with a bias, and every matMul of a
// linear layer, forward and backward, a plain 2-D untransposed one.
//
// Every function takes the tfjs namespace first: the one selectBackend returned (runtime/tfjs/backend.ts).

import type { Scalar, Tensor, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs';
import type { Tf } from './backend.js';

/**
 * x [N, in] times w [in, out], plus b [out]. The backward pass transposes x and w explicitly and then
 * multiplies plainly: wasm's matMul runs 10x slower with transposeA/transposeB, and tfjs' own gradient
 * of matMul uses exactly those. The bias is a separate add: wasm's fused matMul + bias is wrong in
 * some cases, and the add's gradient (a column sum) is cheap.
 */
export function linear(tf: Tf, x: Tensor2D, w: Tensor2D, b?: Tensor1D): Tensor2D {
  const y = linearNoBias(tf, x, w);
  return b ? tf.add(y, b) : y;
}

function linearNoBias(tf: Tf, x: Tensor2D, w: Tensor2D): Tensor2D {
  if (x.rank !== 2 || w.rank !== 2 || x.shape[1] !== w.shape[0]) {
    throw new Error(`linear: x ${JSON.stringify(x.shape)} does not fit w ${JSON.stringify(w.shape)}`);
  }
  const f = tf.customGrad((xi, wi, save) => {
    const [x2, w2] = [xi as Tensor2D, wi as Tensor2D];
    (save as (ts: Tensor[]) => void)([x2, w2]);
    return {
      value: tf.matMul(x2, w2),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [xs, ws] = saved as [Tensor2D, Tensor2D];
        const dy2 = dy as Tensor2D;
        return [tf.matMul(dy2, tf.transpose(ws)), tf.matMul(tf.transpose(xs), dy2)];
      },
    };
  });
  return f(x, w) as Tensor2D;
}

/**
 * LayerNorm over the last axis of x [N, D] with the biased variance, as torch.nn.LayerNorm.
 * Its backward is written out: autodiff of the mean/variance chain costs about twice the kernels.
 */
export function layerNorm(tf: Tf, x: Tensor2D, gamma: Tensor1D, beta: Tensor1D, eps: number): Tensor2D {
  const f = tf.customGrad((xi, gi, bi, save) => {
    const [x2, g, b] = [xi as Tensor2D, gi as Tensor1D, bi as Tensor1D];
    const d = x2.shape[1];
    const centered = tf.sub(x2, tf.mean(x2, 1, true));
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), 1, true), eps));
    const xhat = tf.mul(centered, rstd) as Tensor2D;
    (save as (ts: Tensor[]) => void)([xhat, rstd, g]);
    return {
      value: tf.add(tf.mul(xhat, g), b) as Tensor2D,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [xh, r, gs] = saved;
        // dx = rstd * (g*dy - mean(g*dy) - xhat * mean(g*dy * xhat)), row by row.
        const gdy = tf.mul(dy, gs);
        const meanGdy = tf.mean(gdy, 1, true);
        const meanGdyXhat = tf.div(tf.sum(tf.mul(gdy, xh), 1, true), d);
        const dx = tf.mul(r, tf.sub(tf.sub(gdy, meanGdy), tf.mul(xh, meanGdyXhat)));
        return [dx, tf.sum(tf.mul(dy, xh), 0), tf.sum(dy, 0)];
      },
    };
  });
  return f(x, gamma, beta) as Tensor2D;
}

/**
 * The exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), as timm's nn.GELU. tf.erf has a gradient
 * on every backend; the backward is still written out because it then keeps only x and Phi(x).
 */
export function gelu<T extends Tensor>(tf: Tf, x: T): T {
  const f = tf.customGrad((xi, save) => {
    const xs = xi as Tensor;
    const cdf = tf.mul(tf.add(tf.erf(tf.mul(xs, Math.SQRT1_2)), 1), 0.5);
    (save as (ts: Tensor[]) => void)([xs, cdf]);
    return {
      value: tf.mul(xs, cdf),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [xv, c] = saved;
        // d/dx x Phi(x) = Phi(x) + x phi(x), phi the standard normal density.
        const pdf = tf.mul(tf.exp(tf.mul(tf.square(xv), -0.5)), 1 / Math.sqrt(2 * Math.PI));
        return tf.mul(dy, tf.add(c, tf.mul(xv, pdf)));
      },
    };
  });
  return f(x) as T;
}

/** Uniform [0, 1) floats from a seeded counter-based generator, e.g. core/random.ts. */
export type UniformSource = (count: number) => Float32Array;

/**
 * Inverted dropout: each element kept with probability 1 - rate and scaled by 1 / (1 - rate). The mask
 * comes from `uniforms` (one draw per element, kept when u >= rate), never from tf.random*, so a run
 * replays exactly from its seed on any backend.
 */
export function dropout<T extends Tensor>(tf: Tf, x: T, rate: number, uniforms: UniformSource): T {
  if (rate <= 0) return x;
  if (rate >= 1) throw new Error(`dropout rate must be below 1, got ${rate}`);
  const mask = keepMask(uniforms(x.size), x.size, rate);
  return tf.mul(x, tf.tensor(mask, x.shape, 'float32')) as T;
}

/**
 * Stochastic depth (timm's drop_path): the whole residual branch of a sample is dropped with
 * probability `rate` and the kept ones scaled by 1 / (1 - rate). x is [B, ...]: one draw per sample.
 */
export function dropPath<T extends Tensor>(tf: Tf, x: T, rate: number, uniforms: UniformSource): T {
  if (rate <= 0) return x;
  if (rate >= 1) throw new Error(`drop path rate must be below 1, got ${rate}`);
  const batch = x.shape[0];
  const mask = keepMask(uniforms(batch), batch, rate);
  const shape = [batch, ...x.shape.slice(1).map(() => 1)];
  return tf.mul(x, tf.tensor(mask, shape, 'float32')) as T;
}

function keepMask(u: Float32Array, count: number, rate: number): Float32Array {
  if (u.length < count) throw new Error(`uniform source gave ${u.length} values, ${count} needed`);
  const keep = 1 / (1 - rate);
  const mask = new Float32Array(count);
  for (let i = 0; i < count; i++) mask[i] = u[i] >= rate ? keep : 0;
  return mask;
}

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
