// The tiled matmul on the device against float64 loops: every transpose variant, bias, accumulation,
// and shapes that are not multiples of the 32 x 32 tile.
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../compiler/targets/webgpu/kernel.js';
import { linearKernel } from '../../compiler/targets/webgpu/templates/matmul.js';
import { runKernel } from '../../runtime/webgpu/run-kernel.js';
import { expectClose, gpuForTests, randomArray, rng } from '../helpers/webgpu.js';

const { gpu, skipReason } = await gpuForTests();

/** C = op(A) op(B) (+ bias) (+ C0) in float64; A is [M,K] or (transA) [K,M], B is [K,N] or (transB) [N,K]. */
function reference(a: Float32Array, b: Float32Array, M: number, K: number, N: number, transA: boolean, transB: boolean, bias: Float32Array | null, c0: Float32Array | null): Float64Array {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = bias ? bias[n]! : 0;
      for (let k = 0; k < K; k++) s += (transA ? a[k * M + m]! : a[m * K + k]!) * (transB ? b[n * K + k]! : b[k * N + n]!);
      c[m * N + n] = s + (c0 ? c0[m * N + n]! : 0);
    }
  }
  return c;
}

describe.skipIf(!gpu)(`matmul kernels ${skipReason ?? ''}`, () => {
  const device = gpu?.device!; // undefined only when the describe is skipped
  // Every variant on a shape of partial tiles (33 and 35 rows and columns, two K slices of 16), then
  // the forms the backward uses on a single-element and a long-K shape. Each variant is its own
  // kernel, and llvmpipe can take ~0.3 s to compile one: the grid is kept small on purpose.
  const variants: [number, number, number, boolean, boolean, boolean, boolean][] = [];
  for (const transA of [false, true]) for (const transB of [false, true]) {
    for (const [bias, accumulate] of [[false, false], [true, false], [false, true]] as const) variants.push([33, 17, 35, transA, transB, bias, accumulate]);
  }
  variants.push([1, 1, 1, false, false, true, false], [5, 70, 3, true, false, false, true], [5, 70, 3, false, true, false, false], [64, 32, 96, false, false, true, false]);
  for (const [M, K, N, transA, transB, bias, accumulate] of variants) {
    it(`${M}x${K}x${N} transA ${transA} transB ${transB} bias ${bias} accumulate ${accumulate}`, async () => {
      const r = rng(M * 1000 + K * 10 + N);
      const a = randomArray(M * K, r);
      const b = randomArray(K * N, r);
      const biasData = bias ? randomArray(N, r) : null;
      const c0 = accumulate ? randomArray(M * N, r) : null;
      const inst = linearKernel({ M, K, N, transA, transB, bias, accumulate }, DEFAULT_LIMITS);
      const data: Record<string, Float32Array | number> = { a, b, c: c0 ? c0.slice() : M * N };
      if (biasData) data.bias = biasData;
      const { out } = await runKernel(device, inst, data);
      expectClose(out.c!, reference(a, b, M, K, N, transA, transB, biasData, c0), 1e-5, 1e-5, 'C');
    });
  }

  it('names each variant after its shape and options', () => {
    expect(linearKernel({ M: 8, K: 4, N: 2, transA: true, transB: false, bias: false, accumulate: true }, DEFAULT_LIMITS).kernel.name).toBe('matmul_tn_8x4x2_acc');
  });
});
