// Elementwise and embedding kernels against float64 loops: GELU (and the accuracy of its erfc, against
// a float64 erfc written here), dropout and stochastic-depth masks (against runtime/random.ts draws,
// the streams of runtime/tfjs/vit.ts), the residual add and its backward, the bias gradient,
// patchify, the class token and position embedding, pooling.
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS as L } from '../../compiler/targets/webgpu/kernel.js';
import { biasGradKernel, dropoutThreshold, geluBackwardKernel, geluKernel, residualBackwardKernel, residualKernel } from '../../compiler/targets/webgpu/templates/elementwise.js';
import { embedBackwardKernel, embedKernel, patchifyKernel, poolBackwardKernel, poolKernel } from '../../compiler/targets/webgpu/templates/embed.js';
import { Purpose, streamId, uniformFloats } from '../../core/random.js';
import { runKernel } from '../../runtime/webgpu/run-kernel.js';
import { expectClose, gpuForTests, randomArray, rng } from '../helpers/webgpu.js';

const { gpu, skipReason } = await gpuForTests();

/** erfc in float64: power series of erf below 2.5, Laplace's continued fraction above (~1e-12 relative). */
function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 2.5) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (-x * x) / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = x;
  for (let k = 80; k >= 1; k--) f = x + k / 2 / f;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}
const phi = (x: number) => 0.5 * erfc(-x / Math.SQRT2);
const gelu = (x: number) => x * phi(x);
const geluGrad = (x: number) => phi(x) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);

const seed = 0xabcdef;
const stream = { seed, step: 5, micro: 1, layer: 3 };
/** runtime/tfjs/vit.ts: keep factor of element i under (site, rate). */
function keepFactors(site: number, rate: number, count: number): Float64Array {
  const u = uniformFloats(seed, streamId(Purpose.dropout, site, stream.layer, stream.step, stream.micro), count);
  return Float64Array.from(u, (v) => (v >= rate ? Math.fround(1 / (1 - rate)) : 0));
}
const maskUniforms = (prefix: string, site: number, rate: number) => {
  const { threshold, keep } = dropoutThreshold(rate);
  return { [`${prefix}_site`]: site, [`${prefix}_threshold`]: threshold, [`${prefix}_keep`]: keep };
};

describe('the float64 erfc', () => {
  it('has the known values', () => {
    expect(erfc(0)).toBe(1);
    expect(erfc(0.5)).toBeCloseTo(0.4795001221869535, 14);
    expect(erfc(2)).toBeCloseTo(0.004677734981047266, 15);
    expect(erfc(3) / 2.209049699858544e-5).toBeCloseTo(1, 10);
    expect(erfc(6) / 2.151973671249892e-17).toBeCloseTo(1, 10);
  });
});

describe.skipIf(!gpu)(`elementwise kernels ${skipReason ?? ''}`, () => {
  const device = gpu?.device!; // undefined only when the describe is skipped

  it('GELU and its gradient on a grid over [-10, 10]: the accuracy stated in docs/webgpu.md', async () => {
    const xs = Float32Array.from({ length: 20001 }, (_, i) => -10 + i * 1e-3);
    const y = (await runKernel(device, geluKernel({ count: xs.length, dropout: false }, L), { x: xs, y: xs.length })).out.y!;
    const dy = new Float32Array(xs.length).fill(1);
    const dx = (await runKernel(device, geluBackwardKernel({ count: xs.length, dropout: false }, L), { x: xs, dy, dx: xs.length })).out.dx!;
    let absErr = 0;
    let relErr = 0;
    let relTail = 0;
    let gradErr = 0;
    xs.forEach((x, i) => {
      const want = gelu(x);
      const err = Math.abs(y[i]! - want);
      absErr = Math.max(absErr, err);
      if (x >= -3) relErr = Math.max(relErr, err / Math.abs(want || 1));
      else relTail = Math.max(relTail, err / Math.abs(want));
      gradErr = Math.max(gradErr, Math.abs(dx[i]! - geluGrad(x)));
    });
    console.log(`GELU on the device: max abs error ${absErr.toExponential(2)}; max rel error ${relErr.toExponential(2)} on [-3, 10], ` +
      `${relTail.toExponential(2)} on [-10, -3); gradient max abs error ${gradErr.toExponential(2)}`);
    // The erfc fit is 1.2e-7 relative; f32 rounds x * Phi(x) (half an ulp: 4.8e-7 at x = 10) and
    // exp(-z^2 + p), whose argument carries an f32 error of ~z^2 * 6e-8 (the deep left tail).
    expect(absErr).toBeLessThan(5e-7);
    expect(relErr).toBeLessThan(2e-6);
    expect(relTail).toBeLessThan(3e-5);
    expect(gradErr).toBeLessThan(5e-7);
  });

  it('GELU with the MLP hidden dropout, forward and backward, draws runtime/random.ts masks', async () => {
    const count = 3000;
    const r = rng(4);
    const x = randomArray(count, r, -3, 3);
    const u = { ...stream, ...maskUniforms('drop', 1, 0.3) };
    const y = (await runKernel(device, geluKernel({ count, dropout: true }, L), { x, y: count }, u)).out.y!;
    const keep = keepFactors(1, 0.3, count);
    expectClose(y, Array.from(x, (v, i) => gelu(v) * keep[i]!), 1e-6, 1e-6, 'y');
    const dy = randomArray(count, r);
    const dx = (await runKernel(device, geluBackwardKernel({ count, dropout: true }, L), { x, dy, dx: count }, u)).out.dx!;
    expectClose(dx, Array.from(x, (v, i) => dy[i]! * keep[i]! * geluGrad(v)), 1e-6, 1e-6, 'dx');
    const dropped = keep.filter((k) => k === 0).length / count;
    expect(dropped).toBeGreaterThan(0.25);
    expect(dropped).toBeLessThan(0.35);
  });

  for (const [dropout, dropPath] of [[true, true], [false, true], [true, false], [false, false]] as const) {
    it(`residual forward and backward, dropout ${dropout}, drop path ${dropPath}`, async () => {
      const [rows, dim, tokens] = [12, 10, 3];
      const count = rows * dim;
      const r = rng(rows + (dropout ? 1 : 0) + (dropPath ? 2 : 0));
      const h = randomArray(count, r);
      const y = randomArray(count, r);
      const u = dropout || dropPath ? { ...stream, ...(dropout ? maskUniforms('drop', 0, 0.25) : {}), ...(dropPath ? maskUniforms('path', 3, 0.5) : {}) } : {};
      const elem = dropout ? keepFactors(0, 0.25, count) : new Float64Array(count).fill(1);
      const sample = dropPath ? keepFactors(3, 0.5, rows / tokens) : new Float64Array(rows / tokens).fill(1);
      const factor = (i: number) => elem[i]! * sample[Math.floor(i / (dim * tokens))]!;
      const opts = { rows, dim, tokens, dropout, dropPath };
      const out = (await runKernel(device, residualKernel(opts, L), { h, y, out: count }, u)).out.out!;
      expectClose(out, Array.from(h, (v, i) => v + y[i]! * factor(i)), 1e-6, 1e-6, 'out');
      const dy = (await runKernel(device, residualBackwardKernel(opts, L), { dout: y, dy: count }, u)).out.dy!;
      expectClose(dy, Array.from(y, (v, i) => v * factor(i)), 1e-6, 1e-6, 'dy');
    });
  }

  it('thresholds reproduce u >= rate exactly, also for rates between multiples of 2^-24', () => {
    for (const rate of [0, 0.1, 0.5, (7 + 0.3) / 2 ** 24, 1 - 2 ** -24]) {
      const { threshold } = dropoutThreshold(rate);
      for (let k = Math.max(0, threshold - 2); k <= threshold + 2; k++) expect(k >= threshold).toBe(k / 2 ** 24 >= rate);
    }
  });

  it('bias gradient: column sums added to the gradient', async () => {
    const [rows, cols] = [37, 70];
    const r = rng(8);
    const dy = randomArray(rows * cols, r);
    const db0 = randomArray(cols, r);
    const db = (await runKernel(device, biasGradKernel({ rows, cols }, L), { dy, db: db0.slice() })).out.db!;
    expectClose(db, Array.from(db0, (v, c) => v + Array.from({ length: rows }, (_, k) => dy[k * cols + c]!).reduce((a, b) => a + b)), 1e-5, 1e-5);
  });

  it('patchify: rows in grid order, each (c, i, j)', async () => {
    const [B, H, W, C, p] = [2, 8, 12, 3, 4];
    const images = randomArray(B * H * W * C, rng(9));
    const n = (H / p) * (W / p);
    const out = (await runKernel(device, patchifyKernel({ batch: B, height: H, width: W, channels: C, patch: p }, L), { images, patches: B * n * C * p * p })).out.patches!;
    const want: number[] = [];
    for (let b = 0; b < B; b++) for (let gy = 0; gy < H / p; gy++) for (let gx = 0; gx < W / p; gx++) {
      for (let c = 0; c < C; c++) for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) want.push(images[((b * H + gy * p + i) * W + gx * p + j) * C + c]!);
    }
    expect(Array.from(out)).toEqual(want);
  });

  for (const cls of [true, false]) {
    it(`embedding ${cls ? 'with' : 'without'} a class token, and its backward`, async () => {
      const [B, P, D] = [3, 4, 5];
      const T = P + (cls ? 1 : 0);
      const r = rng(cls ? 10 : 11);
      const patches = randomArray(B * P * D, r);
      const clsToken = randomArray(D, r);
      const pos = randomArray(T * D, r);
      const data: Record<string, Float32Array | number> = { patches, pos, h: B * T * D };
      if (cls) data.cls = clsToken;
      const h = (await runKernel(device, embedKernel({ batch: B, patches: P, dim: D, cls }, L), data)).out.h!;
      const token = (b: number, t: number, d: number) => (cls && t === 0 ? clsToken[d]! : patches[(b * P + t - (cls ? 1 : 0)) * D + d]!);
      expectClose(h, Array.from({ length: B * T * D }, (_, i) => token(Math.floor(i / (T * D)), Math.floor(i / D) % T, i % D) + pos[(Math.floor(i / D) % T) * D + (i % D)]!), 1e-7, 1e-6, 'h');
      const dh = randomArray(B * T * D, r);
      const dpos0 = randomArray(T * D, r);
      const dcls0 = randomArray(D, r);
      const back: Record<string, Float32Array | number> = { dh, dpatches: B * P * D, dpos: dpos0.slice() };
      if (cls) back.dcls = dcls0.slice();
      const { out } = await runKernel(device, embedBackwardKernel({ batch: B, patches: P, dim: D, cls }, L), back);
      const colSum = (t: number, d: number) => Array.from({ length: B }, (_, b) => dh[(b * T + t) * D + d]!).reduce((a, c) => a + c);
      expectClose(out.dpos!, Array.from(dpos0, (v, i) => v + colSum(Math.floor(i / D), i % D)), 1e-6, 1e-6, 'dpos');
      if (cls) expectClose(out.dcls!, Array.from(dcls0, (v, d) => v + colSum(0, d)), 1e-6, 1e-6, 'dcls');
      expectClose(out.dpatches!, Array.from({ length: B * P * D }, (_, i) => dh[(Math.floor(i / (P * D)) * T + (Math.floor(i / D) % P) + (cls ? 1 : 0)) * D + (i % D)]!), 0, 0, 'dpatches');
    });
  }

  for (const pool of ['cls', 'mean'] as const) {
    it(`pooling '${pool}' and its backward`, async () => {
      const [B, T, D] = [2, 5, 3];
      const r = rng(pool === 'cls' ? 12 : 13);
      const x = randomArray(B * T * D, r);
      const pooled = (await runKernel(device, poolKernel({ batch: B, tokens: T, dim: D, pool }, L), { x, pooled: B * D })).out.pooled!;
      const at = (b: number, t: number, d: number) => x[(b * T + t) * D + d]!;
      const want = Array.from({ length: B * D }, (_, i) => {
        const [b, d] = [Math.floor(i / D), i % D];
        return pool === 'cls' ? at(b, 0, d) : Array.from({ length: T }, (_, t) => at(b, t, d)).reduce((a, c) => a + c) / T;
      });
      expectClose(pooled, want, 1e-7, 1e-6, 'pooled');
      const dp = randomArray(B * D, r);
      const dx = (await runKernel(device, poolBackwardKernel({ batch: B, tokens: T, dim: D, pool }, L), { dpooled: dp, dx: B * T * D })).out.dx!;
      expectClose(dx, Array.from({ length: B * T * D }, (_, i) => {
        const [b, t, d] = [Math.floor(i / (T * D)), Math.floor(i / D) % T, i % D];
        return pool === 'cls' ? (t === 0 ? dp[b * D + d]! : 0) : dp[b * D + d]! / T;
      }), 1e-7, 1e-6, 'dx');
    });
  }
});
