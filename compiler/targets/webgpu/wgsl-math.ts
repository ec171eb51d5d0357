// WGSL helpers that are not in WGSL: the normal CDF (WGSL has no erf) and workgroup reductions.

/**
 * Phi(x) = 0.5 * erfc(-x / sqrt 2) with erfc from Numerical Recipes' `erfcc` (a Chebyshev fit,
 * fractional error below 1.2e-7 for every x in exact arithmetic). Going through erfc rather than
 * 0.5 * (1 + erf) keeps the relative accuracy in the left tail, where 1 + erf cancels.
 * Measured on the device against float64 (test/webgpu/elementwise.test.ts): docs/webgpu.md, "GELU".
 */
export const NORMAL_CDF_WGSL = /* wgsl */ `
fn erfc_nr(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0f / (1.0f + 0.5f * z);
  let p = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f
        + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
  let r = t * exp(-z * z + p);
  return select(2.0f - r, r, x >= 0.0f);
}
fn normal_cdf(x: f32) -> f32 { return 0.5f * erfc_nr(-0.7071067811865476f * x); }
fn normal_pdf(x: f32) -> f32 { return 0.3989422804014327f * exp(-0.5f * x * x); }
`;

/**
 * A tree sum over a workgroup of `wg` (a power of two) threads, in a fixed order: the same inputs give
 * the same bits on every run. Declares `var<workgroup> red_<name>: array<f32, wg>` and
 * `fn reduce_<name>(lid, v) -> f32` (every thread gets the total). Call it from uniform control flow,
 * and ONCE per kernel: every reduction of a kernel gets its own name and array. Reusing one array for
 * two consecutive reductions gave wrong results on Dawn's OpenGL ES backend over Mesa llvmpipe
 * (LayerNorm variances off by 5%), barriers notwithstanding: some threads read the first total after
 * thread 0 had stored its next partial sum. test/webgpu/rows.test.ts covers it.
 */
export function workgroupSumWgsl(name: string, wg: number, op: 'sum' | 'max' = 'sum'): string {
  if (wg < 1 || (wg & (wg - 1)) !== 0) throw new Error(`workgroup reduction: ${wg} is not a power of two`);
  const combine = op === 'sum' ? 'a + b' : 'max(a, b)';
  return /* wgsl */ `
var<workgroup> red_${name}: array<f32, ${wg}>;
fn reduce_${name}(lid: u32, v: f32) -> f32 {
  red_${name}[lid] = v;
  workgroupBarrier();
  for (var stride = ${wg / 2}u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      let a = red_${name}[lid];
      let b = red_${name}[lid + stride];
      red_${name}[lid] = ${combine};
    }
    workgroupBarrier();
  }
  let total = red_${name}[0];
  workgroupBarrier();
  return total;
}
`;
}

/** The row-reduction workgroup size: a power of two no larger than the limit, 64 by default. */
export function reductionWorkgroup(maxInvocations: number, want = 64): number {
  let wg = 1;
  while (wg * 2 <= Math.min(want, maxInvocations)) wg *= 2;
  return wg;
}
