// PGQA (runtime/tfjs/perturb.ts, docs/attention.md "PGQA"): noise drawn on the device from the
// counter generator, standardised per row, then x' = x - scale * (z * std(x) + mean(x)) per row, and
// the backward of that (gradients flow through mean(x) and std(x), as in the reference).
//
// Rows: at 'output' one row per image and head, the T * hd values of O_h, read with a stride from
// the heads-side-by-side layout [B*T, H*hd]; at 'scores' one row per image, head and query: its T
// logits in [B, H, T, T]. Noise row r's raw value j is draw r * n + j of stream
// streamId(2, layer, step, microBatch); with `paper` (compat paper at 'output') one noise row per
// head serves the whole batch and entry h mod (H / G) of head h's row is zeroed before standardising.
import { f32, grid, makeKernel, GRID_ARGS, WG_INDEX, type KernelInstance, type KernelLimits } from '../kernel.js';
import { reductionWorkgroup, workgroupSumWgsl } from '../wgsl-math.js';
import { RANDOM_WGSL, WGSL_PURPOSE } from '../wgsl-random.js';
import { io, STREAM_UNIFORMS } from './elementwise.js';

export interface PerturbOptions {
  batch: number;
  tokens: number;
  heads: number;
  groups: number;
  headDim: number;
  at: 'output' | 'scores';
  distribution: 'gaussian' | 'uniform';
  scale: number;
  paper: boolean;
}

/** Rows of x and their length; noise rows (one per x row, or per head with `paper`). */
export function perturbRows(o: PerturbOptions): { rows: number; n: number; rowsPerHead: number; noiseRows: number } {
  const rowsPerHead = o.at === 'output' ? 1 : o.tokens;
  const n = o.at === 'output' ? o.tokens * o.headDim : o.tokens;
  const rows = o.batch * o.heads * rowsPerHead;
  return { rows, n, rowsPerHead, noiseRows: o.paper ? o.heads * rowsPerHead : rows };
}

function key(o: PerturbOptions): string {
  return `${o.at}_b${o.batch}_t${o.tokens}_h${o.heads}g${o.groups}d${o.headDim}${o.paper ? '_paper' : ''}`;
}

/** z [noiseRows, n]: the standardised noise (population std; a row with std 0 is only centred). */
export function noiseKernel(o: PerturbOptions, limits: KernelLimits): KernelInstance {
  const { n, rowsPerHead, noiseRows } = perturbRows(o);
  const wg = reductionWorkgroup(limits.maxComputeInvocationsPerWorkgroup);
  const draw = o.distribution === 'gaussian' ? 'gaussian(key, base + j)' : 'uniform01(key, base + j)';
  const hpg = Math.max(1, Math.floor(o.heads / o.groups));
  const zeroed = o.paper ? `select(${draw}, 0.0f, j == ((row / ${rowsPerHead}u) % ${o.heads}u) % ${hpg}u)` : draw;
  const body = /* wgsl */ `
${RANDOM_WGSL}
${workgroupSumWgsl('mean', wg)}
${workgroupSumWgsl('var', wg)}
@compute @workgroup_size(${wg})
fn main(${GRID_ARGS}) {
  let row = ${WG_INDEX};
  if (row >= ${noiseRows}u) { return; }
  let key = stream_key(u.seed, stream_id4(${WGSL_PURPOSE.perturbNoise}u, u.layer, u.step, u.micro));
  let base = row * ${n}u;
  var s = 0.0f;
  for (var j = lid; j < ${n}u; j += ${wg}u) { let v = ${zeroed}; z[base + j] = v; s = s + v; }
  let mean = reduce_mean(lid, s) / ${n}.0f;
  var q = 0.0f;
  for (var j = lid; j < ${n}u; j += ${wg}u) { let d = z[base + j] - mean; q = q + d * d; }
  var sd = sqrt(reduce_var(lid, q) / ${n}.0f);
  if (sd == 0.0f) { sd = 1.0f; }
  for (var j = lid; j < ${n}u; j += ${wg}u) { z[base + j] = (z[base + j] - mean) / sd; }
}
`;
  const kernel = makeKernel({
    template: 'noise', key: `${o.distribution}_${key(o)}`, workgroupSize: [wg, 1, 1], workgroupBytes: 8 * wg, body,
    bindings: [io('z', 'read_write')], uniforms: STREAM_UNIFORMS,
  }, limits);
  return { kernel, workgroups: grid(noiseRows, limits) };
}

/** WGSL: the flat index of element j of row `row` of x, and the noise row serving it. */
function addressing(o: PerturbOptions): string {
  const { heads: H, headDim: hd, tokens: T } = o;
  const { rowsPerHead } = perturbRows(o);
  const index = o.at === 'output'
    ? `return ((row / ${H}u) * ${T}u + j / ${hd}u) * ${H * hd}u + (row % ${H}u) * ${hd}u + j % ${hd}u;`
    : `return row * ${T}u + j;`;
  const zrow = o.paper ? `row % ${H * rowsPerHead}u` : 'row';
  return `fn x_index(row: u32, j: u32) -> u32 { ${index} }\nfn z_row(row: u32) -> u32 { return ${zrow}; }`;
}

/** Mean and population variance of row `row` of x (every thread gets both). */
const ROW_MOMENTS = (n: number, wg: number) => `
  var s = 0.0f;
  for (var j = lid; j < ${n}u; j += ${wg}u) { s = s + x[x_index(row, j)]; }
  let mean = reduce_mean(lid, s) / ${n}.0f;
  var q = 0.0f;
  for (var j = lid; j < ${n}u; j += ${wg}u) { let d = x[x_index(row, j)] - mean; q = q + d * d; }
  let variance = reduce_var(lid, q) / ${n}.0f;
  let sd = sqrt(max(variance, ${f32(1e-20)}));`;

/** out = x - scale * (z * std(x) + mean(x)) row by row. */
export function perturbKernel(o: PerturbOptions, limits: KernelLimits): KernelInstance {
  const { rows, n } = perturbRows(o);
  const wg = reductionWorkgroup(limits.maxComputeInvocationsPerWorkgroup);
  const body = /* wgsl */ `
${addressing(o)}
${workgroupSumWgsl('mean', wg)}
${workgroupSumWgsl('var', wg)}
@compute @workgroup_size(${wg})
fn main(${GRID_ARGS}) {
  let row = ${WG_INDEX};
  if (row >= ${rows}u) { return; }
${ROW_MOMENTS(n, wg)}
  let zb = z_row(row) * ${n}u;
  for (var j = lid; j < ${n}u; j += ${wg}u) {
    let i = x_index(row, j);
    out[i] = x[i] - (z[zb + j] * sd + mean) * ${f32(o.scale)};
  }
}
`;
  const kernel = makeKernel({
    template: 'perturb', key: key(o), workgroupSize: [wg, 1, 1], workgroupBytes: 8 * wg, body,
    bindings: [io('x', 'read'), io('z', 'read'), io('out', 'read_write')],
  }, limits);
  return { kernel, workgroups: grid(rows, limits) };
}

/**
 * dx = dy - scale * ((sum dy z) * (x - mean) / (n std) * [var >= 1e-20] + (sum dy) / n), the
 * gradient of the forward through mean(x) and std(x) = sqrt(max(var, 1e-20)).
 */
export function perturbBackwardKernel(o: PerturbOptions, limits: KernelLimits): KernelInstance {
  const { rows, n } = perturbRows(o);
  const wg = reductionWorkgroup(limits.maxComputeInvocationsPerWorkgroup);
  const body = /* wgsl */ `
${addressing(o)}
${['mean', 'var', 'dyz', 'dysum'].map((r) => workgroupSumWgsl(r, wg)).join('')}
@compute @workgroup_size(${wg})
fn main(${GRID_ARGS}) {
  let row = ${WG_INDEX};
  if (row >= ${rows}u) { return; }
${ROW_MOMENTS(n, wg)}
  let zb = z_row(row) * ${n}u;
  var a = 0.0f;
  var c = 0.0f;
  for (var j = lid; j < ${n}u; j += ${wg}u) { let g = dy[x_index(row, j)]; a = a + g * z[zb + j]; c = c + g; }
  let dyz = reduce_dyz(lid, a);
  let dysum = reduce_dysum(lid, c);
  let through_std = select(0.0f, dyz / (${n}.0f * sd), variance >= ${f32(1e-20)});
  for (var j = lid; j < ${n}u; j += ${wg}u) {
    let i = x_index(row, j);
    dx[i] = dy[i] - ${f32(o.scale)} * (through_std * (x[i] - mean) + dysum / ${n}.0f);
  }
}
`;
  const kernel = makeKernel({
    template: 'perturb_bwd', key: key(o), workgroupSize: [wg, 1, 1], workgroupBytes: 16 * wg, body,
    bindings: [io('x', 'read'), io('z', 'read'), io('dy', 'read'), io('dx', 'read_write')],
  }, limits);
  return { kernel, workgroups: grid(rows, limits) };
}
