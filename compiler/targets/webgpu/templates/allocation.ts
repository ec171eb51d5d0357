// KDGQA/DGQA on the device (docs/attention.md "Variants", docs/webgpu.md "Allocation on the device"):
// key norms per image and K/V group, their sum over the batch, the allocation itself (wgsl-alloc.ts:
// compiler/alloc.ts exactly, for the f32 scores), the DGQA tracker, and the head -> group table the
// attention kernels read. The counts never go to the host.
//
// A key_norm layer's state is one u32 buffer (f32 values stored as their bits):
//   [0, G) counts | [G, 2G) cache (f32) | [2G, 3G) score (f32) | [3G] initialised (0/1) | [3G + 1] last step + 1 (0: none)
import type { ScoredAllocationIR, TrackIR } from '../../../ir/types.js';
import { ELEMENTWISE_WG, f32, grid, makeKernel, GRID_ARGS, WG_INDEX, type KernelInstance, type KernelLimits } from '../kernel.js';
import { ALLOCATION_UNIFORMS, allocationWgsl } from '../wgsl-alloc.js';
import { reductionWorkgroup, workgroupSumWgsl } from '../wgsl-math.js';
import { RANDOM_WGSL, WGSL_PURPOSE } from '../wgsl-random.js';
import { elementwise, INDEX, io, STREAM_UNIFORMS } from './elementwise.js';

/** Words of a layer's state buffer. */
export function allocationStateWords(groups: number): number {
  return 3 * groups + 2;
}

export interface KeyNormOptions {
  batch: number;
  tokens: number;
  heads: number;
  groups: number;
  headDim: number;
  norm: 'l2' | 'l1';
}

/** norms[b, g]: l2 = sqrt(sum of K^2 over tokens and head_dim), l1 = sum |K|; one workgroup per (b, g). */
export function keyNormKernel(o: KeyNormOptions, limits: KernelLimits): KernelInstance {
  const { tokens: T, heads: H, groups: G, headDim: hd } = o;
  const W = (H + 2 * G) * hd;
  const wg = reductionWorkgroup(limits.maxComputeInvocationsPerWorkgroup);
  const term = o.norm === 'l2' ? 'k * k' : 'abs(k)';
  const body = /* wgsl */ `
${workgroupSumWgsl('sum', wg)}
@compute @workgroup_size(${wg})
fn main(${GRID_ARGS}) {
  let cell = ${WG_INDEX};
  if (cell >= ${o.batch * G}u) { return; }
  let b = cell / ${G}u;
  let g = cell % ${G}u;
  var s = 0.0f;
  for (var e = lid; e < ${T * hd}u; e += ${wg}u) {
    let k = qkv[(b * ${T}u + e / ${hd}u) * ${W}u + (${H}u + g) * ${hd}u + e % ${hd}u];
    s = s + ${term};
  }
  let total = reduce_sum(lid, s);
  if (lid == 0u) { norms[cell] = ${o.norm === 'l2' ? 'sqrt(total)' : 'total'}; }
}
`;
  const kernel = makeKernel({
    template: 'key_norm', key: `${o.norm}_b${o.batch}_t${T}_h${H}g${G}d${hd}`, workgroupSize: [wg, 1, 1], workgroupBytes: 4 * wg, body,
    bindings: [io('qkv', 'read'), io('norms', 'read_write')],
  }, limits);
  return { kernel, workgroups: grid(o.batch * G, limits) };
}

/** The shape of a key statistic's kernel: one value per image and K/V group. */
export type KeyStatOptions = Omit<KeyNormOptions, 'norm'>;

/** WGSL: the key element e (token e / hd, dim e % hd) of cell (b, g). */
const keyAt = (o: KeyStatOptions) => `qkv[(b * ${o.tokens}u + e / ${o.headDim}u) * ${(o.heads + 2 * o.groups) * o.headDim}u + (${o.heads}u + g) * ${o.headDim}u + e % ${o.headDim}u]`;

/** norms[b, g] = the population variance of K over tokens and head_dim: the mean first, then the mean squared deviation. */
export function keyVarianceKernel(o: KeyStatOptions, limits: KernelLimits): KernelInstance {
  const n = o.tokens * o.headDim;
  const wg = reductionWorkgroup(limits.maxComputeInvocationsPerWorkgroup);
  const body = /* wgsl */ `
${workgroupSumWgsl('sum', wg)}
${workgroupSumWgsl('dev', wg)}
@compute @workgroup_size(${wg})
fn main(${GRID_ARGS}) {
  let cell = ${WG_INDEX};
  if (cell >= ${o.batch * o.groups}u) { return; }
  let b = cell / ${o.groups}u;
  let g = cell % ${o.groups}u;
  var s = 0.0f;
  for (var e = lid; e < ${n}u; e += ${wg}u) { s = s + ${keyAt(o)}; }
  let mean = reduce_sum(lid, s) / ${f32(n)};
  var d = 0.0f;
  for (var e = lid; e < ${n}u; e += ${wg}u) {
    let c = ${keyAt(o)} - mean;
    d = d + c * c;
  }
  let total = reduce_dev(lid, d);
  if (lid == 0u) { norms[cell] = total / ${f32(n)}; }
}
`;
  const kernel = makeKernel({
    template: 'key_variance', key: `b${o.batch}_t${o.tokens}_h${o.heads}g${o.groups}d${o.headDim}`, workgroupSize: [wg, 1, 1], workgroupBytes: 8 * wg, body,
    bindings: [io('qkv', 'read'), io('norms', 'read_write')],
  }, limits);
  return { kernel, workgroups: grid(o.batch * o.groups, limits) };
}

/**
 * norms[b, g] = the mean entropy of group g's key self-attention in image b (compiler/ir/scores.ts
 * keySelfAttentionEntropy): thread lid takes rows i = lid, lid + wg, ...; a row's scores are computed
 * twice (its maximum, then Z and sum e (s - m)) rather than held, so any T fits.
 */
export function keyEntropyKernel(o: KeyStatOptions, limits: KernelLimits): KernelInstance {
  const { tokens: T, headDim: hd } = o;
  const wg = reductionWorkgroup(limits.maxComputeInvocationsPerWorkgroup);
  const at = (t: string, d: string) => `qkv[(b * ${T}u + ${t}) * ${(o.heads + 2 * o.groups) * hd}u + (${o.heads}u + g) * ${hd}u + ${d}]`;
  const body = /* wgsl */ `
${workgroupSumWgsl('sum', wg)}
fn score(b: u32, g: u32, i: u32, j: u32) -> f32 {
  var dot = 0.0f;
  for (var d = 0u; d < ${hd}u; d++) { dot = dot + ${at('i', 'd')} * ${at('j', 'd')}; }
  return dot * ${f32(1 / Math.sqrt(hd))};
}
@compute @workgroup_size(${wg})
fn main(${GRID_ARGS}) {
  let cell = ${WG_INDEX};
  if (cell >= ${o.batch * o.groups}u) { return; }
  let b = cell / ${o.groups}u;
  let g = cell % ${o.groups}u;
  var h = 0.0f;
  for (var i = lid; i < ${T}u; i += ${wg}u) {
    var m = score(b, g, i, 0u);
    for (var j = 1u; j < ${T}u; j++) { m = max(m, score(b, g, i, j)); }
    var z = 0.0f;
    var w = 0.0f;
    for (var j = 0u; j < ${T}u; j++) {
      let c = score(b, g, i, j) - m;
      let e = exp(c);
      z = z + e;
      w = w + e * c;
    }
    h = h + log(z) - w / z;
  }
  let total = reduce_sum(lid, h);
  if (lid == 0u) { norms[cell] = total / ${f32(T)}; }
}
`;
  const kernel = makeKernel({
    template: 'key_entropy', key: `b${o.batch}_t${T}_h${o.heads}g${o.groups}d${hd}`, workgroupSize: [wg, 1, 1], workgroupBytes: 4 * wg, body,
    bindings: [io('qkv', 'read'), io('norms', 'read_write')],
  }, limits);
  return { kernel, workgroups: grid(o.batch * o.groups, limits) };
}

/**
 * norms[b, g] = the `random` statistic (compiler/ir/scores.ts randomScore): the top 12 bits of the
 * counter generator, counter b * G + g (per image, b within the batch) keyed (seed, layer, step,
 * micro-batch) in training and (seed, layer) at evaluation: per image in both, so the batch's sums
 * average out at evaluation as they do in training.
 */
export function keyRandomKernel(o: { batch: number; groups: number; mode: 'train' | 'eval' }, limits: KernelLimits): KernelInstance {
  const train = o.mode === 'train';
  const body = /* wgsl */ `
${RANDOM_WGSL}
fn stream_id2(a: u32, b: u32) -> u32 { return stream_step(stream_step(2u, a), b); }
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(${GRID_ARGS}) {
  ${INDEX}
  if (i >= ${o.batch * o.groups}u) { return; }
  let key = stream_key(u.seed, ${train ? `stream_id4(${WGSL_PURPOSE.allocationScore}u, u.layer, u.step, u.micro)` : `stream_id2(${WGSL_PURPOSE.allocationScore}u, u.layer)`});
  norms[i] = f32(random_bits(key, i) >> 20u);
}
`;
  return elementwise('key_random', `b${o.batch}_g${o.groups}_${o.mode}`, o.batch * o.groups, [io('norms', 'read_write')], STREAM_UNIFORMS, body, limits);
}

/** sums[g] = sum over b of norms[b, g], images in order (the reference sums per-image norms). */
export function keyNormSumKernel(o: { batch: number; groups: number }, limits: KernelLimits): KernelInstance {
  const body = /* wgsl */ `
@compute @workgroup_size(64)
fn main(${GRID_ARGS}) {
  let g = ${WG_INDEX} * 64u + lid;
  if (g >= ${o.groups}u) { return; }
  var s = 0.0f;
  for (var b = 0u; b < ${o.batch}u; b++) { s = s + norms[b * ${o.groups}u + g]; }
  sums[g] = s;
}
`;
  return elementwise('key_norm_sum', `b${o.batch}_g${o.groups}`, o.groups, [io('norms', 'read'), io('sums', 'read_write')], [], body, limits);
}

/** WGSL: writes alloc_counts as a table row of contiguous head runs in group order (groupOfHeadFromCounts). */
const WRITE_TABLE = /* wgsl */ `
fn write_table(base: u32) {
  var h = 0u;
  for (var g = 0u; g < u.a_groups; g++) {
    for (var c = 0u; c < alloc_counts[g]; c++) {
      if (h < u.a_heads) { table[base + h] = g; }
      h = h + 1u;
    }
  }
}
`;

export interface AllocateOptions {
  rows: number;
  /** Also write the head -> group table [rows, H]. */
  table: boolean;
  /** Capacity: the most K/V groups of any layer the kernel serves (G itself is a uniform). */
  maxGroups: number;
}

/**
 * One allocation per row of scores [rows, G] (f32 read as bits): counts [rows, G] and, with `table`,
 * the head -> group table [rows, H]. One single-thread workgroup per row. Uniforms: `rows` and
 * ALLOCATION_UNIFORMS (allocationUniformValues of the layer's options).
 */
export function allocateKernel(o: AllocateOptions, limits: KernelLimits): KernelInstance {
  const body = /* wgsl */ `
${allocationWgsl(o.maxGroups)}
${o.table ? WRITE_TABLE : ''}
@compute @workgroup_size(1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = ${WG_INDEX};
  if (row >= u.rows) { return; }
  let G = u.a_groups;
  for (var g = 0u; g < G; g++) { alloc_scores[g] = scores[row * G + g]; }
  allocate_counts();
  for (var g = 0u; g < G; g++) { out_counts[row * G + g] = alloc_counts[g]; }
${o.table ? '  write_table(row * u.a_heads);' : ''}
}
`;
  const bindings = [io('scores', 'read', 'u32'), io('out_counts', 'read_write', 'u32'), ...(o.table ? [io('table', 'read_write', 'u32')] : [])];
  const kernel = makeKernel({
    template: 'allocate', key: `g${o.maxGroups}${o.table ? '' : '_counts'}`, workgroupSize: [1, 1, 1], body, bindings,
    uniforms: [{ name: 'rows', type: 'u32' }, ...ALLOCATION_UNIFORMS],
  }, limits);
  return { kernel, workgroups: grid(o.rows, limits) };
}

/**
 * Training, untracked key_norm: state.score <- sums; with `counts`, state.counts <- counts (the
 * batch's allocation, kept for eval 'frozen'); initialised <- 1 (runtime/tfjs/attention.ts).
 */
export function allocationStateKernel(o: { groups: number; counts: boolean }, limits: KernelLimits): KernelInstance {
  const G = o.groups;
  const body = /* wgsl */ `
@compute @workgroup_size(1)
fn main() {
  for (var g = 0u; g < ${G}u; g++) {
    state[${2 * G}u + g] = sums[g];
${o.counts ? '    state[g] = counts[g];' : ''}
  }
  state[${3 * G}u] = 1u;
}
`;
  const bindings = [io('sums', 'read', 'u32'), ...(o.counts ? [io('counts', 'read', 'u32')] : []), io('state', 'read_write', 'u32')];
  const kernel = makeKernel({ template: 'alloc_state', key: `g${G}${o.counts ? '_counts' : ''}`, workgroupSize: [1, 1, 1], body, bindings }, limits);
  return { kernel, workgroups: [1, 1, 1] };
}

/** The table [H] of the counts held in a state buffer (eval 'frozen'). */
export function tableFromCountsKernel(o: { heads: number; groups: number }, limits: KernelLimits): KernelInstance {
  const body = /* wgsl */ `
@compute @workgroup_size(1)
fn main() {
  var h = 0u;
  for (var g = 0u; g < ${o.groups}u; g++) {
    for (var c = 0u; c < state[g]; c++) {
      if (h < ${o.heads}u) { table[h] = g; }
      h = h + 1u;
    }
  }
}
`;
  const kernel = makeKernel({ template: 'table_from_counts', key: `h${o.heads}g${o.groups}`, workgroupSize: [1, 1, 1], body, bindings: [io('state', 'read', 'u32'), io('table', 'read_write', 'u32')] }, limits);
  return { kernel, workgroups: [1, 1, 1] };
}

export interface TrackerOptions {
  /** Capacity (the layer's G is a uniform, ALLOCATION_UNIFORMS). */
  maxGroups: number;
  track: TrackIR;
  window: number;
  init: ScoredAllocationIR['init'];
  /** 'train': one tracker step per optimizer step; 'eval': allocate from the score this batch gives. */
  mode: 'train' | 'eval';
}

/**
 * DGQA (TrackIR in compiler/ir/types.ts), one thread: updates the state as runtime/tfjs/attention.ts
 * does (rule 'attnc' at every training step, re-allocating when due; rule 'paper' at due steps and at
 * every evaluation batch), in f32, then writes the table [H] of the counts in force. Uniforms: `step`
 * and `epoch_step` (training), then ALLOCATION_UNIFORMS.
 */
export function trackerKernel(o: TrackerOptions, limits: KernelLimits): KernelInstance {
  const t = o.track;
  const decay = t.kind === 'ema' ? t.decay : 0;
  // tfjs multiplies f32 tensors by f32 scalars: decay and 1 - decay (computed in float64) rounded once.
  const blend = t.rule === 'attnc' ? `cache * ${f32(decay)} + norm * ${f32(1 - decay)}` : `norm * ${f32(decay)} + cache * ${f32(1 - decay)}`;
  const score = t.kind === 'diff' ? 'abs(cache - norm)' : blend;
  const nextCache = t.rule === 'attnc' ? (t.kind === 'diff' ? 'norm' : 'sc') : o.mode === 'train' ? `(cache + norm) / ${f32(o.window)}` : 'norm';
  const firstBatch = o.init === 'first_batch' ? 'state[3u * G] == 0u' : 'false';
  const due = t.rule === 'attnc'
    ? `${firstBatch} || (u.step > 0u && u.step % ${o.window}u == 0u)`
    : `u.epoch_step % ${o.window}u == 0u || ${firstBatch}`;
  // The score of (cache, norm) into alloc_scores (as bits) and the next cache into next_cache.
  const update = `score_and_cache(G);`;
  const store = 'store_counts(G); store_cache_and_score(G);';
  let main: string;
  if (o.mode === 'eval' && t.rule === 'attnc') {
    main = `${update}
  allocate_counts();`;
  } else if (o.mode === 'eval') {
    // Rule 'paper' at evaluation: allocate, keep the allocation, cache <- norm (the reference's inference path).
    main = `${update}
  allocate_counts();
  ${store}`;
  } else {
    const body = t.rule === 'attnc'
      ? `${update}
    store_cache_and_score(G);
    if (due) { allocate_counts(); store_counts(G); }`
      : `if (due) { ${update} allocate_counts(); ${store} }`;
    main = /* wgsl */ `
  // A second pass at the same step (a later micro-batch, a re-run) changes nothing.
  if (state[3u * G + 1u] != u.step + 1u) {
    let due = ${due};
    state[3u * G] = 1u;
    state[3u * G + 1u] = u.step + 1u;
    ${body}
  }
  for (var g = 0u; g < G; g++) { alloc_counts[g] = state[g]; }`;
  }
  const wgsl = /* wgsl */ `
${allocationWgsl(o.maxGroups)}
${WRITE_TABLE}
var<private> next_cache: array<u32, ${o.maxGroups}>;
fn score_and_cache(G: u32) {
  for (var g = 0u; g < G; g++) {
    let cache = bitcast<f32>(state[G + g]);
    let norm = bitcast<f32>(sums[g]);
    let sc = ${score};
    alloc_scores[g] = bitcast<u32>(sc);
    next_cache[g] = bitcast<u32>(${nextCache});
  }
}
fn store_counts(G: u32) { for (var g = 0u; g < G; g++) { state[g] = alloc_counts[g]; } }
fn store_cache_and_score(G: u32) { for (var g = 0u; g < G; g++) { state[G + g] = next_cache[g]; state[2u * G + g] = alloc_scores[g]; } }
@compute @workgroup_size(1)
fn main() {
  let G = u.a_groups;
  ${main.trim()}
  write_table(0u);
}
`;
  const trackKey = t.kind === 'ema' ? `ema${decay}` : 'diff';
  const kernel = makeKernel({
    template: 'tracker', key: `${o.mode}_${t.rule}_${trackKey}_w${o.window}_${o.init}_g${o.maxGroups}`, workgroupSize: [1, 1, 1], body: wgsl,
    bindings: [io('sums', 'read', 'u32'), io('state', 'read_write', 'u32'), io('table', 'read_write', 'u32')],
    uniforms: [{ name: 'step', type: 'u32' }, { name: 'epoch_step', type: 'u32' }, ...ALLOCATION_UNIFORMS],
  }, limits);
  return { kernel, workgroups: [1, 1, 1] };
}
