// The tfjs graph kernels and building blocks against plain tfjs, float64 hand computations and wasm's own conv2d.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Tensor, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs';
import { selectBackend, type Tf } from '../../runtime/tfjs/backend.js';
import { Purpose, seed32, streamId, uniformFloats } from '../../core/random.js';
import { Environment, type PassContext } from '../../runtime/tfjs/environment.js';
import { KERNELS } from '../../runtime/tfjs/executor.js';
import { crossEntropy, patchify } from '../../runtime/tfjs/ops.js';
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

/** Runs one graph kernel on named tensors (role -> tensor), returning every output by role. */
function kernel(op: string, inputs: Record<string, Tensor>, outputs: string[], attrs: Record<string, unknown>, pass: Partial<PassContext> = {}): Record<string, Tensor> {
  const env = new Environment(tf, false);
  for (const [role, t] of Object.entries(inputs)) env.bind(role, t);
  const node = { op, label: op, inputs: Object.fromEntries(Object.keys(inputs).map((r) => [r, r])), outputs: Object.fromEntries(outputs.map((r) => [r, `out.${r}`])), attrs };
  KERNELS[op]!({ tf, env, pass: { training: true, step: 0, seed: 1, microBatch: 0, ...pass }, state: () => { throw new Error('no state'); } }, node, attrs);
  return Object.fromEntries(outputs.map((r) => [r, env.get(`out.${r}`)]));
}

describe('linear and matmul kernels', () => {
  it('linear is x W + b; matmul transposes where told and adds where told', () => {
    const x = tf.tensor2d(values(7 * 5, 1), [7, 5]);
    const w = tf.tensor2d(values(5 * 3, 2), [5, 3]);
    const b = tf.tensor1d(values(3, 3));
    const { y } = kernel('linear', { x, weight: w, bias: b }, ['y'], { rows: 7, in: 5, out: 3, bias: true });
    expect(maxRelDiff(y!.dataSync(), tf.add(tf.matMul(x, w), b).dataSync())).toBeLessThan(1e-6);
    const dy = tf.tensor2d(values(7 * 3, 4), [7, 3]);
    const { c } = kernel('matmul', { a: x, b: dy }, ['c'], { M: 5, K: 7, N: 3, transA: true, transB: false, accumulate: false });
    // The weight gradient x^T dy, entry (0, 0) by hand.
    const xs = x.arraySync();
    const dys = dy.arraySync();
    expect((c!.arraySync() as number[][])[0]![0]).toBeCloseTo(xs.reduce((s, row, n) => s + row[0]! * dys[n]![0]!, 0), 5);
    const { c: dx } = kernel('matmul', { a: dy, b: w }, ['c'], { M: 7, K: 3, N: 5, transA: false, transB: true, accumulate: false });
    expect(maxRelDiff(dx!.dataSync(), tf.matMul(dy, w, false, true).dataSync())).toBeLessThan(1e-6);
  });
});

describe('layernorm kernels', () => {
  it('normalise rows with the biased variance, as torch, and save (mean, 1/std)', () => {
    const x = tf.tensor2d([[1, 2, 3, 4], [-2, 0, 0, 10]]);
    const eps = 1e-5;
    const { y, stats } = kernel('layernorm', { x, gamma: tf.tensor1d([1, 2, 0.5, -1]), beta: tf.tensor1d([0, 1, 0, 0.25]) }, ['y', 'stats'], { rows: 2, dim: 4, eps });
    const got = y!.arraySync() as number[][];
    x.arraySync().forEach((row, r) => {
      const mean = row.reduce((s, v) => s + v, 0) / 4;
      const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / 4;
      expect((stats!.arraySync() as number[][])[r]![1]).toBeCloseTo(1 / Math.sqrt(variance + eps), 4);
      row.forEach((v, d) => expect(got[r]![d]).toBeCloseTo(((v - mean) / Math.sqrt(variance + eps)) * [1, 2, 0.5, -1][d]! + [0, 1, 0, 0.25][d]!, 5));
    });
  });

  it('have the backward of the autodiffed formula (input, gamma and beta)', () => {
    const x = tf.tensor2d(values(6 * 8, 5).map((v, i) => v * (1 + (i % 3))), [6, 8]);
    const g = tf.tensor1d(values(8, 6));
    const b = tf.tensor1d(values(8, 7));
    const dy = tf.tensor2d(values(6 * 8, 8), [6, 8]);
    const plain = (xi: Tensor, gi: Tensor, bi: Tensor) => {
      const c = tf.sub(xi, tf.mean(xi, 1, true));
      return tf.add(tf.mul(tf.div(c, tf.sqrt(tf.add(tf.mean(tf.square(c), 1, true), 1e-6))), gi), bi);
    };
    const want = tf.grads((xi: Tensor, gi: Tensor, bi: Tensor) => tf.mul(plain(xi, gi, bi), dy))([x, g, b]);
    const { stats } = kernel('layernorm', { x, gamma: g, beta: b }, ['y', 'stats'], { rows: 6, dim: 8, eps: 1e-6 });
    const { dx } = kernel('layernorm_bwd', { x, gamma: g, stats: stats!, dy }, ['dx'], { rows: 6, dim: 8, accumulate: false });
    const { dgamma, dbeta } = kernel('layernorm_bwd_params', { x, stats: stats!, dy }, ['dgamma', 'dbeta'], { rows: 6, dim: 8 });
    [dx!, dgamma!, dbeta!].forEach((got, i) => expect(maxRelDiff(got.dataSync(), want[i]!.dataSync())).toBeLessThan(1e-5));
  });
});

describe('gelu kernels', () => {
  it('are the exact erf form, value and slope, against float64', () => {
    const xs = [-6, -3.2, -1, -0.3, 0, 0.2, 1, 2.5, 5];
    const x = tf.tensor1d(xs);
    const attrs = { count: xs.length, layer: 0, dropout: 0, site: 1 };
    const y = kernel('gelu', { x }, ['y'], attrs).y!.dataSync();
    const dx = kernel('gelu_bwd', { x, dy: tf.onesLike(x) }, ['dx'], attrs).dx!.dataSync();
    xs.forEach((v, i) => {
      expect(Math.abs(y[i]! - gelu64(v))).toBeLessThan(2e-6 * Math.max(1, Math.abs(v)));
      const slope = 0.5 * (1 + erf64(v / Math.SQRT2)) + (v * Math.exp((-v * v) / 2)) / Math.sqrt(2 * Math.PI);
      expect(Math.abs(dx[i]! - slope)).toBeLessThan(2e-6);
    });
    // Not the tanh approximation: they differ by ~1e-3 near |x| = 2.
    const tanhForm = 0.5 * 2.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (2.5 + 0.044715 * 2.5 ** 3)));
    expect(Math.abs(y[7]! - tanhForm)).toBeGreaterThan(1e-4);
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

describe('dropout and drop path in the residual kernels', () => {
  const rows = 64;
  const dim = 32;
  const tokens = 4;
  const ones = () => tf.ones([rows, dim]);

  it('keep 1 - rate of the elements, scaled, from the (site, layer, step, micro-batch) stream; the backward uses the same mask', () => {
    const attrs = { rows, dim, tokens, layer: 2, dropout: 0.25, dropPath: 0, dropSite: 0, pathSite: 3 };
    const out = kernel('residual', { h: tf.zeros([rows, dim]), y: ones() }, ['out'], attrs).out!.dataSync();
    const kept = out.filter((v) => v !== 0);
    expect(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-6)).toBe(true);
    expect(Math.abs(kept.length / out.length - 0.75)).toBeLessThan(0.05);
    const u = uniformFloats(seed32(1), streamId(Purpose.dropout, 0, 2, 0, 0), rows * dim);
    out.forEach((v, i) => expect(v !== 0).toBe(u[i]! >= 0.25));
    const dy = kernel('residual_bwd', { dout: ones() }, ['dy'], attrs).dy!.dataSync();
    expect(Array.from(dy)).toEqual(Array.from(out));
    const other = kernel('residual', { h: tf.zeros([rows, dim]), y: ones() }, ['out'], attrs, { microBatch: 1 }).out!.dataSync();
    expect(Array.from(other)).not.toEqual(Array.from(out));
  });

  it('drop whole images in drop path, and nothing at rate 0', () => {
    const attrs = { rows, dim, tokens, layer: 0, dropout: 0, dropPath: 0.5, dropSite: 0, pathSite: 3 };
    const out = kernel('residual', { h: tf.zeros([rows, dim]), y: ones() }, ['out'], attrs).out!.arraySync() as number[][];
    for (let image = 0; image < rows / tokens; image++) {
      const values = out.slice(image * tokens, (image + 1) * tokens).flat();
      expect(new Set(values).size).toBe(1);
      expect([0, 2]).toContain(values[0]);
    }
    const none = kernel('residual', { h: tf.zeros([rows, dim]), y: ones() }, ['out'], { ...attrs, dropPath: 0 }).out!.dataSync();
    expect(none.every((v) => v === 1)).toBe(true);
  });
});

describe('patchify', () => {
  it('with the conv weight [D, C, p, p] flattened, equals a stride-p conv2d', () => {
    const [B, H, W, C, p, D] = [2, 8, 12, 3, 4, 5];
    const x = tf.tensor4d(values(B * H * W * C, 10), [B, H, W, C]);
    const convW = values(D * C * p * p, 11); // PyTorch layout [D, C, p, p]
    // As a matrix [D, C*p*p], transposed to [C*p*p, D] for the graph's linear op (x W).
    const w = tf.transpose(tf.tensor2d(convW, [D, C * p * p])) as Tensor2D;
    const ours = tf.matMul(patchify(tf, x, p), w).dataSync();
    // tfjs conv2d wants the filter as [p, p, C, D].
    const filter = tf.transpose(tf.tensor4d(convW, [D, C, p, p]), [2, 3, 1, 0]) as Tensor4D;
    const conv = tf.conv2d(x, filter, p, 'valid').dataSync(); // [B, H/p, W/p, D], row-major grid
    expect(maxRelDiff(ours, conv)).toBeLessThan(1e-5);
  });

  it('rejects images the patch does not divide', () => {
    expect(() => patchify(tf, tf.zeros([1, 6, 8, 1]) as Tensor4D, 4)).toThrow(/not divisible/);
  });
});
