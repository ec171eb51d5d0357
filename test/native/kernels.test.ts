// Every native kernel against a plain float64 JS reference on random inputs: forward and gradients.
// Errors are relative to the reference's largest value (test/webgpu-runtime/helpers.ts relativeError).
import { describe, expect, it } from 'vitest';
import { nativeUnavailableReason, loadNativeAddon, type NativeAddon } from '../../runtime/native/addon.js';
import { seed32, streamId, uniform } from '../../core/random.js';
import { rng } from '../helpers/webgpu.js';
import { relativeError } from '../webgpu-runtime/helpers.js';

const skipReason = nativeUnavailableReason();
if (skipReason) console.log(`skipping the native kernel tests: ${skipReason}`);
const TOL = 1e-5;

const rand = (n: number, seed: number, scale = 1) => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (2 * r() - 1) * scale);
};
const erf = (x: number) => {
  // Abramowitz-Stegun 7.1.26 is too coarse; a series / continued fraction in float64.
  const t = Math.abs(x);
  if (t < 3) {
    let sum = t, term = t;
    for (let n = 1; n < 200; n++) {
      term *= -t * t / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction for large |x|
  let f = 0;
  for (let n = 60; n >= 1; n--) f = (n / 2) / (t + f);
  return Math.sign(x) * (1 - Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + f));
};
const Phi = (x: number) => 0.5 * (1 + erf(x / Math.SQRT2));
const phi = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);

describe.skipIf(skipReason !== null)('native kernels against float64 references', () => {
  const A: NativeAddon = skipReason ? (null as never) : loadNativeAddon();

  it('matmul: every transpose, accumulation and bias, on oneDNN and on OpenBLAS', () => {
    const [M, K, N] = [37, 29, 23];
    // 0 oneDNN, 1 OpenBLAS, -1 the faster per shape, 2 the default rule; then a rule-picked thin shape (K < 16: OpenBLAS).
    for (const gemm of [0, 1, -1, 2]) {
      A.configure(null, gemm);
      for (const transA of [false, true]) for (const transB of [false, true]) for (const acc of [false, true]) for (const withBias of [false, true]) {
        const a = rand(M * K, 1);
        const b = rand(K * N, 2);
        const bias = withBias ? rand(N, 3) : null;
        const c = rand(M * N, 4);
        const want = new Float64Array(M * N);
        for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
          let s = acc ? c[m * N + n]! : 0;
          if (bias) s += bias[n]!;
          for (let k = 0; k < K; k++) s += a[transA ? k * M + m : m * K + k]! * b[transB ? n * K + k : k * N + n]!;
          want[m * N + n] = s;
        }
        A.matmul(a, b, c, M, K, N, transA, transB, acc, bias);
        expect(relativeError(c, want), `gemm ${gemm} tA ${transA} tB ${transB} acc ${acc} bias ${withBias}`).toBeLessThan(TOL);
      }
    }
    A.configure(null, 2);
    const thin = A.gemmChoices().filter((g) => g.M === M && g.K === K && g.N === N);
    expect(thin.length).toBeGreaterThan(0);
    expect(thin.every((g) => g.chosen === 'onednn'), 'every dimension >= 16: oneDNN by the rule').toBe(true);
    A.matmul(rand(40 * 8, 5), rand(8 * 20, 6), new Float32Array(40 * 20), 40, 8, 20, false, false, false);
    expect(A.gemmChoices().find((g) => g.M === 40 && g.K === 8 && g.N === 20)?.chosen).toBe('openblas');
  });

  it('layer norm, its input gradient (written and added) and its parameter gradients', () => {
    const [rows, D, eps] = [19, 24, 1e-6];
    const x = rand(rows * D, 5, 2);
    const gamma = rand(D, 6);
    const beta = rand(D, 7);
    const dy = rand(rows * D, 8);
    const y = new Float32Array(rows * D);
    const stats = new Float32Array(rows * 2);
    A.layernorm(x, gamma, beta, y, stats, rows, D, eps);
    const yw = new Float64Array(rows * D), dxw = new Float64Array(rows * D), dg = new Float64Array(D), db = new Float64Array(D);
    for (let r = 0; r < rows; r++) {
      const row = Array.from(x.subarray(r * D, (r + 1) * D));
      const mean = row.reduce((s, v) => s + v, 0) / D;
      const rstd = 1 / Math.sqrt(row.reduce((s, v) => s + (v - mean) ** 2, 0) / D + eps);
      const xhat = row.map((v) => (v - mean) * rstd);
      const g = xhat.map((_, i) => dy[r * D + i]! * gamma[i]!);
      const mg = g.reduce((s, v) => s + v, 0) / D;
      const mgx = g.reduce((s, v, i) => s + v * xhat[i]!, 0) / D;
      for (let i = 0; i < D; i++) {
        yw[r * D + i] = xhat[i]! * gamma[i]! + beta[i]!;
        dxw[r * D + i] = rstd * (g[i]! - mg - xhat[i]! * mgx);
        dg[i] += dy[r * D + i]! * xhat[i]!;
        db[i] += dy[r * D + i]!;
      }
    }
    expect(relativeError(y, yw)).toBeLessThan(TOL);
    const dx = new Float32Array(rows * D);
    A.layernormBwd(x, gamma, stats, dy, dx, rows, D, false);
    expect(relativeError(dx, dxw)).toBeLessThan(TOL);
    A.layernormBwd(x, gamma, stats, dy, dx, rows, D, true);
    expect(relativeError(dx, dxw.map((v) => 2 * v))).toBeLessThan(TOL);
    const dgamma = new Float32Array(D).fill(1);
    const dbeta = new Float32Array(D).fill(1);
    A.layernormBwdParams(x, stats, dy, dgamma, dbeta, rows, D);
    expect(relativeError(dgamma, dg.map((v) => v + 1))).toBeLessThan(TOL);
    expect(relativeError(dbeta, db.map((v) => v + 1))).toBeLessThan(TOL);
  });

  it('GELU and its gradient, with dropout masks drawn from runtime/random.ts', () => {
    const n = 5000;
    const x = rand(n, 9, 4);
    const dy = rand(n, 10);
    const [seed, step, micro, layer, site, rate] = [seed32(77), 3, 1, 2, 1, 0.25];
    const y = new Float32Array(n);
    const dx = new Float32Array(n);
    for (const r of [0, rate]) {
      A.gelu(x, y, n, seed, step, micro, layer, site, r);
      A.geluBwd(x, dy, dx, n, seed, step, micro, layer, site, r);
      const stream = streamId(0x102, site, layer, step, micro);
      const mask = (i: number) => (r === 0 ? 1 : uniform(seed, stream, i) >= r ? 1 / (1 - r) : 0);
      expect(relativeError(y, Array.from(x, (v, i) => v * Phi(v) * mask(i))), `gelu rate ${r}`).toBeLessThan(TOL);
      expect(relativeError(dx, Array.from(x, (v, i) => dy[i]! * mask(i) * (Phi(v) + v * phi(v)))), `gelu grad rate ${r}`).toBeLessThan(TOL);
    }
  });

  it('residual with dropout and drop path, forward and backward', () => {
    const [rows, D, T] = [12, 8, 3];
    const h = rand(rows * D, 11);
    const y = rand(rows * D, 12);
    const out = new Float32Array(rows * D);
    const [seed, step, micro, layer] = [5, 7, 0, 1];
    A.residual(h, y, out, rows, D, T, seed, step, micro, layer, 2, 0.3, 4, 0.5);
    const drop = (i: number) => (uniform(seed, streamId(0x102, 2, layer, step, micro), i) >= 0.3 ? 1 / 0.7 : 0);
    const path = (i: number) => (uniform(seed, streamId(0x102, 4, layer, step, micro), Math.floor(i / (D * T))) >= 0.5 ? 2 : 0);
    expect(relativeError(out, Array.from(h, (v, i) => v + y[i]! * drop(i) * path(i)))).toBeLessThan(TOL);
    A.residual(null, y, out, rows, D, T, seed, step, micro, layer, 2, 0.3, 4, 0.5);
    expect(relativeError(out, Array.from(y, (v, i) => v * drop(i) * path(i)))).toBeLessThan(TOL);
  });

  for (const grouping of ['uniform', 'table', 'table-per-sample'] as const) {
    it(`grouped attention (${grouping}), forward and the gradient of q, k and v, with attention dropout`, () => {
      const [B, T, H, G, hd] = [2, 5, 4, 2, 3];
      const W = (H + 2 * G) * hd;
      const qkv = rand(B * T * W, 13);
      const dout = rand(B * T * H * hd, 14);
      const table = grouping === 'uniform' ? null : grouping === 'table' ? Uint32Array.from([0, 1, 1, 1]) : Uint32Array.from([0, 0, 0, 0, 1, 0, 1, 1]);
      const perSample = grouping === 'table-per-sample';
      const group = (b: number, h: number) => (table ? (perSample ? table[b * H + h]! : table[h]!) : Math.floor(h / (H / G)));
      const [seed, step, micro, layer, rate] = [3, 2, 1, 0, 0.2];
      const key = streamId(1, layer, step, micro);
      const scale = 1 / Math.sqrt(hd);
      const q = (b: number, t: number, h: number, d: number) => qkv[(b * T + t) * W + h * hd + d]!;
      const k = (b: number, t: number, g: number, d: number) => qkv[(b * T + t) * W + (H + g) * hd + d]!;
      const v = (b: number, t: number, g: number, d: number) => qkv[(b * T + t) * W + (H + G + g) * hd + d]!;
      const pi = (b: number, h: number, i: number, j: number) => ((b * H + h) * T + i) * T + j;
      const mask = (idx: number) => (uniform(seed, key, idx) >= rate ? 1 / (1 - rate) : 0);
      // float64 reference
      const P = new Float64Array(B * H * T * T), O = new Float64Array(B * T * H * hd), dqkv = new Float64Array(B * T * W);
      for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
        const g = group(b, h);
        for (let i = 0; i < T; i++) {
          const s = Array.from({ length: T }, (_, j) => { let a = 0; for (let d = 0; d < hd; d++) a += q(b, i, h, d) * scale * k(b, j, g, d); return a; });
          const top = Math.max(...s);
          const e = s.map((x) => Math.exp(x - top));
          const sum = e.reduce((x, y) => x + y, 0);
          for (let j = 0; j < T; j++) P[pi(b, h, i, j)] = e[j]! / sum;
          for (let d = 0; d < hd; d++) {
            let a = 0;
            for (let j = 0; j < T; j++) a += P[pi(b, h, i, j)]! * mask(pi(b, h, i, j)) * v(b, j, g, d);
            O[(b * T + i) * H * hd + h * hd + d] = a;
          }
        }
        for (let i = 0; i < T; i++) {
          const dO = (d: number) => dout[(b * T + i) * H * hd + h * hd + d]!;
          const dp = Array.from({ length: T }, (_, j) => { let a = 0; for (let d = 0; d < hd; d++) a += dO(d) * v(b, j, g, d); return a * mask(pi(b, h, i, j)); });
          const dot = dp.reduce((x, y, j) => x + y * P[pi(b, h, i, j)]!, 0);
          const ds = dp.map((x, j) => P[pi(b, h, i, j)]! * (x - dot));
          for (let j = 0; j < T; j++) for (let d = 0; d < hd; d++) {
            dqkv[(b * T + i) * W + h * hd + d] += scale * ds[j]! * k(b, j, g, d);
            dqkv[(b * T + j) * W + (H + g) * hd + d] += ds[j]! * q(b, i, h, d) * scale;
            dqkv[(b * T + j) * W + (H + G + g) * hd + d] += P[pi(b, h, i, j)]! * mask(pi(b, h, i, j)) * dO(d);
          }
        }
      }
      const p = new Float32Array(B * H * T * T);
      const out = new Float32Array(B * T * H * hd);
      A.attnScores(qkv, table, p, B, T, H, G, hd, perSample);
      A.softmax(p, B * H * T, T);
      A.attnAv(p, qkv, table, out, B, T, H, G, hd, perSample, seed, step, micro, layer, rate);
      expect(relativeError(p, P)).toBeLessThan(TOL);
      expect(relativeError(out, O)).toBeLessThan(TOL);
      const dp = new Float32Array(B * H * T * T);
      const got = new Float32Array(B * T * W).fill(NaN);
      A.attnDp(dout, qkv, table, dp, B, T, H, G, hd, perSample, seed, step, micro, layer, rate);
      A.softmaxBwd(p, dp, B * H * T, T);
      A.attnDqkv(dp, p, dout, qkv, table, got, B, T, H, G, hd, perSample, seed, step, micro, layer, rate);
      expect(relativeError(got, dqkv)).toBeLessThan(TOL);
    });
  }

  it('cross-entropy with label smoothing, its gradient and statistics', () => {
    const [B, C, sm, scale] = [6, 5, 0.1, 1 / 12];
    const logits = rand(B * C, 15, 3);
    const labels = Uint32Array.from([0, 4, 2, 2, 1, 3]);
    const stats = new Float32Array(4).fill(9);
    const dl = new Float32Array(B * C);
    A.crossEntropy(logits, labels, stats, dl, B, C, sm, scale, 0);
    let loss = 0, hits = 0;
    const want = new Float64Array(B * C);
    for (let b = 0; b < B; b++) {
      const row = Array.from(logits.subarray(b * C, (b + 1) * C));
      const top = Math.max(...row);
      const lse = Math.log(row.reduce((s, v) => s + Math.exp(v - top), 0)) + top;
      row.forEach((v, c) => {
        const t = (c === labels[b] ? 1 - sm : 0) + sm / C;
        loss -= t * (v - lse);
        want[b * C + c] = (Math.exp(v - lse) - t) * scale;
      });
      if (row.indexOf(top) === labels[b]) hits++;
    }
    expect(relativeError(dl, want)).toBeLessThan(TOL);
    expect(Math.abs(stats[0]! - loss * scale) / (loss * scale)).toBeLessThan(TOL);
    expect(stats[1]).toBe(hits);
  });

  it('gradient norm with clipping, AdamW and SGD as torch computes them', () => {
    const n = 3000;
    const g = rand(n, 16);
    const partial = new Float32Array(2);
    const stats = new Float32Array(4);
    A.gradSumsq(g, partial, n, 1);
    A.gradNorm(partial, stats, 2, 0.5);
    const norm = Math.sqrt(Array.from(g).reduce((s, v) => s + v * v, 0));
    expect(Math.abs(stats[2]! - norm) / norm).toBeLessThan(TOL);
    const coef = Math.min(0.5 / (norm + 1e-6), 1);
    expect(Math.abs(stats[3]! - coef) / coef).toBeLessThan(TOL);
    const p0 = rand(n, 17), m0 = rand(n, 18, 0.1), v0 = rand(n, 19, 0.1).map(Math.abs);
    const [p, m, v, grad] = [p0.slice(), m0.slice(), v0.slice(), g.slice()];
    const [b1, b2, eps, lr, wd, t] = [0.9, 0.999, 1e-8, 1e-2, 0.05, 3];
    A.adamw(p, grad, m, v, stats, n, b1, b2, eps, lr / (1 - b1 ** t), Math.sqrt(1 - b2 ** t), 1 - lr * wd);
    const want = Array.from(p0, (x, i) => {
      const gi = g[i]! * coef;
      const mi = b1 * m0[i]! + (1 - b1) * gi;
      const vi = b2 * v0[i]! + (1 - b2) * gi * gi;
      return x * (1 - lr * wd) - lr * (mi / (1 - b1 ** t)) / (Math.sqrt(vi / (1 - b2 ** t)) + eps);
    });
    expect(relativeError(p, want)).toBeLessThan(TOL);
    expect(grad.every((x) => x === 0)).toBe(true);
    const [ps, buf, gs] = [p0.slice(), m0.slice(), g.slice()];
    A.sgd(ps, gs, buf, stats, n, 0.1, 1e-4, 0.9);
    expect(relativeError(ps, Array.from(p0, (x, i) => x - 0.1 * (0.9 * m0[i]! + g[i]! * coef + 1e-4 * x)))).toBeLessThan(TOL);
  });
});
