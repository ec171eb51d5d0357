// The tfjs building blocks against plain tfjs, float64 hand computations and wasm's own conv2d.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Tensor, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs';
import { selectBackend, type Tf } from '../../runtime/tfjs/backend.js';
import { crossEntropy, dropPath, dropout, gelu, layerNorm, linear, patchify } from '../../runtime/tfjs/ops.js';
import { uniformFloats } from '../../core/random.js';
import { erf64, gelu64 } from '../helpers/reference-vit.js';

let tf: Tf;
beforeAll(async () => {
  tf = (await selectBackend('wasm')).tf;
});

/** Deterministic values in [-1, 1). */
function values(n: number, stream: number): Float32Array {
  return uniformFloats(7, stream, n).map((u) => 2 * u - 1);
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  return diff / Math.max(scale, 1e-30);
}

describe('linear', () => {
  it('matches matMul + bias forward and in every gradient', () => {
    const x = tf.tensor2d(values(7 * 5, 1), [7, 5]);
    const w = tf.tensor2d(values(5 * 3, 2), [5, 3]);
    const b = tf.tensor1d(values(3, 3));
    const dy = tf.tensor2d(values(7 * 3, 4), [7, 3]);
    const ours = tf.grads((xi: Tensor, wi: Tensor, bi: Tensor) => tf.mul(linear(tf, xi as Tensor2D, wi as Tensor2D, bi as Tensor1D), dy));
    const plain = tf.grads((xi: Tensor, wi: Tensor, bi: Tensor) => tf.mul(tf.add(tf.matMul(xi as Tensor2D, wi as Tensor2D), bi), dy));
    expect(maxRelDiff(linear(tf, x, w, b).dataSync(), tf.add(tf.matMul(x, w), b).dataSync())).toBeLessThan(1e-6);
    const g1 = ours([x, w, b]);
    const g2 = plain([x, w, b]);
    for (let i = 0; i < 3; i++) {
      expect(g1[i].shape).toEqual(g2[i].shape);
      expect(maxRelDiff(g1[i].dataSync(), g2[i].dataSync())).toBeLessThan(1e-6);
    }
    // And the weight gradient is x^T dy by hand.
    const xs = x.arraySync();
    const dys = dy.arraySync();
    const dw00 = xs.reduce((s, row, n) => s + row[0] * dys[n][0], 0);
    expect(g1[1].arraySync() as number[][]).toSatisfy((m: number[][]) => Math.abs(m[0][0] - dw00) < 1e-5);
  });

  it('rejects operands that do not fit', () => {
    expect(() => linear(tf, tf.zeros([2, 3]) as Tensor2D, tf.zeros([4, 2]) as Tensor2D)).toThrow(/does not fit/);
  });
});

describe('layerNorm', () => {
  it('normalises rows with the biased variance, as torch', () => {
    const x = tf.tensor2d([[1, 2, 3, 4], [-2, 0, 0, 10]]);
    const g = tf.tensor1d([1, 2, 0.5, -1]);
    const b = tf.tensor1d([0, 1, 0, 0.25]);
    const eps = 1e-5;
    const got = layerNorm(tf, x, g, b, eps).arraySync() as number[][];
    const rows = x.arraySync();
    rows.forEach((row, r) => {
      const mean = row.reduce((s, v) => s + v, 0) / 4;
      const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / 4;
      row.forEach((v, d) => {
        const want = ((v - mean) / Math.sqrt(variance + eps)) * [1, 2, 0.5, -1][d] + [0, 1, 0, 0.25][d];
        expect(got[r][d]).toBeCloseTo(want, 5);
      });
    });
  });

  it('has the gradient of the autodiffed formula', () => {
    const x = tf.tensor2d(values(6 * 8, 5).map((v, i) => v * (1 + (i % 3))), [6, 8]);
    const g = tf.tensor1d(values(8, 6));
    const b = tf.tensor1d(values(8, 7));
    const dy = tf.tensor2d(values(6 * 8, 8), [6, 8]);
    const plain = (xi: Tensor, gi: Tensor, bi: Tensor) => {
      const c = tf.sub(xi, tf.mean(xi, 1, true));
      return tf.add(tf.mul(tf.div(c, tf.sqrt(tf.add(tf.mean(tf.square(c), 1, true), 1e-6))), gi), bi);
    };
    const g1 = tf.grads((xi: Tensor, gi: Tensor, bi: Tensor) => tf.mul(layerNorm(tf, xi as Tensor2D, gi as Tensor1D, bi as Tensor1D, 1e-6), dy))([x, g, b]);
    const g2 = tf.grads((xi: Tensor, gi: Tensor, bi: Tensor) => tf.mul(plain(xi, gi, bi), dy))([x, g, b]);
    for (let i = 0; i < 3; i++) expect(maxRelDiff(g1[i].dataSync(), g2[i].dataSync())).toBeLessThan(1e-5);
  });
});

describe('gelu', () => {
  it('is the exact erf form, value and slope, against float64', () => {
    const xs = [-6, -3.2, -1, -0.3, 0, 0.2, 1, 2.5, 5];
    const x = tf.tensor1d(xs);
    const y = gelu(tf, x).dataSync();
    const dy = tf.grad((v: Tensor) => gelu(tf, v))(x).dataSync();
    xs.forEach((v, i) => {
      expect(Math.abs(y[i] - gelu64(v))).toBeLessThan(2e-6 * Math.max(1, Math.abs(v)));
      const slope = 0.5 * (1 + erf64(v / Math.SQRT2)) + (v * Math.exp((-v * v) / 2)) / Math.sqrt(2 * Math.PI);
      expect(Math.abs(dy[i] - slope)).toBeLessThan(2e-6);
    });
    // Not the tanh approximation: they differ by ~1e-3 near |x| = 2.
    const tanhForm = 0.5 * 2.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (2.5 + 0.044715 * 2.5 ** 3)));
    expect(Math.abs(y[7] - tanhForm)).toBeGreaterThan(1e-4);
  });
});

describe('crossEntropy', () => {
  it('matches hand values with and without label smoothing', () => {
    const logits = tf.tensor2d([[1, 2, 3], [0, 0, 0]]);
    const labels = new Int32Array([2, 0]);
    const lse0 = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
    const lse1 = Math.log(3);
    // Row 0: -log p(2); row 1: -log(1/3).
    const plain = ((lse0 - 3) + lse1) / 2;
    expect(crossEntropy(tf, logits, labels, 0).dataSync()[0]).toBeCloseTo(plain, 6);
    // s = 0.1, 3 classes: target 0.9 + 0.1/3 on the label and 0.1/3 elsewhere.
    const s = 0.1;
    const row0 = (1 - s) * (lse0 - 3) + (s / 3) * ((lse0 - 1) + (lse0 - 2) + (lse0 - 3));
    const row1 = lse1; // uniform logits: every target weight meets -log(1/3)
    expect(crossEntropy(tf, logits, labels, s).dataSync()[0]).toBeCloseTo((row0 + row1) / 2, 6);
  });

  it('has gradient (softmax - target) / batch and accepts int32 tensors', () => {
    const logits = tf.tensor2d([[0.5, -1, 2, 0]]);
    const g = tf.grad((l: Tensor) => crossEntropy(tf, l as Tensor2D, tf.tensor1d([1], 'int32'), 0.2))(logits).dataSync();
    const e = [0.5, -1, 2, 0].map(Math.exp);
    const z = e.reduce((a, v) => a + v, 0);
    e.forEach((v, c) => expect(g[c]).toBeCloseTo(v / z - ((c === 1 ? 0.8 : 0) + 0.05), 6));
  });
});

describe('dropout and dropPath', () => {
  const source = (stream: number) => (n: number) => uniformFloats(11, stream, n);

  it('keeps 1 - rate of the elements, scaled, from the given source only', () => {
    const x = tf.ones([200, 50]);
    const a = dropout(tf, x, 0.25, source(1)).dataSync();
    const again = dropout(tf, x, 0.25, source(1)).dataSync();
    const other = dropout(tf, x, 0.25, source(2)).dataSync();
    expect(Array.from(a)).toEqual(Array.from(again));
    expect(Array.from(a)).not.toEqual(Array.from(other));
    const kept = a.filter((v) => v !== 0);
    expect(new Set(kept)).toEqual(new Set([Math.fround(1 / 0.75)]));
    expect(Math.abs(kept.length / a.length - 0.75)).toBeLessThan(0.02);
    expect(dropout(tf, x, 0, source(1))).toBe(x);
  });

  it('passes the gradient through the kept elements only', () => {
    const x = tf.tensor2d(values(40, 9), [8, 5]);
    const y = dropout(tf, x, 0.5, source(3)).dataSync();
    const g = tf.grad((v: Tensor) => dropout(tf, v, 0.5, source(3)))(x).dataSync();
    y.forEach((v, i) => expect(g[i]).toBe(v === 0 ? 0 : 2));
  });

  it('drops whole samples in dropPath', () => {
    const x = tf.ones([64, 3, 4]);
    const y = dropPath(tf, x, 0.5, source(4)).arraySync() as number[][][];
    const perSample = y.map((s) => new Set(s.flat()));
    perSample.forEach((vals) => expect(vals.size).toBe(1));
    const dropped = perSample.filter((vals) => vals.has(0)).length;
    expect(dropped).toBeGreaterThan(16);
    expect(dropped).toBeLessThan(48);
  });
});

describe('patchify', () => {
  it('with the conv weight [D, C, p, p] flattened, equals a stride-p conv2d', () => {
    const [B, H, W, C, p, D] = [2, 8, 12, 3, 4, 5];
    const x = tf.tensor4d(values(B * H * W * C, 10), [B, H, W, C]);
    const convW = values(D * C * p * p, 11); // PyTorch layout [D, C, p, p]
    // As a matrix [D, C*p*p], transposed to [C*p*p, D] for linear().
    const w = tf.transpose(tf.tensor2d(convW, [D, C * p * p])) as Tensor2D;
    const ours = linear(tf, patchify(tf, x, p), w).dataSync();
    // tfjs conv2d wants the filter as [p, p, C, D].
    const filter = tf.transpose(tf.tensor4d(convW, [D, C, p, p]), [2, 3, 1, 0]) as Tensor4D;
    const conv = tf.conv2d(x, filter, p, 'valid').dataSync(); // [B, H/p, W/p, D], row-major grid
    expect(maxRelDiff(ours, conv)).toBeLessThan(1e-5);
  });

  it('rejects images the patch does not divide', () => {
    expect(() => patchify(tf, tf.zeros([1, 6, 8, 1]) as Tensor4D, 4)).toThrow(/not divisible/);
  });
});
