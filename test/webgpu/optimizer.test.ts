// The loss and the update (templates/optimizer.ts) against float64 loops: cross-entropy with label
// smoothing (statistics over micro-batches, the gradient), the global gradient norm and clipping,
// AdamW (decoupled decay on or off, a non-finite norm leaving parameters alone) and SGD.
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS as L } from '../../compiler/targets/webgpu/kernel.js';
import { adamwKernel, crossEntropyKernel, gradNormKernel, gradSumSquaresKernel, sgdKernel } from '../../compiler/targets/webgpu/templates/optimizer.js';
import { runKernel } from '../../runtime/webgpu/run-kernel.js';
import { expectClose, gpuForTests, randomArray, rng } from '../helpers/webgpu.js';

const { gpu, skipReason } = await gpuForTests();

/** Per-row loss, hit and gradient of softmax cross-entropy against (1 - s) onehot + s / C. */
function crossEntropy(logits: Float32Array, labels: Uint32Array, C: number, s: number) {
  const B = labels.length;
  const loss: number[] = [];
  const hits: number[] = [];
  const grad = new Float64Array(B * C);
  for (let b = 0; b < B; b++) {
    const row = Array.from(logits.subarray(b * C, b * C + C));
    const top = Math.max(...row);
    const lse = Math.log(row.reduce((a, v) => a + Math.exp(v - top), 0)) + top;
    let l = 0;
    row.forEach((v, c) => {
      const t = (c === labels[b] ? 1 - s : 0) + s / C;
      l -= t * (v - lse);
      grad[b * C + c] = Math.exp(v - lse) - t;
    });
    loss.push(l);
    hits.push(row.indexOf(top) === labels[b] ? 1 : 0);
  }
  return { loss, hits, grad };
}

describe.skipIf(!gpu)(`loss and optimizer kernels ${skipReason ?? ''}`, () => {
  const device = gpu?.device!; // undefined only when the describe is skipped

  it('cross-entropy with label smoothing: per-pass statistics accumulate over micro-batches, gradient scaled', async () => {
    const [B, C, s] = [70, 7, 0.1];
    const r = rng(21);
    const gradScale = 1 / (2 * B);
    const kernel = crossEntropyKernel({ batch: B, classes: C, smoothing: s, gradScale }, L);
    let stats = Float32Array.from([99, 99, 5, 6]);
    let lossSum = 0;
    let hitSum = 0;
    for (const micro of [0, 1]) {
      const logits = randomArray(B * C, r, -4, 4);
      const labels = Uint32Array.from({ length: B }, () => Math.floor(r() * C));
      const ref = crossEntropy(logits, labels, C, s);
      const { out } = await runKernel(device, kernel, { logits, labels, dlogits: B * C, stats }, { micro });
      expectClose(out.dlogits!, ref.grad.map((g) => g * gradScale), 1e-8, 1e-5, 'dlogits');
      lossSum += ref.loss.reduce((a, b) => a + b) * gradScale;
      hitSum += ref.hits.reduce((a, b) => a + b);
      stats = out.stats as Float32Array;
      expect(stats[0]).toBeCloseTo(lossSum, 5); // micro 0 replaces the 99 left from elsewhere
      expect(stats[1]).toBe(hitSum);
      expect(Array.from(stats.slice(2))).toEqual([5, 6]);
    }
    const logits = randomArray(B * C, r, -4, 4);
    const labels = Uint32Array.from({ length: B }, () => Math.floor(r() * C));
    const ref = crossEntropy(logits, labels, C, 0);
    const evalStats = (await runKernel(device, crossEntropyKernel({ batch: B, classes: C, smoothing: 0, gradScale: null }, L), { logits, labels, stats: 2 })).out.stats!;
    expect(evalStats[0]).toBeCloseTo(ref.loss.reduce((a, b) => a + b), 3);
    expect(evalStats[1]).toBe(ref.hits.reduce((a, b) => a + b));
  });

  for (const clip of [null, 0.5, 1e6]) {
    it(`global gradient norm, clip ${clip}`, async () => {
      const r = rng(5);
      const grads = [randomArray(1000, r), randomArray(7, r), randomArray(130, r)];
      let partial: Float32Array = new Float32Array(grads.length);
      for (const [index, grad] of grads.entries()) partial = (await runKernel(device, gradSumSquaresKernel(L), { grad, partial }, { count: grad.length, index })).out.partial as Float32Array;
      const norm = Math.sqrt(grads.flatMap((g) => Array.from(g)).reduce((a, g) => a + g * g, 0));
      const stats = (await runKernel(device, gradNormKernel({ params: grads.length, clip }, L), { partial, stats: Float32Array.from([1, 2, 0, 0]) })).out.stats!;
      expect(stats[2]! / norm).toBeCloseTo(1, 5);
      expect(stats[3]).toBeCloseTo(clip === null ? 1 : Math.min(clip / (norm + 1e-6), 1), 6);
      expect(Array.from(stats.slice(0, 2))).toEqual([1, 2]);
    });
  }

  for (const decayed of [true, false]) {
    it(`AdamW, decoupled decay ${decayed}, then a non-finite norm changes nothing`, async () => {
      const n = 300;
      const r = rng(decayed ? 6 : 7);
      const [p, g, m, v] = [randomArray(n, r), randomArray(n, r), randomArray(n, r, -0.1, 0.1), randomArray(n, r, 0, 0.01)];
      const [lr, wd, b1, b2, eps, t, coef] = [1e-2, 0.05, 0.9, 0.999, 1e-8, 3, 0.8];
      const stepSize = lr / (1 - b1 ** t);
      const bias2 = Math.sqrt(1 - b2 ** t);
      const decay = decayed ? 1 - lr * wd : 1;
      const u = { count: n, beta1: b1, one_minus_beta1: 1 - b1, beta2: b2, one_minus_beta2: 1 - b2, eps, step_size: stepSize, bias2_sqrt: bias2, decay };
      const stats = Float32Array.from([0, 0, 3, coef]);
      const { out } = await runKernel(device, adamwKernel({ count: n }, L), { p: p.slice(), grad: g.slice(), m: m.slice(), v: v.slice(), stats }, u);
      const m1 = Array.from(m, (mi, i) => b1 * mi + (1 - b1) * g[i]! * coef);
      const v1 = Array.from(v, (vi, i) => b2 * vi + (1 - b2) * (g[i]! * coef) ** 2);
      expectClose(out.m!, m1, 1e-7, 1e-6, 'm');
      expectClose(out.v!, v1, 1e-9, 1e-5, 'v');
      expectClose(out.p!, Array.from(p, (pi, i) => pi * decay - (m1[i]! / (Math.sqrt(v1[i]!) / bias2 + eps)) * stepSize), 1e-6, 1e-6, 'p');
      expect(Array.from(out.grad!).every((x) => x === 0)).toBe(true);
      const bad = await runKernel(device, adamwKernel({ count: n }, L), { p: p.slice(), grad: g.slice(), m: m.slice(), v: v.slice(), stats: Float32Array.from([0, 0, NaN, 1]) }, u);
      expect(Array.from(bad.out.p!)).toEqual(Array.from(p));
      expect(Array.from(bad.out.m!)).toEqual(Array.from(m));
      expect(Array.from(bad.out.grad!).every((x) => x === 0)).toBe(true);
    });
  }

  for (const momentum of [true, false]) {
    it(`SGD, momentum ${momentum}`, async () => {
      const n = 100;
      const r = rng(momentum ? 8 : 9);
      const [p, g, buf] = [randomArray(n, r), randomArray(n, r), randomArray(n, r)];
      const [lr, wd, mu, coef] = [0.1, 1e-3, 0.9, 0.5];
      const data: Record<string, Float32Array> = { p: p.slice(), grad: g.slice(), stats: Float32Array.from([0, 0, 1, coef]) };
      if (momentum) data.buf = buf.slice();
      const u: Record<string, number> = { count: n, lr, weight_decay: wd };
      if (momentum) u.momentum = mu;
      const { out } = await runKernel(device, sgdKernel({ count: n, momentum }, L), data, u);
      const d = Array.from(g, (gi, i) => gi * coef + wd * p[i]!);
      const step = momentum ? d.map((di, i) => mu * buf[i]! + di) : d;
      if (momentum) expectClose(out.buf!, step, 1e-7, 1e-6, 'buf');
      expectClose(out.p!, Array.from(p, (pi, i) => pi - lr * step[i]!), 1e-7, 1e-6, 'p');
    });
  }
});
