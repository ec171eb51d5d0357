// The ends of the network: patchify (the patch embedding is patchify, then a linear layer), the
// class token and position embedding, and the pooling before the head; each with its backward where
// a parameter or an activation needs one (the images get no gradient).
import { ELEMENTWISE_WG, GRID_ARGS, type KernelInstance, type KernelLimits } from '../kernel.js';
import { elementwise, INDEX, io } from './elementwise.js';

export interface PatchifyOptions {
  batch: number;
  height: number;
  width: number;
  channels: number;
  patch: number;
}

/**
 * NHWC images [B, H, W, C] -> patch rows [B * N, C * p * p]: patches in row-major grid order, each
 * row ordered (c, i, j) as a flattened Conv2d weight (runtime/tfjs/ops.ts patchify).
 */
export function patchifyKernel(o: PatchifyOptions, limits: KernelLimits): KernelInstance {
  const { batch, height, width, channels: C, patch: p } = o;
  if (height % p !== 0 || width % p !== 0) throw new Error(`patchify: ${height}x${width} is not divisible by patch ${p}`);
  const gw = width / p;
  const n = (height / p) * gw;
  const rowLen = C * p * p;
  const count = batch * n * rowLen;
  const body = /* wgsl */ `
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(${GRID_ARGS}) {
  ${INDEX}
  if (i >= ${count}u) { return; }
  let row = i / ${rowLen}u;
  let col = i % ${rowLen}u;
  let b = row / ${n}u;
  let cell = row % ${n}u;
  let c = col / ${p * p}u;
  let py = (col / ${p}u) % ${p}u;
  let px = col % ${p}u;
  let y = (cell / ${gw}u) * ${p}u + py;
  let x = (cell % ${gw}u) * ${p}u + px;
  patches[i] = images[((b * ${height}u + y) * ${width}u + x) * ${C}u + c];
}
`;
  return elementwise('patchify', `${batch}x${height}x${width}x${C}_p${p}`, count, [io('images', 'read'), io('patches', 'read_write')], [], body, limits);
}

export interface EmbedOptions {
  batch: number;
  /** Patches per image. */
  patches: number;
  dim: number;
  /** A learned class token is prepended (tokens = patches + 1). */
  cls: boolean;
}

/** h[b, t] = (t == 0 ? cls : patch row t - cls) + pos[t], rows [B * T, D]. */
export function embedKernel(o: EmbedOptions, limits: KernelLimits): KernelInstance {
  const T = o.patches + (o.cls ? 1 : 0);
  const D = o.dim;
  const count = o.batch * T * D;
  const token = o.cls
    ? `select(patches[((b * ${o.patches}u) + max(t, 1u) - 1u) * ${D}u + d], cls[d], t == 0u)`
    : `patches[((b * ${o.patches}u) + t) * ${D}u + d]`;
  const body = /* wgsl */ `
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(${GRID_ARGS}) {
  ${INDEX}
  if (i >= ${count}u) { return; }
  let d = i % ${D}u;
  let t = (i / ${D}u) % ${T}u;
  let b = i / ${T * D}u;
  h[i] = ${token} + pos[t * ${D}u + d];
}
`;
  const bindings = [io('patches', 'read'), ...(o.cls ? [io('cls', 'read')] : []), io('pos', 'read'), io('h', 'read_write')];
  return elementwise('embed', `${o.batch}x${o.patches}x${D}${o.cls ? '_cls' : ''}`, count, bindings, [], body, limits);
}

/**
 * The embedding's backward, one thread per (t, d): dpos[t, d] += sum_b dh[b, t, d]; dcls[d] += the
 * t = 0 sum; dpatches (the patch rows' gradient) = dh without the class-token rows.
 */
export function embedBackwardKernel(o: EmbedOptions, limits: KernelLimits): KernelInstance {
  const T = o.patches + (o.cls ? 1 : 0);
  const D = o.dim;
  const first = o.cls ? 1 : 0;
  const body = /* wgsl */ `
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(${GRID_ARGS}) {
  ${INDEX}
  if (i >= ${T * D}u) { return; }
  let d = i % ${D}u;
  let t = i / ${D}u;
  var s = 0.0f;
  for (var b = 0u; b < ${o.batch}u; b++) {
    let g = dh[(b * ${T}u + t) * ${D}u + d];
    s = s + g;
    if (t >= ${first}u) { dpatches[(b * ${o.patches}u + t - ${first}u) * ${D}u + d] = g; }
  }
  dpos[i] = dpos[i] + s;
${o.cls ? '  if (t == 0u) { dcls[d] = dcls[d] + s; }' : ''}
}
`;
  const bindings = [io('dh', 'read'), io('dpatches', 'read_write'), io('dpos', 'read_write'), ...(o.cls ? [io('dcls', 'read_write')] : [])];
  return elementwise('embed_bwd', `${o.batch}x${o.patches}x${D}${o.cls ? '_cls' : ''}`, T * D, bindings, [], body, limits);
}

export interface PoolOptions {
  batch: number;
  tokens: number;
  dim: number;
  /** 'cls': token 0 of each image; 'mean': the mean of its tokens. */
  pool: 'cls' | 'mean';
}

/** pooled[b, d] from the final-norm rows x [B * T, D]. */
export function poolKernel(o: PoolOptions, limits: KernelLimits): KernelInstance {
  const { tokens: T, dim: D } = o;
  const count = o.batch * D;
  const value = o.pool === 'cls'
    ? `x[b * ${T * D}u + d]`
    : `mean_tokens(b, d)`;
  const body = /* wgsl */ `
fn mean_tokens(b: u32, d: u32) -> f32 {
  var s = 0.0f;
  for (var t = 0u; t < ${T}u; t++) { s = s + x[(b * ${T}u + t) * ${D}u + d]; }
  return s / ${T}.0f;
}
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(${GRID_ARGS}) {
  ${INDEX}
  if (i >= ${count}u) { return; }
  let b = i / ${D}u;
  let d = i % ${D}u;
  pooled[i] = ${value};
}
`;
  return elementwise('pool', `${o.pool}_${o.batch}x${T}x${D}`, count, [io('x', 'read'), io('pooled', 'read_write')], [], body, limits);
}

/** dx[b, t, d] = dpooled[b, d] at t = 0 ('cls', else 0), or dpooled[b, d] / T ('mean'). */
export function poolBackwardKernel(o: PoolOptions, limits: KernelLimits): KernelInstance {
  const { tokens: T, dim: D } = o;
  const count = o.batch * T * D;
  const value = o.pool === 'cls' ? `select(0.0f, dpooled[b * ${D}u + d], t == 0u)` : `dpooled[b * ${D}u + d] / ${T}.0f`;
  const body = /* wgsl */ `
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(${GRID_ARGS}) {
  ${INDEX}
  if (i >= ${count}u) { return; }
  let d = i % ${D}u;
  let t = (i / ${D}u) % ${T}u;
  let b = i / ${T * D}u;
  dx[i] = ${value};
}
`;
  return elementwise('pool_bwd', `${o.pool}_${o.batch}x${T}x${D}`, count, [io('dpooled', 'read'), io('dx', 'read_write')], [], body, limits);
}
