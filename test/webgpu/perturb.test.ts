// PGQA kernels (templates/perturb.ts): the device noise against runtime/tfjs/perturb.ts perturbNoise
// (the host draw every backend reproduces; standardised in float64 there, f32 here), and the
// perturbation and its backward against float64 loops (the backward checked by central differences).
import { describe, it } from 'vitest';
import type { PerturbIR } from '../../compiler/ir/types.js';
import { DEFAULT_LIMITS as L } from '../../compiler/targets/webgpu/kernel.js';
import { noiseKernel, perturbBackwardKernel, perturbKernel, perturbRows, type PerturbOptions } from '../../compiler/targets/webgpu/templates/perturb.js';
import { perturbNoise } from '../../runtime/tfjs/perturb.js';
import { runKernel } from '../../runtime/webgpu/run-kernel.js';
import { expectClose, f64, gpuForTests, numericGradient, randomArray, rng } from '../helpers/webgpu.js';

const { gpu, skipReason } = await gpuForTests();
const stream = { seed: 1234, step: 9, micro: 2, layer: 1 };

/** Flat index of element j of row `row` of x: rows are (b, h) over O [B*T, H*hd], or (b, h, i) over S [B, H, T, T]. */
function xIndex(o: PerturbOptions, row: number, j: number): number {
  const { heads: H, headDim: hd, tokens: T } = o;
  if (o.at === 'scores') return row * T + j;
  const [b, h] = [Math.floor(row / H), row % H];
  return (b * T + Math.floor(j / hd)) * H * hd + h * hd + (j % hd);
}

function zRow(o: PerturbOptions, row: number): number {
  const { rowsPerHead } = perturbRows(o);
  return o.paper ? row % (o.heads * rowsPerHead) : row;
}

function perturb(o: PerturbOptions, x: Float64Array, z: Float64Array): Float64Array {
  const { rows, n } = perturbRows(o);
  const out = Float64Array.from(x);
  for (let r = 0; r < rows; r++) {
    const vals = Array.from({ length: n }, (_, j) => x[xIndex(o, r, j)]!);
    const mean = vals.reduce((a, b) => a + b) / n;
    const sd = Math.sqrt(Math.max(vals.reduce((a, b) => a + (b - mean) ** 2, 0) / n, 1e-20));
    for (let j = 0; j < n; j++) out[xIndex(o, r, j)] = x[xIndex(o, r, j)]! - o.scale * (z[zRow(o, r) * n + j]! * sd + mean);
  }
  return out;
}

function perturbGrad(o: PerturbOptions, x: Float64Array, z: Float64Array, dy: Float64Array): Float64Array {
  const { rows, n } = perturbRows(o);
  const dx = Float64Array.from(dy);
  for (let r = 0; r < rows; r++) {
    const idx = Array.from({ length: n }, (_, j) => xIndex(o, r, j));
    const mean = idx.reduce((a, i) => a + x[i]!, 0) / n;
    const variance = idx.reduce((a, i) => a + (x[i]! - mean) ** 2, 0) / n;
    const sd = Math.sqrt(Math.max(variance, 1e-20));
    const dyz = idx.reduce((a, i, j) => a + dy[i]! * z[zRow(o, r) * n + j]!, 0);
    const dysum = idx.reduce((a, i) => a + dy[i]!, 0);
    for (const i of idx) dx[i] = dy[i]! - o.scale * ((variance >= 1e-20 ? dyz / (n * sd) : 0) * (x[i]! - mean) + dysum / n);
  }
  return dx;
}

const variants: PerturbOptions[] = [
  { batch: 2, tokens: 5, heads: 4, groups: 2, headDim: 3, at: 'output', distribution: 'gaussian', scale: 0.7, paper: false },
  { batch: 2, tokens: 5, heads: 4, groups: 2, headDim: 3, at: 'output', distribution: 'uniform', scale: 1.5, paper: true },
  { batch: 2, tokens: 70, heads: 3, groups: 1, headDim: 2, at: 'scores', distribution: 'uniform', scale: 0.3, paper: false },
  { batch: 1, tokens: 6, heads: 6, groups: 2, headDim: 2, at: 'scores', distribution: 'gaussian', scale: 2, paper: false },
];

describe('the float64 perturbation backward', () => {
  it('matches central differences', () => {
    for (const o of variants.slice(0, 2)) {
      const r = rng(2);
      const { rows, n, noiseRows } = perturbRows(o);
      const x = f64(randomArray(rows * n, r));
      const z = f64(randomArray(noiseRows * n, r));
      const dy = f64(randomArray(rows * n, r));
      expectClose(perturbGrad(o, x, z, dy), numericGradient((v) => perturb(o, v, z), x, dy), 1e-7, 1e-6);
    }
  });
});

describe.skipIf(!gpu)(`PGQA kernels ${skipReason ?? ''}`, () => {
  const device = gpu?.device!; // undefined only when the describe is skipped
  for (const o of variants) {
    it(`${o.distribution} at ${o.at}${o.paper ? ', compat paper' : ''}: noise, perturbation, backward`, async () => {
      const { rows, n, rowsPerHead, noiseRows } = perturbRows(o);
      const z = (await runKernel(device, noiseKernel(o, L), { z: noiseRows * n }, stream)).out.z!;
      const p: PerturbIR = { distribution: o.distribution, scale: o.scale, at: o.at, during: 'train' };
      const host = perturbNoise(p, [o.batch, o.heads, rowsPerHead, n], { ...stream, microBatch: stream.micro, paper: o.paper, headsPerGroup: Math.max(1, Math.floor(o.heads / o.groups)) });
      expectClose(z, host, 1e-5, 1e-5, 'standardised noise');
      const r = rng(rows);
      const x = randomArray(rows * n, r, -2, 2);
      if (o.at === 'scores') x.fill(0.25, 0, n); // a constant row: std floored, its gradient finite
      const out = (await runKernel(device, perturbKernel(o, L), { x, z, out: x.length })).out.out!;
      expectClose(out, perturb(o, f64(x), f64(z)), 2e-5, 2e-5, 'perturbed');
      const dy = randomArray(rows * n, r);
      const dx = (await runKernel(device, perturbBackwardKernel(o, L), { x, z, dy, dx: x.length })).out.dx!;
      expectClose(dx, perturbGrad(o, f64(x), f64(z), f64(dy)), 2e-5, 2e-5, 'dx');
    });
  }
});
