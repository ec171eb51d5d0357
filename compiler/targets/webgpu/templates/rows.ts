// Row-wise kernels: LayerNorm and softmax, forward and backward. One workgroup per row reduces with
// a fixed tree (workgroupSumWgsl), so a row's result is the same bits on every run; the LayerNorm
// parameter gradients are column sums, one thread per column looping over the rows in order.
import { elementwiseGrid, f32, grid, makeKernel, ELEMENTWISE_WG, GRID_ARGS, WG_INDEX, type KernelInstance, type KernelLimits } from '../kernel.js';
import { reductionWorkgroup, workgroupSumWgsl } from '../wgsl-math.js';

export interface LayerNormOptions {
  rows: number;
  dim: number;
  eps: number;
}

/**
 * y = (x - mean) * rstd * gamma + beta over each row of x [rows, dim], rstd = 1 / sqrt(var + eps) with
 * the biased variance (torch.nn.LayerNorm); stats[2r] = mean, stats[2r + 1] = rstd for the backward.
 */
export function layerNormKernel(o: LayerNormOptions, limits: KernelLimits): KernelInstance {
  const wg = reductionWorkgroup(limits.maxComputeInvocationsPerWorkgroup);
  const body = /* wgsl */ `
const D: u32 = ${o.dim}u;
${workgroupSumWgsl('sum', wg)}
${workgroupSumWgsl('sum2', wg)}
@compute @workgroup_size(${wg})
fn main(${GRID_ARGS}) {
  let row = ${WG_INDEX};
  if (row >= ${o.rows}u) { return; }
  let base = row * D;
  var s = 0.0f;
  for (var i = lid; i < D; i += ${wg}u) { s = s + x[base + i]; }
  let mean = reduce_sum(lid, s) / f32(D);
  var q = 0.0f;
  for (var i = lid; i < D; i += ${wg}u) { let d = x[base + i] - mean; q = q + d * d; }
  let rstd = inverseSqrt(reduce_sum2(lid, q) / f32(D) + ${f32(o.eps)});
  for (var i = lid; i < D; i += ${wg}u) { y[base + i] = (x[base + i] - mean) * rstd * gamma[i] + beta[i]; }
  if (lid == 0u) {
    stats[2u * row] = mean;
    stats[2u * row + 1u] = rstd;
  }
}
`;
  const kernel = makeKernel({
    template: 'layernorm', key: `${o.rows}x${o.dim}`, workgroupSize: [wg, 1, 1], workgroupBytes: 8 * wg, body,
    bindings: [
      { name: 'x', access: 'read', elem: 'f32' },
      { name: 'gamma', access: 'read', elem: 'f32' },
      { name: 'beta', access: 'read', elem: 'f32' },
      { name: 'y', access: 'read_write', elem: 'f32' },
      { name: 'stats', access: 'read_write', elem: 'f32' },
    ],
  }, limits);
  return { kernel, workgroups: grid(o.rows, limits) };
}

/**
 * dx (=|+=) rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma, row by row (the
 * written-out backward of runtime/tfjs/ops.ts layerNorm). `accumulate` adds into dx: the residual
 * stream's gradient already holds the other path's.
 */
export function layerNormBackwardKernel(o: Omit<LayerNormOptions, 'eps'> & { accumulate: boolean }, limits: KernelLimits): KernelInstance {
  const wg = reductionWorkgroup(limits.maxComputeInvocationsPerWorkgroup);
  const write = o.accumulate ? 'dx[base + i] = dx[base + i] + v;' : 'dx[base + i] = v;';
  const body = /* wgsl */ `
const D: u32 = ${o.dim}u;
${workgroupSumWgsl('sum', wg)}
${workgroupSumWgsl('sum2', wg)}
@compute @workgroup_size(${wg})
fn main(${GRID_ARGS}) {
  let row = ${WG_INDEX};
  if (row >= ${o.rows}u) { return; }
  let base = row * D;
  let mean = stats[2u * row];
  let rstd = stats[2u * row + 1u];
  var sg = 0.0f;
  var sgx = 0.0f;
  for (var i = lid; i < D; i += ${wg}u) {
    let g = dy[base + i] * gamma[i];
    sg = sg + g;
    sgx = sgx + g * (x[base + i] - mean) * rstd;
  }
  let mean_g = reduce_sum(lid, sg) / f32(D);
  let mean_gx = reduce_sum2(lid, sgx) / f32(D);
  for (var i = lid; i < D; i += ${wg}u) {
    let xhat = (x[base + i] - mean) * rstd;
    let v = rstd * (dy[base + i] * gamma[i] - mean_g - xhat * mean_gx);
    ${write}
  }
}
`;
  const kernel = makeKernel({
    template: 'layernorm_bwd', key: `${o.rows}x${o.dim}${o.accumulate ? '_acc' : ''}`, workgroupSize: [wg, 1, 1], workgroupBytes: 8 * wg, body,
    bindings: [
      { name: 'x', access: 'read', elem: 'f32' },
      { name: 'gamma', access: 'read', elem: 'f32' },
      { name: 'stats', access: 'read', elem: 'f32' },
      { name: 'dy', access: 'read', elem: 'f32' },
      { name: 'dx', access: 'read_write', elem: 'f32' },
    ],
  }, limits);
  return { kernel, workgroups: grid(o.rows, limits) };
}

/** dgamma[d] += sum_r dy * xhat, dbeta[d] += sum_r dy: one thread per column, rows in order. */
export function layerNormParamGradKernel(o: Omit<LayerNormOptions, 'eps'>, limits: KernelLimits): KernelInstance {
  const body = /* wgsl */ `
const D: u32 = ${o.dim}u;
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(${GRID_ARGS}) {
  let d = ${WG_INDEX} * ${ELEMENTWISE_WG}u + lid;
  if (d >= D) { return; }
  var sg = 0.0f;
  var sb = 0.0f;
  for (var r = 0u; r < ${o.rows}u; r++) {
    let g = dy[r * D + d];
    sg = sg + g * (x[r * D + d] - stats[2u * r]) * stats[2u * r + 1u];
    sb = sb + g;
  }
  dgamma[d] = dgamma[d] + sg;
  dbeta[d] = dbeta[d] + sb;
}
`;
  const kernel = makeKernel({
    template: 'layernorm_bwd_params', key: `${o.rows}x${o.dim}`, workgroupSize: [ELEMENTWISE_WG, 1, 1], body,
    bindings: [
      { name: 'x', access: 'read', elem: 'f32' },
      { name: 'stats', access: 'read', elem: 'f32' },
      { name: 'dy', access: 'read', elem: 'f32' },
      { name: 'dgamma', access: 'read_write', elem: 'f32' },
      { name: 'dbeta', access: 'read_write', elem: 'f32' },
    ],
  }, limits);
  return { kernel, workgroups: elementwiseGrid(o.dim, ELEMENTWISE_WG, limits) };
}

export interface SoftmaxOptions {
  rows: number;
  cols: number;
}

/** In place: each row of x [rows, cols] becomes exp(x - max) / sum(exp(x - max)). */
export function softmaxKernel(o: SoftmaxOptions, limits: KernelLimits): KernelInstance {
  const wg = reductionWorkgroup(limits.maxComputeInvocationsPerWorkgroup);
  const body = /* wgsl */ `
const C: u32 = ${o.cols}u;
${workgroupSumWgsl('sum', wg)}
${workgroupSumWgsl('max', wg, 'max')}
@compute @workgroup_size(${wg})
fn main(${GRID_ARGS}) {
  let row = ${WG_INDEX};
  if (row >= ${o.rows}u) { return; }
  let base = row * C;
  var m = -3.4028234663852886e38f;
  for (var i = lid; i < C; i += ${wg}u) { m = max(m, x[base + i]); }
  let top = reduce_max(lid, m);
  var s = 0.0f;
  for (var i = lid; i < C; i += ${wg}u) { let e = exp(x[base + i] - top); x[base + i] = e; s = s + e; }
  let inv = 1.0f / reduce_sum(lid, s);
  for (var i = lid; i < C; i += ${wg}u) { x[base + i] = x[base + i] * inv; }
}
`;
  const kernel = makeKernel({
    template: 'softmax', key: `${o.rows}x${o.cols}`, workgroupSize: [wg, 1, 1], workgroupBytes: 8 * wg, body,
    bindings: [{ name: 'x', access: 'read_write', elem: 'f32' }],
  }, limits);
  return { kernel, workgroups: grid(o.rows, limits) };
}

/** In place on the gradient: d <- p * (d - sum_j d_j p_j), row by row (the softmax's backward). */
export function softmaxBackwardKernel(o: SoftmaxOptions, limits: KernelLimits): KernelInstance {
  const wg = reductionWorkgroup(limits.maxComputeInvocationsPerWorkgroup);
  const body = /* wgsl */ `
const C: u32 = ${o.cols}u;
${workgroupSumWgsl('sum', wg)}
@compute @workgroup_size(${wg})
fn main(${GRID_ARGS}) {
  let row = ${WG_INDEX};
  if (row >= ${o.rows}u) { return; }
  let base = row * C;
  var s = 0.0f;
  for (var i = lid; i < C; i += ${wg}u) { s = s + d[base + i] * p[base + i]; }
  let dot = reduce_sum(lid, s);
  for (var i = lid; i < C; i += ${wg}u) { d[base + i] = p[base + i] * (d[base + i] - dot); }
}
`;
  const kernel = makeKernel({
    template: 'softmax_bwd', key: `${o.rows}x${o.cols}`, workgroupSize: [wg, 1, 1], workgroupBytes: 4 * wg, body,
    bindings: [
      { name: 'p', access: 'read', elem: 'f32' },
      { name: 'd', access: 'read_write', elem: 'f32' },
    ],
  }, limits);
  return { kernel, workgroups: grid(o.rows, limits) };
}
