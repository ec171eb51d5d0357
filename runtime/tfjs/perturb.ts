// PGQA: noise subtracted from the grouped attention (PerturbIR in compiler/ir/types.ts).
//
// Rows: 'output' perturbs each head's softmax(QK^T)V of one image as one row of T * head_dim values,
// as the reference code does (it views a group's output as [B, heads, P * head_dim] before drawing);
// 'scores' perturbs each query's T pre-softmax logits. For every row x the noise n is drawn, then
// standardised to mean 0 and std 1 over the row, and the layer computes
//     x - scale * (n * std(x) + mean(x))          (population std; the reference's unbiased std
//                                                   cancels, as noise and row use the same one)
// so the subtracted term has exactly the row's mean and std times `scale`. Gradients flow through
// mean(x) and std(x), as in the reference (nothing there is detached); std(x) is
// sqrt(max(var, 1e-20)) so that a constant row has a finite gradient.
//
// The noise is drawn on the host from core/random.ts and uploaded: one tensor per layer per step.
// tfjs has no u32 bit operations to run the hash on the device, the draw is cheap next to the
// attention itself (B * H * T * head_dim values), and the host draw is bit-identical to what the
// WebGPU and PyTorch backends compute from the same (seed, stream, counter).
import type { Tensor } from '@tensorflow/tfjs';
import type { PerturbIR } from '../../compiler/ir/types.js';
import { Purpose, gaussianFloats, seed32, streamId, uniformFloats } from '../../core/random.js';
import type { Tf } from './backend.js';

export interface PerturbDraw {
  seed: number;
  layer: number;
  step: number;
  microBatch: number;
  /** compat 'paper' at 'output': the reference's quirks (one noise for the whole batch, zeroed "diagonal"). */
  paper: boolean;
  /** Query heads per K/V group of the uniform grouping: the reference zeroes column (h mod this) of head h's row. */
  headsPerGroup: number;
}

/**
 * Standardised noise for x = [B, H, R, n] (R rows of n values per image and head), row-major, as a
 * Float32Array of B * H * R * n values; with `paper`, H * R * n values shared by the whole batch.
 * Raw value i is draw i of stream (Purpose.perturbNoise, layer, step, microBatch). With `paper`, raw
 * value (h, r, j) is set to 0 when j = h mod headsPerGroup (the reference zeroes the diagonal of each
 * group's [heads, P * head_dim] matrix) before standardising. A row whose raw noise has std 0 is
 * only centred (the reference divides by 1 there).
 */
export function perturbNoise(p: PerturbIR, shape: readonly [number, number, number, number], d: PerturbDraw): Float32Array {
  const [batch, heads, rowsPerHead, n] = shape;
  const images = d.paper ? 1 : batch;
  const count = images * heads * rowsPerHead * n;
  const stream = streamId(Purpose.perturbNoise, d.layer, d.step, d.microBatch);
  const raw = p.distribution === 'gaussian' ? gaussianFloats(seed32(d.seed), stream, count) : uniformFloats(seed32(d.seed), stream, count);
  const out = new Float32Array(count);
  for (let row = 0; row < count / n; row++) {
    const base = row * n;
    if (d.paper) {
      const head = Math.floor(row / rowsPerHead) % heads;
      const column = head % d.headsPerGroup;
      if (column < n) raw[base + column] = 0;
    }
    let mean = 0;
    for (let j = 0; j < n; j++) mean += raw[base + j]!;
    mean /= n;
    let variance = 0;
    for (let j = 0; j < n; j++) variance += (raw[base + j]! - mean) ** 2;
    const std = Math.sqrt(variance / n) || 1;
    for (let j = 0; j < n; j++) out[base + j] = (raw[base + j]! - mean) / std;
  }
  return out;
}

/** x - scale * (z * std(x) + mean(x)) per row of x [B, H, R, n]; z broadcasts ([1, H, R, n] with `paper`). */
export function subtractNoise(tf: Tf, x: Tensor, z: Tensor, scale: number): Tensor {
  const mean = tf.mean(x, 3, true);
  const std = tf.sqrt(tf.maximum(tf.mean(tf.square(tf.sub(x, mean)), 3, true), 1e-20));
  return tf.sub(x, tf.mul(tf.add(tf.mul(z, std), mean), scale));
}

/** The vector-Jacobian product of subtractNoise at x: dy - scale * ((sum dy z) dstd/dx + (sum dy) / n). */
export function subtractNoiseBackward(tf: Tf, x: Tensor, z: Tensor, dy: Tensor, scale: number): Tensor {
  const n = x.shape[3]!;
  const centred = tf.sub(x, tf.mean(x, 3, true));
  const variance = tf.mean(tf.square(centred), 3, true);
  const std = tf.sqrt(tf.maximum(variance, 1e-20));
  // d std / dx = (x - mean) / (n std) where the variance is above the floor, 0 where it is clamped.
  const dstd = tf.where(tf.greater(variance, 1e-20), tf.div(centred, tf.mul(std, n)), tf.zerosLike(centred));
  const dyz = tf.sum(tf.mul(dy, z), 3, true);
  return tf.sub(dy, tf.mul(tf.add(tf.mul(dyz, dstd), tf.div(tf.sum(dy, 3, true), n)), scale));
}
