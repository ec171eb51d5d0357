// AdamW and SGD against updates computed by hand in float64, on a two-parameter least-squares problem
// whose gradients are also written out by hand: loss(w, b) = mean((w x + b - y)^2).
import { beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '@tensorflow/tfjs';
import { selectBackend, type Tf } from '../../runtime/tfjs/backend.js';
import type { Param } from '../../runtime/tfjs/params.js';
import { createOptimizer, type OptimizerConfig } from '../../runtime/tfjs/optimizer.js';

let tf: Tf;
beforeAll(async () => {
  tf = (await selectBackend('wasm')).tf;
});

const xs = [1, 2, -1, 0.5];
const ys = [2.5, 4.0, -0.5, 1.5];

/** The two parameters: a 1x1 linear weight (rank 2: decayed) and its bias (never decayed). */
function makeParams(w0: number, b0: number): Param[] {
  return [
    { name: 'fc.weight', checkpointShape: [1, 1], layout: 'transposed', variable: tf.variable(tf.tensor2d([[w0]])), weightDecay: true },
    { name: 'fc.bias', checkpointShape: [1], layout: 'same', variable: tf.variable(tf.tensor1d([b0])), weightDecay: false },
  ];
}

/** d/dw and d/db of mean((w x + b - y)^2), by hand. */
function handGrads(w: number, b: number): [number, number] {
  let gw = 0;
  let gb = 0;
  xs.forEach((x, i) => {
    const r = w * x + b - ys[i]!;
    gw += (2 * r * x) / xs.length;
    gb += (2 * r) / xs.length;
  });
  return [gw, gb];
}

/** The same gradients through tfjs autodiff, as the trainer gets them. */
function tfGrads(params: Param[]): Tensor[] {
  const x = tf.tensor1d(xs);
  const y = tf.tensor1d(ys);
  const { grads } = tf.variableGrads(() => {
    const pred = tf.add(tf.mul(x, tf.reshape(params[0]!.variable, [])), params[1]!.variable);
    return tf.mean(tf.square(tf.sub(pred, y))) as never;
  }, params.map((p) => p.variable));
  tf.dispose([x, y]);
  return params.map((p) => grads[p.variable.name]!);
}

function values(params: Param[]): [number, number] {
  return [params[0]!.variable.dataSync()[0]!, params[1]!.variable.dataSync()[0]!];
}

const lrs = [0.1, 0.05, 0.08, 0.02, 0.01];

describe('AdamW', () => {
  const config: OptimizerConfig = { kind: 'adamw', lr: 0.1, weightDecay: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

  it('takes the first step of size lr against the gradient, after decaying the weight only', () => {
    const params = makeParams(1, 1);
    const opt = createOptimizer(tf, params, config);
    const g = tfGrads(params); // both gradients are negative at (1, 1)
    opt.apply(g, 0.1, 1);
    // w: 1 * (1 - 0.1 * 0.1) + 0.1 = 1.09; b: 1 + 0.1 (no decay) = 1.1 (m/sqrt(v) = sign(g) at t = 1, eps aside)
    const [w, b] = values(params);
    expect(w).toBeCloseTo(1.09, 6);
    expect(b).toBeCloseTo(1.1, 6);
    tf.dispose(g);
    opt.dispose();
  });

  it('follows the hand-computed trajectory for five steps', () => {
    const params = makeParams(0.3, -0.2);
    const opt = createOptimizer(tf, params, config);
    let [w, b] = [0.3, -0.2];
    const m = [0, 0];
    const v = [0, 0];
    lrs.forEach((lr, k) => {
      const t = k + 1;
      const g = tfGrads(params);
      const hand = handGrads(w, b);
      expect(g[0]!.dataSync()[0]).toBeCloseTo(hand[0], 5);
      opt.apply(g, lr, t);
      tf.dispose(g);
      const next = [w, b].map((p, i) => {
        m[i] = 0.9 * m[i]! + 0.1 * hand[i]!;
        v[i] = 0.999 * v[i]! + 0.001 * hand[i]! * hand[i]!;
        const mHat = m[i]! / (1 - 0.9 ** t);
        const vHat = v[i]! / (1 - 0.999 ** t);
        const decayed = i === 0 ? p * (1 - lr * 0.1) : p;
        return decayed - (lr * mHat) / (Math.sqrt(vHat) + 1e-8);
      });
      [w, b] = [next[0]!, next[1]!];
      const [gotW, gotB] = values(params);
      expect(Math.abs(gotW - w)).toBeLessThan(2e-6);
      expect(Math.abs(gotB - b)).toBeLessThan(2e-6);
    });
    opt.dispose();
  });

  it('saves its moments in checkpoint layout and restores them exactly', () => {
    const params = makeParams(0.3, -0.2);
    const opt = createOptimizer(tf, params, config);
    const g = tfGrads(params);
    opt.apply(g, 0.1, 1);
    const saved = opt.stateTensors();
    expect(Object.keys(saved).sort()).toEqual(['m', 'v']);
    expect(saved.m!['fc.weight']!.shape).toEqual([1, 1]);
    expect(saved.v!['fc.bias']!.data[0]).toBeCloseTo(0.001 * handGrads(0.3, -0.2)[1] ** 2, 8);
    const again = createOptimizer(tf, makeParams(0.3, -0.2), config);
    again.loadState(saved);
    expect(again.stateTensors()).toEqual(saved);
    expect(() => again.loadState({ m: saved.m! })).toThrow(/no optimizer\.v\.\* tensors/);
    tf.dispose(g);
    opt.dispose();
    again.dispose();
  });
});

describe('SGD', () => {
  it('with momentum and L2 decay follows the hand-computed trajectory', () => {
    const config: OptimizerConfig = { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0.01 };
    const params = makeParams(0.3, -0.2);
    const opt = createOptimizer(tf, params, config);
    expect(opt.slots).toEqual(['m']);
    let [w, b] = [0.3, -0.2];
    const buf = [0, 0];
    lrs.forEach((lr, k) => {
      const g = tfGrads(params);
      const hand = handGrads(w, b);
      opt.apply(g, lr, k + 1);
      tf.dispose(g);
      const d0 = hand[0] + 0.01 * w; // decayed weight
      const d1 = hand[1]; // bias: no decay
      buf[0] = 0.9 * buf[0]! + d0;
      buf[1] = 0.9 * buf[1]! + d1;
      [w, b] = [w - lr * buf[0], b - lr * buf[1]];
      const [gotW, gotB] = values(params);
      expect(Math.abs(gotW - w)).toBeLessThan(2e-6);
      expect(Math.abs(gotB - b)).toBeLessThan(2e-6);
    });
    opt.dispose();
  });

  it('without momentum is plain gradient descent and keeps no state', () => {
    const params = makeParams(1, 1);
    const opt = createOptimizer(tf, params, { kind: 'sgd', lr: 0.5, momentum: 0, weightDecay: 0 });
    expect(opt.slots).toEqual([]);
    const g = tfGrads(params);
    const [gw, gb] = handGrads(1, 1);
    opt.apply(g, 0.5, 1);
    const [w, b] = values(params);
    expect(w).toBeCloseTo(1 - 0.5 * gw, 6);
    expect(b).toBeCloseTo(1 - 0.5 * gb, 6);
    expect(opt.stateTensors()).toEqual({});
    tf.dispose(g);
    opt.dispose();
  });
});

describe('on a ViT', () => {
  it('AdamW without weight decay moves every parameter as tf.train.adam does', async () => {
    const { VitModel } = await import('../../runtime/tfjs/vit.js');
    const { batchGradients } = await import('../../runtime/tfjs/step.js');
    const { tinyModel, tinyRun } = await import('./fixtures.js');
    const run = tinyRun({ batch: 8, labelSmoothing: 0 });
    const ours = new VitModel(tf, tinyModel(), { seed: 4 });
    const theirs = new VitModel(tf, tinyModel(), { seed: 4, scope: 'adam/' });
    const opt = createOptimizer(tf, ours.params.list, { kind: 'adamw', lr: 1e-2, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    const adam = tf.train.adam(1e-2, 0.9, 0.999, 1e-8);
    const batch = { x: Float32Array.from({ length: 8 * 64 }, (_, i) => Math.sin(i * 0.37)), y: Int32Array.from([0, 1, 2, 3, 0, 1, 2, 3]), size: 8 };
    for (let t = 1; t <= 4; t++) {
      const a = batchGradients(ours, batch, { run, microBatch: 8, step: 0, seed: 1 });
      opt.apply(a.grads, 1e-2, t);
      const b = batchGradients(theirs, batch, { run, microBatch: 8, step: 0, seed: 1 });
      adam.applyGradients(Object.fromEntries(theirs.params.list.map((p, i) => [p.variable.name, b.grads[i]!])));
      tf.dispose([...a.grads, a.loss, a.correct, ...b.grads, b.loss, b.correct]);
    }
    ours.params.list.forEach((p, i) => {
      const got = p.variable.dataSync();
      const want = theirs.params.list[i]!.variable.dataSync();
      let worst = 0;
      got.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - want[j]!))));
      // Four steps of lr 1e-2 move a parameter by up to 4e-2; a wrong bias correction or moment would be
      // off by 1e-3 or more. Float rounding stays far below except where a gradient is zero up to
      // rounding (the key bias: softmax ignores a constant per row), which Adam's m / sqrt(v) amplifies.
      expect(worst, p.name).toBeLessThan(p.name.endsWith('qkv.bias') ? 3e-4 : 1e-5);
    });
    opt.dispose();
    adam.dispose();
    ours.dispose();
    theirs.dispose();
  });
});
