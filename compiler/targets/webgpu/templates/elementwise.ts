// Elementwise kernels, one thread per element: GELU (with the MLP's hidden dropout), the residual
// add with dropout and stochastic depth, and the bias gradient (a column sum).
//
// Dropout masks are never stored: an element's keep decision is uniform(seed, stream, index) >= rate,
// recomputed from its counter in the backward pass (runtime/tfjs/vit.ts draws the same numbers:
// stream streamId(0x102, site, layer, step, microBatch), counter = the row-major element index;
// stochastic depth uses counter = the sample index).
import { elementwiseGrid, makeKernel, ELEMENTWISE_WG, GRID_ARGS, WG_INDEX, type Binding, type KernelInstance, type KernelLimits, type UniformField } from '../kernel.js';
import { NORMAL_CDF_WGSL } from '../wgsl-math.js';
import { RANDOM_WGSL, WGSL_PURPOSE } from '../wgsl-random.js';

export const INDEX = `let i = ${WG_INDEX} * ${ELEMENTWISE_WG}u + lid;`;

/**
 * The uniforms of one dropout mask of runtime/tfjs/vit.ts (maskUniformValues gives them): the host
 * keeps an element when uniform >= rate, with uniform = (bits >> 8) / 2^24; so the device compares the
 * integer bits >> 8 with threshold = ceil(rate * 2^24), which is exact for every rate (an f32 rate
 * could round across a multiple of 2^-24). keep = 1 / (1 - rate) in float64, then f32, as the host.
 */
export function maskUniforms(prefix: string): UniformField[] {
  return [
    { name: `${prefix}_site`, type: 'u32' },
    { name: `${prefix}_threshold`, type: 'u32' },
    { name: `${prefix}_keep`, type: 'f32' },
  ];
}

/** The threshold and scale of a dropout rate in [0, 1) (see maskUniforms). */
export function dropoutThreshold(rate: number): { threshold: number; keep: number } {
  if (!(rate >= 0 && rate < 1)) throw new Error(`dropout rate must be in [0, 1), got ${rate}`);
  return { threshold: Math.ceil(rate * 16777216), keep: 1 / (1 - rate) };
}

export const STREAM_UNIFORMS: UniformField[] = [
  { name: 'seed', type: 'u32' },
  { name: 'step', type: 'u32' },
  { name: 'micro', type: 'u32' },
  { name: 'layer', type: 'u32' },
];

/** WGSL: the factor (keep or 0) of counter `c` under mask `prefix` (needs STREAM_UNIFORMS and maskUniforms). */
function maskFactor(prefix: string, counter: string): string {
  const key = `stream_key(u.seed, stream_id5(${WGSL_PURPOSE.dropout}u, u.${prefix}_site, u.layer, u.step, u.micro))`;
  return `select(0.0f, u.${prefix}_keep, (random_bits(${key}, ${counter}) >> 8u) >= u.${prefix}_threshold)`;
}

export interface GeluOptions {
  count: number;
  /** The MLP's hidden dropout after the GELU (site 1 of vit.ts). */
  dropout: boolean;
}

/** y = x * Phi(x) (exact GELU) [* dropout mask]; its backward: dx = dy [* mask] * (Phi(x) + x phi(x)). */
function gelu(o: GeluOptions, backward: boolean, limits: KernelLimits): KernelInstance {
  const mask = o.dropout ? ` * ${maskFactor('drop', 'i')}` : '';
  const body = /* wgsl */ `
${NORMAL_CDF_WGSL}
${o.dropout ? RANDOM_WGSL : ''}
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(${GRID_ARGS}) {
  ${INDEX}
  if (i >= ${o.count}u) { return; }
  let v = x[i];
  ${backward ? `dx[i] = (dy[i]${mask}) * (normal_cdf(v) + v * normal_pdf(v));` : `y[i] = (v * normal_cdf(v))${mask};`}
}
`;
  const bindings = backward ? [io('x', 'read'), io('dy', 'read'), io('dx', 'read_write')] : [io('x', 'read'), io('y', 'read_write')];
  return elementwise(backward ? 'gelu_bwd' : 'gelu', `${o.count}${o.dropout ? '_drop' : ''}`, o.count, bindings, o.dropout ? [...STREAM_UNIFORMS, ...maskUniforms('drop')] : [], body, limits);
}

export const geluKernel = (o: GeluOptions, limits: KernelLimits) => gelu(o, false, limits);
export const geluBackwardKernel = (o: GeluOptions, limits: KernelLimits) => gelu(o, true, limits);

export interface ResidualOptions {
  rows: number;
  dim: number;
  /** Rows per sample (tokens): stochastic depth draws once per sample. */
  tokens: number;
  dropout: boolean;
  dropPath: boolean;
}

/**
 * out = h + (y [* dropout mask]) [* drop-path mask of the sample]: the end of a residual branch; its
 * backward: dy = dout [* dropout mask] [* drop-path mask], the branch's share of the gradient.
 */
function residual(o: ResidualOptions, backward: boolean, limits: KernelLimits): KernelInstance {
  const count = o.rows * o.dim;
  const body = /* wgsl */ `
${o.dropout || o.dropPath ? RANDOM_WGSL : ''}
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(${GRID_ARGS}) {
  ${INDEX}
  if (i >= ${count}u) { return; }
  ${backward ? `dy[i] = ${branch(o, 'dout[i]')};` : `out[i] = h[i] + ${branch(o, 'y[i]')};`}
}
`;
  const bindings = backward ? [io('dout', 'read'), io('dy', 'read_write')] : [io('h', 'read'), io('y', 'read'), io('out', 'read_write')];
  return elementwise(backward ? 'residual_bwd' : 'residual', residualKey(o), count, bindings, residualUniforms(o), body, limits);
}

export const residualKernel = (o: ResidualOptions, limits: KernelLimits) => residual(o, false, limits);
export const residualBackwardKernel = (o: ResidualOptions, limits: KernelLimits) => residual(o, true, limits);

function branch(o: ResidualOptions, value: string): string {
  let v = value;
  if (o.dropout) v = `(${v} * ${maskFactor('drop', 'i')})`;
  if (o.dropPath) v = `(${v} * ${maskFactor('path', `(i / ${o.dim * o.tokens}u)`)})`;
  return v;
}

function residualKey(o: ResidualOptions): string {
  return `${o.rows}x${o.dim}${o.dropout ? '_drop' : ''}${o.dropPath ? `_path${o.tokens}` : ''}`;
}

function residualUniforms(o: ResidualOptions): UniformField[] {
  if (!o.dropout && !o.dropPath) return [];
  return [...STREAM_UNIFORMS, ...(o.dropout ? maskUniforms('drop') : []), ...(o.dropPath ? maskUniforms('path') : [])];
}

/** db[n] += sum_m dy[m, n]: one thread per column, rows in order. */
export function biasGradKernel(o: { rows: number; cols: number }, limits: KernelLimits): KernelInstance {
  const body = /* wgsl */ `
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(${GRID_ARGS}) {
  ${INDEX}
  if (i >= ${o.cols}u) { return; }
  var s = 0.0f;
  for (var r = 0u; r < ${o.rows}u; r++) { s = s + dy[r * ${o.cols}u + i]; }
  db[i] = db[i] + s;
}
`;
  return elementwise('bias_grad', `${o.rows}x${o.cols}`, o.cols, [io('dy', 'read'), io('db', 'read_write')], [], body, limits);
}

export function io(name: string, access: Binding['access'], elem: Binding['elem'] = 'f32'): Binding {
  return { name, access, elem };
}

/** A one-thread-per-item kernel over `count` items. */
export function elementwise(template: string, key: string, count: number, bindings: Binding[], uniforms: UniformField[], body: string, limits: KernelLimits): KernelInstance {
  const kernel = makeKernel({ template, key, bindings, uniforms, workgroupSize: [ELEMENTWISE_WG, 1, 1], body }, limits);
  return { kernel, workgroups: elementwiseGrid(count, ELEMENTWISE_WG, limits) };
}
