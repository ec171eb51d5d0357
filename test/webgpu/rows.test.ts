// LayerNorm and softmax kernels (templates/rows.ts) against float64 loops, forward and backward. The
// backward references are analytic; each is first checked against central differences of the
// forward reference, so a wrong reference cannot make a wrong kernel pass. Row lengths above and
// below the 64-thread reduction, and several reductions per kernel (a shared array reused between
// two reductions gave wrong variances on Dawn GLES / llvmpipe: wgsl-math.ts).
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS as L } from '../../compiler/targets/webgpu/kernel.js';
import { layerNormBackwardKernel, layerNormKernel, layerNormParamGradKernel, softmaxBackwardKernel, softmaxKernel } from '../../compiler/targets/webgpu/templates/rows.js';
import { runKernel } from '../../runtime/webgpu/run-kernel.js';
import { expectClose, f64, gpuForTests, numericGradient, randomArray, rng } from '../helpers/webgpu.js';

const { gpu, skipReason } = await gpuForTests();

function layerNorm(x: Float64Array, gamma: Float64Array, beta: Float64Array, rows: number, dim: number, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < dim; i++) mean += x[r * dim + i]!;
    mean /= dim;
    let v = 0;
    for (let i = 0; i < dim; i++) v += (x[r * dim + i]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / dim + eps);
    for (let i = 0; i < dim; i++) y[r * dim + i] = (x[r * dim + i]! - mean) * rstd * gamma[i]! + beta[i]!;
  }
  return y;
}

/** dx of sum(dy * layerNorm(x)), written out (the same formula as the kernel's, derived independently). */
function layerNormDx(x: Float64Array, gamma: Float64Array, dy: Float64Array, rows: number, dim: number, eps: number): Float64Array {
  const dx = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * dim, r * dim + dim);
    const mean = row.reduce((a, b) => a + b, 0) / dim;
    const rstd = 1 / Math.sqrt(row.reduce((a, b) => a + (b - mean) ** 2, 0) / dim + eps);
    let sg = 0;
    let sgx = 0;
    for (let i = 0; i < dim; i++) {
      const g = dy[r * dim + i]! * gamma[i]!;
      sg += g;
      sgx += g * (row[i]! - mean) * rstd;
    }
    for (let i = 0; i < dim; i++) dx[r * dim + i] = rstd * (dy[r * dim + i]! * gamma[i]! - sg / dim - (row[i]! - mean) * rstd * (sgx / dim));
  }
  return dx;
}

function softmax(x: Float64Array, rows: number, cols: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let top = -Infinity;
    for (let i = 0; i < cols; i++) top = Math.max(top, x[r * cols + i]!);
    let s = 0;
    for (let i = 0; i < cols; i++) s += Math.exp(x[r * cols + i]! - top);
    for (let i = 0; i < cols; i++) y[r * cols + i] = Math.exp(x[r * cols + i]! - top) / s;
  }
  return y;
}

describe('the float64 references', () => {
  it('LayerNorm and softmax backward match central differences', () => {
    const r = rng(3);
    const [rows, dim, eps] = [3, 7, 1e-5];
    const x = f64(randomArray(rows * dim, r));
    const gamma = f64(randomArray(dim, r, 0.5, 1.5));
    const beta = f64(randomArray(dim, r));
    const dy = f64(randomArray(rows * dim, r));
    expectClose(layerNormDx(x, gamma, dy, rows, dim, eps), numericGradient((v) => layerNorm(v, gamma, beta, rows, dim, eps), x, dy), 1e-7, 1e-6);
    const p = softmax(x, rows, dim);
    const ds = p.map((pi, i) => {
      const rr = Math.floor(i / dim);
      let dot = 0;
      for (let j = 0; j < dim; j++) dot += dy[rr * dim + j]! * p[rr * dim + j]!;
      return pi * (dy[i]! - dot);
    });
    expectClose(ds, numericGradient((v) => softmax(v, rows, dim), x, dy), 1e-8, 1e-6);
  });
});

describe.skipIf(!gpu)(`row kernels ${skipReason ?? ''}`, () => {
  const device = gpu?.device!; // undefined only when the describe is skipped
  for (const [rows, dim] of [[5, 24], [3, 200], [70, 8]] as const) {
    it(`LayerNorm ${rows}x${dim}: forward, dx (accumulating), dgamma and dbeta`, async () => {
      const r = rng(rows * dim);
      const eps = 1e-6;
      const x = randomArray(rows * dim, r, -2, 3);
      const gamma = randomArray(dim, r, 0.5, 1.5);
      const beta = randomArray(dim, r);
      const { out } = await runKernel(device, layerNormKernel({ rows, dim, eps }, L), { x, gamma, beta, y: rows * dim, stats: 2 * rows });
      expectClose(out.y!, layerNorm(f64(x), f64(gamma), f64(beta), rows, dim, eps), 2e-6, 2e-6, 'y');
      const dy = randomArray(rows * dim, r);
      const dx0 = randomArray(rows * dim, r);
      const back = await runKernel(device, layerNormBackwardKernel({ rows, dim, accumulate: true }, L), { x, gamma, stats: out.stats!, dy, dx: dx0.slice() });
      const want = layerNormDx(f64(x), f64(gamma), f64(dy), rows, dim, eps).map((v, i) => v + dx0[i]!);
      expectClose(back.out.dx!, want, 1e-5, 1e-5, 'dx');
      const dg0 = randomArray(dim, r);
      const db0 = randomArray(dim, r);
      const params = await runKernel(device, layerNormParamGradKernel({ rows, dim }, L), { x, stats: out.stats!, dy, dgamma: dg0.slice(), dbeta: db0.slice() });
      const xhat = layerNorm(f64(x), new Float64Array(dim).fill(1), new Float64Array(dim), rows, dim, eps);
      const dgamma = Array.from({ length: dim }, (_, i) => dg0[i]! + Array.from({ length: rows }, (_, k) => dy[k * dim + i]! * xhat[k * dim + i]!).reduce((a, b) => a + b));
      const dbeta = Array.from({ length: dim }, (_, i) => db0[i]! + Array.from({ length: rows }, (_, k) => dy[k * dim + i]!).reduce((a, b) => a + b));
      expectClose(params.out.dgamma!, dgamma, 1e-5, 1e-5, 'dgamma');
      expectClose(params.out.dbeta!, dbeta, 1e-5, 1e-5, 'dbeta');
    });
  }

  for (const [rows, cols] of [[6, 17], [2, 300]] as const) {
    it(`softmax ${rows}x${cols}, in place, and its backward`, async () => {
      const r = rng(cols);
      const x = randomArray(rows * cols, r, -8, 8);
      x[3] = 60; // far above the rest: the max subtraction keeps exp finite
      const { out } = await runKernel(device, softmaxKernel({ rows, cols }, L), { x: x.slice() });
      const p = softmax(f64(x), rows, cols);
      expectClose(out.x!, p, 1e-7, 1e-5, 'p');
      const dy = randomArray(rows * cols, r);
      const back = await runKernel(device, softmaxBackwardKernel({ rows, cols }, L), { p: out.x!, d: dy.slice() });
      const want = Array.from(p, (pi, i) => {
        const row = Math.floor(i / cols);
        let dot = 0;
        for (let j = 0; j < cols; j++) dot += dy[row * cols + j]! * p[row * cols + j]!;
        return pi * (dy[i]! - dot);
      });
      expectClose(back.out.d!, want, 1e-7, 1e-4, 'dS');
      expect(Array.from({ length: rows }, (_, k) => out.x!.subarray(k * cols, k * cols + cols).reduce((a, b) => a + b, 0)).every((s) => Math.abs(s - 1) < 1e-5)).toBe(true);
    });
  }
});
