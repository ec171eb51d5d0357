// The graph's optimizer ops as the TensorFlow.js backend runs them (runtime/tfjs/kernels-optimizer.ts:
// grad_sumsq, grad_norm, adamw, sgd) against PyTorch's formulas computed by hand in float64, on a
// two-parameter least-squares problem whose gradients are also written out by hand:
// loss(w, b) = mean((w x + b - y)^2). The slots' checkpoint form is ./optimizer.ts's OptimizerSlots.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Tensor, Variable } from '@tensorflow/tfjs';
import { runtimeValues } from '../../compiler/graph/runtime-values.js';
import type { Graph, GraphNode } from '../../compiler/graph/types.js';
import type { RunIR } from '../../compiler/ir/types.js';
import { selectBackend, type Tf } from '../../runtime/tfjs/backend.js';
import { Environment } from '../../runtime/tfjs/environment.js';
import { KERNELS } from '../../runtime/tfjs/executor.js';
import { OptimizerSlots } from '../../runtime/tfjs/optimizer.js';
import type { Param } from '../../runtime/tfjs/params.js';

type OptimizerConfig = RunIR['optimizer'];

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

/** The graph's view of the two parameters: their slots as compiler/graph/lower.ts names them. */
function graphOf(params: Param[], config: OptimizerConfig): Graph {
  const slots = config.kind === 'adamw' ? ['m', 'v'] : config.momentum > 0 ? ['m'] : [];
  return {
    params: params.map((p) => ({ name: p.name, checkpointShape: p.checkpointShape, shape: p.variable.shape, layout: p.layout, slots: Object.fromEntries(slots.map((s) => [s, `opt.${s}:${p.name}`])) })),
    training: { optimizer: config.kind },
  } as unknown as Graph;
}

/**
 * The optimizer phase as lowerOptimizer lowers it (sums of squares, the norm and clip coefficient,
 * one update per parameter), run by the tfjs kernels; `t` counts the updates including this one.
 * Returns the step statistics [loss, hits, norm, clip coefficient].
 */
function optimizerStep(params: Param[], slots: OptimizerSlots, grads: Tensor[], config: OptimizerConfig, lr: number, t: number, clip: number | null = null): number[] {
  const env = new Environment(tf);
  const stats = 'output:training.stats';
  const nodes: GraphNode[] = [];
  const graph = graphOf(params, config);
  params.forEach((p, index) => {
    env.bind(`param:${p.name}`, p.variable);
    env.put(`grad:${p.name}`, tf.clone(grads[index]!));
    nodes.push({ op: 'grad_sumsq', label: '', inputs: { grad: `grad:${p.name}` }, outputs: { partial: 'scratch' }, attrs: { count: p.variable.size, index } });
  });
  for (const [name, v] of slots.variables) env.bind(name, v);
  env.put(stats, tf.tensor1d([0, 0]));
  nodes.push({ op: 'grad_norm', label: '', inputs: { partial: 'scratch' }, outputs: { stats }, attrs: { params: params.length, clip } });
  params.forEach((p, i) => {
    const s = graph.params[i]!.slots;
    const base = { p: `param:${p.name}`, grad: `grad:${p.name}` };
    nodes.push(config.kind === 'adamw'
      ? { op: 'adamw', label: '', inputs: { stats }, outputs: { ...base, m: s.m!, v: s.v! }, attrs: { beta1: config.beta1, beta2: config.beta2, eps: config.eps, decay: p.weightDecay && config.weightDecay !== 0 } }
      : { op: 'sgd', label: '', inputs: { stats }, outputs: { ...base, ...(s.m ? { buf: s.m } : {}) }, attrs: { momentum: config.momentum, weightDecay: p.weightDecay ? config.weightDecay : 0 } });
  });
  const training = { accumulate: 1, optimizer: config.kind, stats, lr: config.lr, weightDecay: config.weightDecay, beta1: config.kind === 'adamw' ? config.beta1 : 0, beta2: config.kind === 'adamw' ? config.beta2 : 0, seed: 0 };
  const k = { tf, env, pass: { training: true, step: t - 1, seed: 0, microBatch: 0, values: runtimeValues(training, { step: t - 1, lr }) }, state: () => { throw new Error('no allocation'); } };
  try {
    for (const node of nodes) tf.tidy(() => KERNELS[node.op]!(k, node, node.attrs as Record<string, any>));
    for (const p of params) expect(env.has(`grad:${p.name}`), `${p.name}: the gradient is zeroed (released)`).toBe(false);
    return Array.from(env.get(stats).dataSync());
  } finally {
    env.dispose();
  }
}

/** An optimizer over `params` as the old interface had it: slots, and apply(grads, lr, t). */
function createOptimizer(params: Param[], config: OptimizerConfig) {
  const slots = new OptimizerSlots(tf, graphOf(params, config));
  return {
    slots,
    apply: (grads: Tensor[], lr: number, t: number, clip: number | null = null) => optimizerStep(params, slots, grads, config, lr, t, clip),
    dispose: () => slots.dispose(),
  };
}

describe('AdamW', () => {
  const config: OptimizerConfig = { kind: 'adamw', lr: 0.1, weightDecay: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

  it('takes the first step of size lr against the gradient, after decaying the weight only', () => {
    const params = makeParams(1, 1);
    const opt = createOptimizer(params, config);
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
    const opt = createOptimizer(params, config);
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
    const opt = createOptimizer(params, config);
    const g = tfGrads(params);
    opt.apply(g, 0.1, 1);
    const saved = opt.slots.stateTensors();
    expect(Object.keys(saved).sort()).toEqual(['m', 'v']);
    expect(saved.m!['fc.weight']!.shape).toEqual([1, 1]);
    expect(saved.v!['fc.bias']!.data[0]).toBeCloseTo(0.001 * handGrads(0.3, -0.2)[1] ** 2, 8);
    const again = createOptimizer(makeParams(0.3, -0.2), config);
    again.slots.loadState(saved);
    expect(again.slots.stateTensors()).toEqual(saved);
    expect(() => again.slots.loadState({ m: saved.m! })).toThrow(/no optimizer\.v\.\* tensors/);
    tf.dispose(g);
    opt.dispose();
    again.dispose();
  });
});

describe('SGD', () => {
  it('with momentum and L2 decay follows the hand-computed trajectory', () => {
    const config: OptimizerConfig = { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0.01 };
    const params = makeParams(0.3, -0.2);
    const opt = createOptimizer(params, config);
    expect([...opt.slots.variables.keys()]).toEqual(['opt.m:fc.weight', 'opt.m:fc.bias']);
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
    const opt = createOptimizer(params, { kind: 'sgd', lr: 0.5, momentum: 0, weightDecay: 0 });
    expect(opt.slots.variables.size).toBe(0);
    const g = tfGrads(params);
    const [gw, gb] = handGrads(1, 1);
    opt.apply(g, 0.5, 1);
    const [w, b] = values(params);
    expect(w).toBeCloseTo(1 - 0.5 * gw, 6);
    expect(b).toBeCloseTo(1 - 0.5 * gb, 6);
    expect(opt.slots.stateTensors()).toEqual({});
    tf.dispose(g);
    opt.dispose();
  });
});

describe('the global norm', () => {
  const sgd: OptimizerConfig = { kind: 'sgd', lr: 1, momentum: 0, weightDecay: 0 };
  const vector = (values: number[], name: string): Param => ({ name, checkpointShape: [values.length], layout: 'same', variable: tf.variable(tf.tensor1d(values)), weightDecay: false });

  it('clips as torch.nn.utils.clip_grad_norm_: every gradient scaled by max / (norm + 1e-6) above it', () => {
    const params = [vector([0, 0], 'a'), vector([0, 0], 'b')];
    const opt = createOptimizer(params, sgd);
    const grads = [tf.tensor1d([3, 0]), tf.tensor1d([0, 4])]; // norm 5
    const [, , norm, coef] = opt.apply(grads, 1, 1, 1);
    expect(norm).toBeCloseTo(5, 6);
    expect(coef).toBeCloseTo(1 / (5 + 1e-6), 7);
    expect(Array.from(params[0]!.variable.dataSync())).toEqual([expect.closeTo(-0.6, 6), 0]);
    expect(Array.from(params[1]!.variable.dataSync())).toEqual([0, expect.closeTo(-0.8, 6)]);
    tf.dispose(grads);
    opt.dispose();
  });

  it('leaves gradients below the threshold, and all of them without one, unscaled', () => {
    const params = [vector([0, 0], 'a')];
    const opt = createOptimizer(params, sgd);
    const small = [tf.tensor1d([0.3, 0.4])];
    expect(opt.apply(small, 1, 1, 1)[3]).toBe(1);
    const big = [tf.tensor1d([30, 40])];
    const [, , norm, coef] = opt.apply(big, 1, 2, null);
    expect(norm).toBeCloseTo(50, 5);
    expect(coef).toBe(1);
    expect(Array.from(params[0]!.variable.dataSync())).toEqual([expect.closeTo(-30.3, 4), expect.closeTo(-40.4, 4)]);
    tf.dispose([...small, ...big]);
    opt.dispose();
  });

  it('skips the whole update (parameters and slots) when the norm is not finite, and still zeroes the gradients', () => {
    const params = makeParams(0.3, -0.2);
    const opt = createOptimizer(params, { kind: 'adamw', lr: 0.1, weightDecay: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    const grads = [tf.tensor2d([[NaN]]), tf.tensor1d([1])];
    expect(Number.isNaN(opt.apply(grads, 0.1, 1)[2])).toBe(true);
    expect(values(params)).toEqual([expect.closeTo(0.3, 7), expect.closeTo(-0.2, 7)]);
    expect(opt.slots.stateTensors().m!['fc.bias']!.data[0]).toBe(0);
    tf.dispose(grads);
    opt.dispose();
  });
});

describe('on a ViT', () => {
  it('AdamW without weight decay moves every parameter as tf.train.adam does', async () => {
    const { VitModel } = await import('../../runtime/tfjs/vit.js');
    const { TfjsEngine } = await import('../../runtime/tfjs/engine.js');
    const { batchGradients } = await import('../../runtime/tfjs/step.js');
    const { tinyModel, tinyRun } = await import('./fixtures.js');
    const run = tinyRun({ batch: 8, microBatch: 8, labelSmoothing: 0, optimizer: { kind: 'adamw', lr: 1e-2, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8 } });
    const engine = new TfjsEngine(tf, 'wasm', { model: tinyModel(), run, seed: 4, microBatch: 8 });
    const ours = engine.vit;
    const theirs = new VitModel(tf, tinyModel(), { seed: 4, scope: 'adam/' });
    const adam = tf.train.adam(1e-2, 0.9, 0.999, 1e-8);
    const batch = { x: Float32Array.from({ length: 8 * 64 }, (_, i) => Math.sin(i * 0.37)), y: Int32Array.from([0, 1, 2, 3, 0, 1, 2, 3]), size: 8 };
    for (let t = 1; t <= 4; t++) {
      await engine.step(batch, { step: t - 1, epochStep: t - 1, lr: 1e-2 });
      const b = batchGradients(theirs, batch, { run, microBatch: 8, step: t - 1, seed: 4 });
      adam.applyGradients(Object.fromEntries(theirs.params.list.map((p, i) => [p.variable.name, b.grads[i]!])));
      tf.dispose([...b.grads, b.loss, b.correct]);
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
    adam.dispose();
    engine.dispose();
    theirs.dispose();
  });
});
