// The grouped attention core (runtime/tfjs/attention.ts) on the wasm backend against a plain float64
// reference written here: every grouping, gradients by finite differences, the KDGQA/DGQA state over
// steps, eval modes, the paper's quirks, dropout and PGQA noise as documented in docs/attention.md.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { allocateFromScores } from '../../compiler/alloc.js';
import type { AttentionIR, PerturbIR } from '../../compiler/ir/types.js';
import { Purpose, seed32, streamId, uniformFloats } from '../../core/random.js';
import { createAttentionState, type AttentionState } from '../../runtime/tfjs/attention.js';
import { perturbNoise, subtractNoise } from '../../runtime/tfjs/perturb.js';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

import { type Shape, attentionCore, ir, keyNorm, ctx, makeQkv, reference, refNorms, sumOver, groupsOf, run, expectClose, countsOf } from './attention-fixtures.js';

describe('uniform grouping equals the float64 reference', () => {
  for (const [name, H, G] of [['MHA', 4, 4], ['MQA', 4, 1], ['GQA', 6, 2]] as const) {
    it(name, () => {
      const s = { B: 2, T: 5, H, G, hd: 3 };
      const x = makeQkv(s, 3);
      expectClose(run(x, s, ir(s), ctx()), reference(x, s, (_, h) => Math.floor(h / (H / G))));
    });
  }
});

describe('gradients equal finite differences of the reference', () => {
  function check(s: Shape, a: AttentionIR, groupOf: (b: number, h: number) => number, state: AttentionState | null = null) {
    const x = makeQkv(s, 5, [[0.5, 2, 1, 3].slice(0, s.G)]);
    const w = uniformFloats(6, 6, s.B * s.T * s.H * s.hd).map((u) => u - 0.5);
    const loss = (y: ArrayLike<number>) => Array.from(y).reduce((acc, v, i) => acc + v * w[i]!, 0);
    const grad = tf.tidy(() => {
      const g = tf.grad((q: tf.Tensor) => attentionCore(tf, q as tf.Tensor3D, a, ctx({ state, training: true })).mul(tf.tensor(w, [s.B, s.T, s.H * s.hd])).sum());
      return g(tf.tensor3d(x, [s.B, s.T, (s.H + 2 * s.G) * s.hd])).dataSync();
    });
    const eps = 1e-6;
    const fd = Array.from(x, (_, i) => {
      const up = Float64Array.from(x); up[i] += eps;
      const down = Float64Array.from(x); down[i] -= eps;
      return (loss(reference(up, s, groupOf)) - loss(reference(down, s, groupOf))) / (2 * eps);
    });
    expectClose(grad, fd, 2e-4);
  }
  it('MHA', () => check({ B: 1, T: 3, H: 2, G: 2, hd: 2 }, ir({ B: 1, T: 3, H: 2, G: 2, hd: 2 }), (_, h) => h));
  it('GQA', () => check({ B: 1, T: 3, H: 4, G: 2, hd: 2 }, ir({ B: 1, T: 3, H: 4, G: 2, hd: 2 }), (_, h) => Math.floor(h / 2)));
  it('KDGQA: none through the allocation, the rest as for fixed groups', () => {
    const s = { B: 1, T: 3, H: 4, G: 2, hd: 2 };
    const a = ir(s, keyNorm({ min: 1 }));
    // norms 0.5x and 2x: min-max gives the claims 0 and 1, so counts [1, 3] (minimum 1)
    check(s, a, (_, h) => groupsOf([1, 3])[h]!, createAttentionState(tf, a));
  });
});

describe('KDGQA (key_norm, untracked)', () => {
  const s = { B: 2, T: 4, H: 8, G: 4, hd: 2 };

  it('allocates from the batch-summed norms, uneven groups, and follows the batch', () => {
    const a = ir(s, keyNorm({ rounding: 'largest_remainder', min: 1 }));
    const state = createAttentionState(tf, a)!;
    for (const [seed, scale] of [[11, [1, 2, 3, 6]], [12, [6, 3, 1, 1.5]]] as const) {
      const x = makeQkv(s, seed, [scale as unknown as number[], scale as unknown as number[]]);
      const counts = allocateFromScores(sumOver(refNorms(x, s)), { heads: 8, scale: 'minmax', rounding: 'largest_remainder', minPerGroup: 1 }).counts;
      expectClose(run(x, s, a, ctx({ training: true, state })), reference(x, s, (_, h) => groupsOf(counts)[h]!));
      expect(countsOf(state)).toEqual(counts);
    }
  });

  it('scope sample: one allocation per image', () => {
    const a = ir(s, keyNorm({ scope: 'sample', min: 0 }));
    const x = makeQkv(s, 13, [[1, 2, 3, 6], [6, 3, 2, 1]]);
    const norms = refNorms(x, s);
    const counts = norms.map((n) => allocateFromScores(n, { heads: 8, scale: 'minmax', rounding: 'largest_remainder', minPerGroup: 0 }).counts);
    expect(counts[0]).not.toEqual(counts[1]);
    expectClose(run(x, s, a, ctx({ state: createAttentionState(tf, a) })), reference(x, s, (b, h) => groupsOf(counts[b]!)[h]!));
  });

  it("eval 'frozen' keeps the training allocation, 'recompute' follows the eval batch", () => {
    const train = makeQkv(s, 14, [[1, 2, 3, 6], [1, 2, 3, 6]]);
    const evalX = makeQkv(s, 15, [[6, 3, 2, 1], [6, 3, 2, 1]]);
    const opts = { heads: 8, scale: 'minmax' as const, rounding: 'largest_remainder' as const, minPerGroup: 1 };
    const trained = allocateFromScores(sumOver(refNorms(train, s)), opts).counts;
    const fresh = allocateFromScores(sumOver(refNorms(evalX, s)), opts).counts;
    expect(trained).not.toEqual(fresh);
    for (const mode of ['frozen', 'recompute'] as const) {
      const a = ir(s, keyNorm({ eval: mode }));
      const state = createAttentionState(tf, a)!;
      run(train, s, a, ctx({ training: true, state }));
      const counts = mode === 'frozen' ? trained : fresh;
      expectClose(run(evalX, s, a, ctx({ state })), reference(evalX, s, (_, h) => groupsOf(counts)[h]!));
      expect(countsOf(state)).toEqual(trained); // eval never changes the state
    }
  });

  it("compat 'paper': a starved group gets no query head, and nothing turns NaN", () => {
    const a = ir(s, keyNorm({ rounding: 'paper', min: 0 }), { compat: 'paper' });
    const x = makeQkv(s, 16, [[1, 4, 5, 6], [1, 4, 5, 6]]);
    const counts = allocateFromScores(sumOver(refNorms(x, s)), { heads: 8, scale: 'minmax', rounding: 'paper', minPerGroup: 0 }).counts;
    expect(counts[0]).toBe(0);
    const y = run(x, s, a, ctx({ state: createAttentionState(tf, a) }));
    expect(y.every(Number.isFinite)).toBe(true);
    expectClose(y, reference(x, s, (_, h) => groupsOf(counts)[h]!));
  });

  it('equal norms (the reference divides 0 by 0) fall back to the equal share', () => {
    const a = ir(s, keyNorm({ rounding: 'paper', min: 0 }));
    const x = makeQkv(s, 17, [[0, 0, 0, 0], [0, 0, 0, 0]]); // all keys zero
    const y = run(x, s, a, ctx({ state: createAttentionState(tf, a) }));
    expect(y.every(Number.isFinite)).toBe(true);
    expectClose(y, reference(x, s, (_, h) => Math.floor(h / 2)));
  });
});

describe('memory', () => {
  it('leaves no tensor behind, in training (gradients included) and at eval', () => {
    const s = { B: 2, T: 3, H: 8, G: 4, hd: 2 };
    const a = ir(s, keyNorm({ track: { kind: 'diff', rule: 'attnc' }, window: 2, init: 'first_batch' }), { perturb: { distribution: 'gaussian', scale: 0.1, at: 'output', during: 'always' } });
    const state = createAttentionState(tf, a)!;
    const x = tf.variable(tf.tensor3d(makeQkv(s, 70, [[1, 2, 3, 4], [1, 2, 3, 4]]), [s.B, s.T, 16 * 2]));
    const before = tf.memory().numTensors;
    for (let step = 0; step < 4; step++) {
      const { value, grads } = tf.variableGrads(() => attentionCore(tf, x, a, ctx({ training: true, step, state, attnDropout: 0.1 })).sum() as tf.Scalar, [x]);
      expect(grads[x.name]!.shape).toEqual(x.shape);
      value.dispose();
      tf.dispose(grads);
      tf.dispose(attentionCore(tf, x, a, ctx({ state })));
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('attention dropout', () => {
  const s = { B: 1, T: 4, H: 4, G: 2, hd: 2 };
  it('uses the documented mask in training only', () => {
    const x = makeQkv(s, 50);
    const p = 0.5;
    const u = uniformFloats(seed32(7), streamId(Purpose.attentionDropout, 3, 11, 0), s.B * s.H * s.T * s.T);
    const mask = u.map((v) => (v >= p ? 1 / (1 - p) : 0));
    const groupOf = (_: number, h: number) => Math.floor(h / 2);
    expectClose(run(x, s, ir(s), ctx({ training: true, attnDropout: p, seed: 7, layer: 3, step: 11 })), reference(x, s, groupOf, mask));
    expectClose(run(x, s, ir(s), ctx({ training: false, attnDropout: p, seed: 7, layer: 3, step: 11 })), reference(x, s, groupOf));
  });
});

describe('PGQA (perturb)', () => {
  const s = { B: 2, T: 3, H: 4, G: 2, hd: 2 };
  const pert = (o: Partial<PerturbIR> = {}): PerturbIR => ({ distribution: 'uniform', scale: 0.5, at: 'output', during: 'train', ...o });

  it('subtracts noise with exactly each row\'s mean and std, times scale', () => {
    const x = tf.randomNormal([2, 3, 4, 10], 1, 2, 'float32', 1) as tf.Tensor4D;
    const p = pert({ distribution: 'gaussian', scale: 0.25 });
    const noise = perturbNoise(p, [2, 3, 4, 10], { seed: 1, layer: 0, step: 0, microBatch: 0, paper: false, headsPerGroup: 1 });
    const xs = x.arraySync().flat(2);
    const ys = (subtractNoise(tf, x, tf.tensor4d(noise, [2, 3, 4, 10]), 0.25) as tf.Tensor4D).arraySync().flat(2);
    xs.forEach((row, r) => {
      const sub = row.map((v, j) => (v - ys[r]![j]!) / 0.25);
      const stats = (a: number[]) => { const m = a.reduce((t, v) => t + v, 0) / a.length; return [m, Math.sqrt(a.reduce((t, v) => t + (v - m) ** 2, 0) / a.length)]; };
      expectClose(stats(sub), stats(row), 1e-4);
    });
  });

  it("draws standardised rows; 'paper' shares them over the batch and zeroes the diagonal first", () => {
    const d = { seed: 2, layer: 1, step: 4, microBatch: 0, paper: true, headsPerGroup: 2 };
    const n = perturbNoise(pert(), [3, 4, 1, 6], d);
    expect(n.length).toBe(4 * 6);
    const again = perturbNoise(pert(), [3, 4, 1, 6], { ...d, paper: false });
    expect(again.length).toBe(3 * 4 * 6);
    for (let row = 0; row < 4; row++) {
      const r = Array.from(n.slice(row * 6, row * 6 + 6));
      expect(Math.abs(r.reduce((a, v) => a + v, 0) / 6)).toBeLessThan(1e-6);
      expect(Math.abs(r.reduce((a, v) => a + v * v, 0) / 6 - 1)).toBeLessThan(1e-5);
    }
    const raw = uniformFloats(seed32(2), streamId(Purpose.perturbNoise, 1, 4, 0), 24);
    raw[1 * 6 + 1] = 0; // head 1 is the second head of its group: column 1
    const r1 = Array.from(raw.slice(6, 12));
    const m = r1.reduce((a, v) => a + v, 0) / 6;
    expect(n[7]).toBeCloseTo((0 - m) / Math.sqrt(r1.reduce((a, v) => a + (v - m) ** 2, 0) / 6), 5);
  });

  it("wires the noise to each head's output rows; 'train' only in training, 'always' at eval too; seeded", () => {
    const x = makeQkv(s, 60);
    const groupOf = (_: number, h: number) => Math.floor(h / 2);
    const base = reference(x, s, groupOf);
    const p = pert({ during: 'train' });
    const noise = perturbNoise(p, [2, 4, 1, 6], { seed: 9, layer: 2, step: 5, microBatch: 0, paper: false, headsPerGroup: 2 });
    const want = new Float64Array(base.length);
    for (let b = 0; b < 2; b++) for (let h = 0; h < 4; h++) {
      const idx = (t: number, d: number) => (b * s.T + t) * 8 + h * 2 + d;
      const row = Array.from({ length: 6 }, (_, j) => base[idx(Math.floor(j / 2), j % 2)]!);
      const mean = row.reduce((a, v) => a + v, 0) / 6;
      const std = Math.sqrt(row.reduce((a, v) => a + (v - mean) ** 2, 0) / 6);
      row.forEach((v, j) => { want[idx(Math.floor(j / 2), j % 2)] = v - 0.5 * (noise[(b * 4 + h) * 6 + j]! * std + mean); });
    }
    const c = ctx({ training: true, seed: 9, layer: 2, step: 5 });
    expectClose(run(x, s, ir(s, undefined, { perturb: p }), c), want);
    expectClose(run(x, s, ir(s, undefined, { perturb: p }), { ...c, training: false }), base);
    expectClose(run(x, s, ir(s, undefined, { perturb: { ...p, during: 'always' } }), { ...c, training: false }), want);
    const other = run(x, s, ir(s, undefined, { perturb: p }), { ...c, step: 6 });
    expect(Array.from(other)).not.toEqual(Array.from(run(x, s, ir(s, undefined, { perturb: p }), c)));
  });

  it("at 'scores' perturbs the logits: deterministic, and different from the unperturbed output", () => {
    const x = makeQkv(s, 61);
    const a = ir(s, undefined, { perturb: pert({ at: 'scores', during: 'always', distribution: 'gaussian' }) });
    const y1 = run(x, s, a, ctx({ step: 2 }));
    expect(Array.from(run(x, s, a, ctx({ step: 2 })))).toEqual(Array.from(y1));
    expect(Array.from(y1)).not.toEqual(Array.from(run(x, s, ir(s), ctx({ step: 2 }))));
    expect(y1.every(Number.isFinite)).toBe(true);
  });
});
