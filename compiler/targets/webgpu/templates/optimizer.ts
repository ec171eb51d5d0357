// The loss and the update: softmax cross-entropy with label smoothing and its gradient, the global
// gradient norm (clipping), AdamW and SGD. Formulas and order of operations are those of
// runtime/tfjs/ops.ts crossEntropy and runtime/tfjs/kernels-optimizer.ts (the global norm and
// clipping, PyTorch's AdamW and SGD).
//
// The statistics buffer of a training step (f32 x 4): [0] the mean loss over the step's batch,
// [1] images classified right, [2] the global gradient norm, [3] the clip coefficient applied.
import { elementwiseGrid, f32, makeKernel, ELEMENTWISE_WG, GRID_ARGS, WG_INDEX, type KernelInstance, type KernelLimits } from '../kernel.js';
import { reductionWorkgroup, workgroupSumWgsl } from '../wgsl-math.js';
import { io } from './elementwise.js';

export interface CrossEntropyOptions {
  batch: number;
  classes: number;
  smoothing: number;
  /**
   * null: evaluation (stats[0] = the sum of the rows' losses, stats[1] = correct; no gradient).
   * Otherwise training: dlogits = (softmax - target) * gradScale, and stats[0] += sum of losses *
   * gradScale, stats[1] += correct, both reset at micro-batch 0 (uniform `micro`).
   */
  gradScale: number | null;
}

/** One workgroup: rows strided over its threads, then a fixed-order tree sum of losses and hits. */
export function crossEntropyKernel(o: CrossEntropyOptions, limits: KernelLimits): KernelInstance {
  const wg = reductionWorkgroup(limits.maxComputeInvocationsPerWorkgroup);
  const C = o.classes;
  const s = o.smoothing;
  if (!(s >= 0 && s < 1)) throw new Error(`cross-entropy: label smoothing must be in [0, 1), got ${s}`);
  const train = o.gradScale !== null;
  const gradLine = train ? `dlogits[b * ${C}u + c] = (exp(lp) - t) * ${f32(o.gradScale!)};` : '';
  const statsWrite = train
    ? `    let keep = select(1.0f, 0.0f, u.micro == 0u);
    stats[0] = stats[0] * keep + total_loss * ${f32(o.gradScale!)};
    stats[1] = stats[1] * keep + total_hits;`
    : `    stats[0] = total_loss;
    stats[1] = total_hits;`;
  const body = /* wgsl */ `
${workgroupSumWgsl('loss', wg)}
${workgroupSumWgsl('hits', wg)}
@compute @workgroup_size(${wg})
fn main(@builtin(local_invocation_index) lid: u32) {
  var loss = 0.0f;
  var hits = 0.0f;
  for (var b = lid; b < ${o.batch}u; b += ${wg}u) {
    var top = logits[b * ${C}u];
    var arg = 0u;
    for (var c = 1u; c < ${C}u; c++) {
      let v = logits[b * ${C}u + c];
      if (v > top) { top = v; arg = c; }
    }
    var s = 0.0f;
    for (var c = 0u; c < ${C}u; c++) { s = s + exp(logits[b * ${C}u + c] - top); }
    let lse = log(s);
    let label = labels[b];
    var row = 0.0f;
    for (var c = 0u; c < ${C}u; c++) {
      let lp = logits[b * ${C}u + c] - top - lse;
      let t = select(0.0f, ${f32(1 - s)}, c == label) + ${f32(s / C)};
      row = row - t * lp;
      ${gradLine}
    }
    loss = loss + row;
    hits = hits + select(0.0f, 1.0f, arg == label);
  }
  let total_loss = reduce_loss(lid, loss);
  let total_hits = reduce_hits(lid, hits);
  if (lid == 0u) {
${statsWrite}
  }
}
`;
  const bindings = [io('logits', 'read'), io('labels', 'read', 'u32'), ...(train ? [io('dlogits', 'read_write')] : []), io('stats', 'read_write')];
  const kernel = makeKernel({
    template: 'cross_entropy', key: `${o.batch}x${C}_s${s}${train ? '_train' : '_eval'}`, workgroupSize: [wg, 1, 1], workgroupBytes: 8 * wg, body, bindings,
    uniforms: train ? [{ name: 'micro', type: 'u32' }] : [],
  }, limits);
  return { kernel, workgroups: [1, 1, 1] };
}

/** partial[u.index] = sum of g^2 over the u.count elements of one gradient (one workgroup). */
export function gradSumSquaresKernel(limits: KernelLimits): KernelInstance {
  const wg = reductionWorkgroup(limits.maxComputeInvocationsPerWorkgroup);
  const body = /* wgsl */ `
${workgroupSumWgsl('sum', wg)}
@compute @workgroup_size(${wg})
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0f;
  for (var i = lid; i < u.count; i += ${wg}u) { let g = grad[i]; s = s + g * g; }
  let total = reduce_sum(lid, s);
  if (lid == 0u) { partial[u.index] = total; }
}
`;
  const kernel = makeKernel({
    template: 'grad_sumsq', key: `wg${wg}`, workgroupSize: [wg, 1, 1], workgroupBytes: 4 * wg, body,
    bindings: [io('grad', 'read'), io('partial', 'read_write')],
    uniforms: [{ name: 'count', type: 'u32' }, { name: 'index', type: 'u32' }],
  }, limits);
  return { kernel, workgroups: [1, 1, 1] };
}

/**
 * stats[2] = sqrt(sum of the partials, in order); stats[3] = min(clip / (norm + 1e-6), 1), or 1
 * without clipping (torch.nn.utils.clip_grad_norm_).
 */
export function gradNormKernel(o: { params: number; clip: number | null }, limits: KernelLimits): KernelInstance {
  const coef = o.clip === null ? '1.0f' : `min(${f32(o.clip)} / (norm + ${f32(1e-6)}), 1.0f)`;
  const body = /* wgsl */ `
@compute @workgroup_size(1)
fn main() {
  var total = 0.0f;
  for (var i = 0u; i < ${o.params}u; i++) { total = total + partial[i]; }
  let norm = sqrt(total);
  stats[2] = norm;
  stats[3] = ${coef};
}
`;
  const kernel = makeKernel({
    template: 'grad_norm', key: `${o.params}${o.clip === null ? '' : `_clip${o.clip}`}`, workgroupSize: [1, 1, 1], body,
    bindings: [io('partial', 'read'), io('stats', 'read_write')],
  }, limits);
  return { kernel, workgroups: [1, 1, 1] };
}

// A non-finite gradient norm (stats[2]) leaves the parameter and its slots as they are: the trainer
// stops on it, as the tfjs trainer does before its update. The gradient is zeroed either way, ready
// for the next step's accumulation.
const NORM_FINITE = `((bitcast<u32>(stats[2]) >> 23u) & 0xffu) != 0xffu`;

// The update kernels read the element count from a uniform, so one kernel serves every parameter.

/**
 * torch.optim.AdamW on u.count elements, as runtime/tfjs/kernels-optimizer.ts: g = grad * clip coefficient;
 * m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p = p * decay - (m / (sqrt(v) / bias2Sqrt + eps)) * stepSize.
 */
export function adamwKernel(o: { count: number }, limits: KernelLimits): KernelInstance {
  const body = /* wgsl */ `
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(${GRID_ARGS}) {
  let i = ${WG_INDEX} * ${ELEMENTWISE_WG}u + lid;
  if (i >= u.count) { return; }
  if (${NORM_FINITE}) {
    let g = grad[i] * stats[3];
    let m1 = m[i] * u.beta1 + g * u.one_minus_beta1;
    let v1 = v[i] * u.beta2 + (g * g) * u.one_minus_beta2;
    m[i] = m1;
    v[i] = v1;
    let denom = sqrt(v1) / u.bias2_sqrt + u.eps;
    p[i] = p[i] * u.decay - (m1 / denom) * u.step_size;
  }
  grad[i] = 0.0f;
}
`;
  const kernel = makeKernel({
    template: 'adamw', key: 'all', workgroupSize: [ELEMENTWISE_WG, 1, 1], body,
    bindings: [io('p', 'read_write'), io('grad', 'read_write'), io('m', 'read_write'), io('v', 'read_write'), io('stats', 'read')],
    uniforms: ['count', 'beta1', 'one_minus_beta1', 'beta2', 'one_minus_beta2', 'eps', 'step_size', 'bias2_sqrt', 'decay'].map((name) => ({ name, type: name === 'count' ? 'u32' : 'f32' })),
  }, limits);
  return { kernel, workgroups: elementwiseGrid(o.count, ELEMENTWISE_WG, limits) };
}

/** torch.optim.SGD (dampening 0): d = g + wd p; buf = momentum buf + d (with momentum); p = p - lr d. */
export function sgdKernel(o: { count: number; momentum: boolean }, limits: KernelLimits): KernelInstance {
  const step = o.momentum ? 'let b = buf[i] * u.momentum + d;\n    buf[i] = b;\n    p[i] = p[i] - b * u.lr;' : 'p[i] = p[i] - d * u.lr;';
  const body = /* wgsl */ `
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(${GRID_ARGS}) {
  let i = ${WG_INDEX} * ${ELEMENTWISE_WG}u + lid;
  if (i >= u.count) { return; }
  if (${NORM_FINITE}) {
    let d = grad[i] * stats[3] + p[i] * u.weight_decay;
    ${step}
  }
  grad[i] = 0.0f;
}
`;
  const kernel = makeKernel({
    template: 'sgd', key: o.momentum ? 'momentum' : 'plain', workgroupSize: [ELEMENTWISE_WG, 1, 1], body,
    bindings: [io('p', 'read_write'), io('grad', 'read_write'), ...(o.momentum ? [io('buf', 'read_write')] : []), io('stats', 'read')],
    uniforms: [{ name: 'count', type: 'u32' }, { name: 'lr', type: 'f32' }, { name: 'weight_decay', type: 'f32' }, ...(o.momentum ? [{ name: 'momentum', type: 'f32' as const }] : [])],
  }, limits);
  return { kernel, workgroups: elementwiseGrid(o.count, ELEMENTWISE_WG, limits) };
}
