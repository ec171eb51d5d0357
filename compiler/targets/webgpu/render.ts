// The WebGPU renderer: each graph node (compiler/graph) becomes the dispatches of its kernel
// templates. Most ops are one kernel; `attention`, `attention_bwd` and `allocate` are a few, with
// buffers of their own for what passes between them. The graph has decided everything else: which
// rates are active in the phase, which tensors the backward reads, where gradients live.
import type { Graph, GraphNode, Phase } from '../../graph/types.js';
import type { PlanBuilder } from './builder.js';
import { dropoutValues, maskValues, MICRO, STEP, streamValues } from './context.js';
import type { UniformValue } from './plan.js';
import type { ScoreKind } from '../../ir/scores.js';
import type { KernelInstance, KernelLimits } from './kernel.js';
import { instantiate } from './templates/index.js';
import type { PerturbOptions } from './templates/perturb.js';
import { allocationUniformValues } from './wgsl-alloc.js';

type Attrs = Record<string, any>;

interface RenderContext {
  b: PlanBuilder;
  graph: Graph;
  phase: Phase;
  /** The buffer a tensor lives in (the memory plan's, or its own). */
  buf: (tensor: string) => string;
  /** The most K/V groups of any allocating layer: the capacity of the allocation kernels. */
  maxGroups: number;
}

/** Declares the graph's buffers and emits every node of every phase. */
export function renderGraph(b: PlanBuilder, graph: Graph): void {
  const assigned = graph.memory.assignment;
  for (const t of graph.tensors) {
    if (assigned[t.name]) continue;
    b.buffer(t.name, { kind: t.kind, dtype: t.dtype, shape: t.shape, ...(t.init ? { init: t.init } : {}) });
  }
  for (const m of graph.memory.buffers) b.buffer(m.name, { kind: 'scratch', dtype: m.dtype, shape: [m.elements] });
  const maxGroups = Math.max(1, ...graph.allocationState.map((s) => s.groups));
  for (const phase of ['forward', 'backward', 'optimizer', 'eval'] as const) {
    const c: RenderContext = { b, graph, phase, buf: (t) => assigned[t] ?? t, maxGroups };
    for (const node of graph.phases[phase]) RENDER[node.op]!(c, node, node.attrs as Attrs);
  }
}

/** Dispatches one kernel whose bindings are the node's roles (renamed where `rename` says). */
function simple(c: RenderContext, node: GraphNode, inst: Parameters<PlanBuilder['dispatch']>[1], uniforms: Record<string, UniformValue> = {}, rename: Record<string, string> = {}): void {
  const bindings: Record<string, string> = {};
  for (const [role, t] of Object.entries({ ...node.inputs, ...node.outputs })) bindings[rename[role] ?? role] = c.buf(t);
  c.b.dispatch(c.phase, inst, node.label, bindings, uniforms);
}

function residualUniforms(a: Attrs): Record<string, UniformValue> {
  if (!(a.dropout > 0) && !(a.dropPath > 0)) return {};
  return { ...streamValues(a.layer), ...(a.dropout > 0 ? maskValues('drop', a.dropSite, a.dropout) : {}), ...(a.dropPath > 0 ? maskValues('path', a.pathSite, a.dropPath) : {}) };
}

const attentionShape = (a: Attrs) => ({ batch: a.batch, tokens: a.tokens, heads: a.heads, groups: a.groups, headDim: a.headDim, grouping: a.grouping });
const perturbOptions = (a: Attrs): PerturbOptions => ({ ...attentionShape(a), at: a.perturb.at, distribution: a.perturb.distribution, scale: a.perturb.scale, paper: a.perturb.paper });
const dropUniforms = (a: Attrs) => (a.dropout > 0 ? { ...streamValues(a.layer), ...dropoutValues(a.dropout) } : {});

/** The kernel of each statistic of the score registry (compiler/ir/scores.ts): template, options, uniforms. */
const KEY_STATS: Record<ScoreKind, (a: Attrs, limits: KernelLimits) => [KernelInstance, Record<string, UniformValue>]> = {
  key_norm: (a, limits) => [instantiate('key_norm', { ...keyShape(a), norm: a.score.norm }, limits), {}],
  key_variance: (a, limits) => [instantiate('key_variance', keyShape(a), limits), {}],
  attention_entropy: (a, limits) => [instantiate('key_entropy', keyShape(a), limits), {}],
  // key_grad: the optimizer phase's node reads the qkv weight's gradient as one image of `dim` rows.
  key_grad: (a, limits) => [instantiate('key_norm', { ...keyShape(a), norm: 'l2' }, limits), {}],
  random: (a, limits) => [instantiate('key_random', { batch: a.batch, groups: a.groups, mode: a.mode }, limits), streamValues(a.layer)],
};
const keyShape = (a: Attrs) => ({ batch: a.batch, tokens: a.tokens, heads: a.heads, groups: a.groups, headDim: a.headDim });

const RENDER: Record<string, (c: RenderContext, node: GraphNode, a: Attrs) => void> = {
  patchify: (c, n, a) => simple(c, n, instantiate('patchify', { batch: a.batch, height: a.height, width: a.width, channels: a.channels, patch: a.patch }, c.b.limits)),
  linear: (c, n, a) =>
    simple(c, n, instantiate('matmul', { M: a.rows, K: a.in, N: a.out, transA: false, transB: false, bias: a.bias, accumulate: false }, c.b.limits), {}, { x: 'a', weight: 'b', y: 'c' }),
  matmul: (c, n, a) => simple(c, n, instantiate('matmul', { M: a.M, K: a.K, N: a.N, transA: a.transA, transB: a.transB, bias: false, accumulate: a.accumulate }, c.b.limits)),
  embed: (c, n, a) => simple(c, n, instantiate('embed', { batch: a.batch, patches: a.patches, dim: a.dim, cls: a.cls }, c.b.limits)),
  embed_bwd: (c, n, a) => simple(c, n, instantiate('embed_bwd', { batch: a.batch, patches: a.patches, dim: a.dim, cls: a.cls }, c.b.limits)),
  layernorm: (c, n, a) => simple(c, n, instantiate('layernorm', { rows: a.rows, dim: a.dim, eps: a.eps }, c.b.limits)),
  layernorm_bwd: (c, n, a) => simple(c, n, instantiate('layernorm_bwd', { rows: a.rows, dim: a.dim, accumulate: a.accumulate }, c.b.limits)),
  layernorm_bwd_params: (c, n, a) => simple(c, n, instantiate('layernorm_bwd_params', { rows: a.rows, dim: a.dim }, c.b.limits)),
  gelu: (c, n, a) => simple(c, n, instantiate('gelu', { count: a.count, dropout: a.dropout > 0 }, c.b.limits), geluUniforms(a)),
  gelu_bwd: (c, n, a) => simple(c, n, instantiate('gelu_bwd', { count: a.count, dropout: a.dropout > 0 }, c.b.limits), geluUniforms(a)),
  residual: (c, n, a) => simple(c, n, instantiate('residual', residualOptions(a), c.b.limits), residualUniforms(a)),
  residual_bwd: (c, n, a) => simple(c, n, instantiate('residual_bwd', residualOptions(a), c.b.limits), residualUniforms(a)),
  pool: (c, n, a) => simple(c, n, instantiate('pool', { batch: a.batch, tokens: a.tokens, dim: a.dim, pool: a.pool }, c.b.limits)),
  pool_bwd: (c, n, a) => simple(c, n, instantiate('pool_bwd', { batch: a.batch, tokens: a.tokens, dim: a.dim, pool: a.pool }, c.b.limits)),
  bias_grad: (c, n, a) => simple(c, n, instantiate('bias_grad', { rows: a.rows, cols: a.cols }, c.b.limits)),
  cross_entropy: (c, n, a) =>
    simple(c, n, instantiate('cross_entropy', { batch: a.batch, classes: a.classes, smoothing: a.smoothing, gradScale: a.gradScale }, c.b.limits), a.gradScale !== null ? { micro: MICRO } : {}),
  key_stat: (c, n, a) => {
    const [inst, uniforms] = KEY_STATS[a.score.kind as ScoreKind](a, c.b.limits);
    // The kernel binds what it reads: the keys (qkv), unless the statistic is drawn.
    const bindings = Object.fromEntries(inst.kernel.bindings.map((b) => [b.name, c.buf(b.name === 'norms' ? n.outputs.stats! : n.inputs[b.name]!)]));
    c.b.dispatch(c.phase, inst, n.label, bindings, uniforms);
  },
  noise: (c, n, a) => {
    const o: PerturbOptions = { batch: a.batch, tokens: a.tokens, heads: a.heads, groups: a.groups, headDim: a.headDim, at: a.at, distribution: a.distribution, scale: a.scale, paper: a.paper };
    simple(c, n, instantiate('noise', o, c.b.limits), streamValues(a.layer));
  },
  grad_sumsq: (c, n, a) => simple(c, n, instantiate('grad_sumsq', {}, c.b.limits), { count: a.count, index: a.index }),
  grad_norm: (c, n, a) => simple(c, n, instantiate('grad_norm', { params: a.params, clip: a.clip }, c.b.limits)),
  adamw: (c, n, a) =>
    simple(c, n, instantiate('adamw', { count: a.count }, c.b.limits), {
      count: a.count, beta1: a.beta1, one_minus_beta1: 1 - a.beta1, beta2: a.beta2, one_minus_beta2: 1 - a.beta2, eps: a.eps,
      step_size: { runtime: 'adamStepSize' }, bias2_sqrt: { runtime: 'adamBias2Sqrt' }, decay: a.decay ? { runtime: 'decayFactor' } : 1,
    }),
  sgd: (c, n, a) =>
    simple(c, n, instantiate('sgd', { count: a.count, momentum: a.momentum > 0 }, c.b.limits), {
      count: a.count, lr: { runtime: 'lr' }, weight_decay: a.weightDecay, ...(a.momentum > 0 ? { momentum: a.momentum } : {}),
    }),
  attention: renderAttention,
  attention_bwd: renderAttentionBackward,
  allocate: renderAllocate,
};

const residualOptions = (a: Attrs) => ({ rows: a.rows, dim: a.dim, tokens: a.tokens, dropout: a.dropout > 0, dropPath: a.dropPath > 0 });
const geluUniforms = (a: Attrs) => (a.dropout > 0 ? { ...streamValues(a.layer), ...maskValues('drop', a.site, a.dropout) } : {});

/** Binds the head -> group table where the grouping has one. */
const withTable = (c: RenderContext, n: GraphNode, bind: Record<string, string>) => (n.inputs.table ? { ...bind, table: c.buf(n.inputs.table) } : bind);

/** scores (-> perturb at the scores) -> softmax in place -> probabilities x V (-> perturb at the output). */
function renderAttention(c: RenderContext, n: GraphNode, a: Attrs): void {
  const { b, phase } = c;
  const shape = attentionShape(a);
  const { qkv, z } = n.inputs;
  const { p, s, o, out } = n.outputs as Record<string, string>;
  const rows = a.batch * a.heads * a.tokens;
  b.dispatch(phase, instantiate('attn_scores', { ...shape, dropout: false }, b.limits), `${n.label}.scores`, withTable(c, n, { qkv: c.buf(qkv!), s: c.buf(s ?? p!) }));
  if (a.perturb?.at === 'scores') b.dispatch(phase, instantiate('perturb', perturbOptions(a), b.limits), `${n.label}.perturb (scores)`, { x: c.buf(s!), z: c.buf(z!), out: c.buf(p!) });
  b.dispatch(phase, instantiate('softmax', { rows, cols: a.tokens }, b.limits), `${n.label}.softmax`, { x: c.buf(p!) });
  const av = a.perturb?.at === 'output' ? o! : out!;
  b.dispatch(phase, instantiate('attn_av', { ...shape, dropout: a.dropout > 0 }, b.limits), `${n.label}.av`, withTable(c, n, { p: c.buf(p!), qkv: c.buf(qkv!), out: c.buf(av) }), dropUniforms(a));
  if (a.perturb?.at === 'output') b.dispatch(phase, instantiate('perturb', perturbOptions(a), b.limits), `${n.label}.perturb (output)`, { x: c.buf(o!), z: c.buf(z!), out: c.buf(out!) });
}

function renderAttentionBackward(c: RenderContext, n: GraphNode, a: Attrs): void {
  const { b, phase } = c;
  const shape = attentionShape(a);
  const { dout, qkv, p, z, s, o } = n.inputs as Record<string, string>;
  const dqkv = c.buf(n.outputs.dqkv!);
  const scoresShape = [a.batch, a.heads, a.tokens, a.tokens];
  const scratch = (name: string, dims: number[]) => b.buffer(`scratch:attn.${name}[${dims.join('x')}]`, { kind: 'scratch', shape: dims });
  let dO = c.buf(dout!);
  if (a.perturb?.at === 'output') {
    const pre = scratch('dout_pre', [a.batch * a.tokens, a.heads * a.headDim]);
    b.dispatch(phase, instantiate('perturb_bwd', perturbOptions(a), b.limits), `${n.label}.perturb backward (output)`, { x: c.buf(o!), z: c.buf(z!), dy: dO, dx: pre });
    dO = pre;
  }
  const dp = scratch('dp', scoresShape);
  b.dispatch(phase, instantiate('attn_dp', { ...shape, dropout: a.dropout > 0 }, b.limits), `${n.label}.dp`, withTable(c, n, { dout: dO, qkv: c.buf(qkv!), dp }), dropUniforms(a));
  b.dispatch(phase, instantiate('softmax_bwd', { rows: a.batch * a.heads * a.tokens, cols: a.tokens }, b.limits), `${n.label}.softmax backward`, { p: c.buf(p!), d: dp });
  let ds = dp;
  if (a.perturb?.at === 'scores') {
    ds = scratch('ds', scoresShape);
    b.dispatch(phase, instantiate('perturb_bwd', perturbOptions(a), b.limits), `${n.label}.perturb backward (scores)`, { x: c.buf(s!), z: c.buf(z!), dy: dp, dx: ds });
  }
  b.dispatch(phase, instantiate('attn_dq', { ...shape, dropout: false }, b.limits), `${n.label}.dq`, withTable(c, n, { ds, qkv: c.buf(qkv!), dqkv }));
  b.dispatch(phase, instantiate('attn_dk', { ...shape, dropout: false }, b.limits), `${n.label}.dk`, withTable(c, n, { ds, qkv: c.buf(qkv!), dqkv }));
  b.dispatch(phase, instantiate('attn_dv', { ...shape, dropout: a.dropout > 0 }, b.limits), `${n.label}.dv`, withTable(c, n, { p: c.buf(p!), dout: dO, qkv: c.buf(qkv!), dqkv }), dropUniforms(a));
}

/**
 * The allocation on the device (docs/webgpu.md): eval 'frozen' reads the stored counts; otherwise the
 * statistics are summed over the batch, then a tracked layer runs the tracker (which allocates when
 * due), an untracked one allocates per batch or per image and, in training, stores the batch's
 * score (and counts, where a later pass or eval 'frozen' reads them).
 */
function renderAllocate(c: RenderContext, n: GraphNode, a: Attrs): void {
  const { b, phase } = c;
  const al = a.policy;
  const state = c.buf(n.outputs.state!);
  const table = c.buf(n.outputs.table!);
  if (a.frozen) {
    b.dispatch(phase, instantiate('table_from_counts', { heads: a.heads, groups: a.groups }, b.limits), `${n.label} (frozen)`, { state, table });
    return;
  }
  const stats = c.buf(n.inputs.stats!);
  const sums = b.buffer(`scratch:${n.label}.stat_sums`, { kind: 'scratch', shape: [a.groups] });
  b.dispatch(phase, instantiate('key_norm_sum', { batch: a.batch, groups: a.groups }, b.limits), `${n.label}.stat_sums`, { norms: stats, sums });
  const alloc = allocationUniformValues({ groups: a.groups, heads: a.heads, scale: al.scale, rounding: al.rounding, minPerGroup: al.min });
  if (al.track) {
    const inst = instantiate('tracker', { maxGroups: c.maxGroups, track: al.track, window: al.window ?? 1, init: al.init, mode: a.mode }, b.limits);
    b.dispatch(phase, inst, `${n.label}.tracker`, { sums, state, table }, { step: STEP, epoch_step: { runtime: 'epochStep' }, ...alloc });
    return;
  }
  const perSample = a.grouping === 'table-per-sample';
  const rows = perSample ? a.batch : 1;
  const counts = b.buffer(`scratch:${n.label}.counts${perSample ? '' : '.batch'}`, { kind: 'scratch', dtype: 'u32', shape: [rows, a.groups] });
  b.dispatch(phase, instantiate('allocate', { rows, table: true, maxGroups: c.maxGroups }, b.limits), n.label, { scores: perSample ? stats : sums, out_counts: counts, table }, { rows, ...alloc });
  if (a.mode === 'eval') return;
  let batchCounts: string | null = perSample ? null : counts;
  if (perSample && al.eval === 'frozen') {
    batchCounts = b.buffer(`scratch:${n.label}.counts.batch`, { kind: 'scratch', dtype: 'u32', shape: [1, a.groups] });
    b.dispatch(phase, instantiate('allocate', { rows: 1, table: false, maxGroups: c.maxGroups }, b.limits), `${n.label} (batch, for eval frozen)`, { scores: sums, out_counts: batchCounts }, { rows: 1, ...alloc });
  }
  const bindings: Record<string, string> = { sums, state };
  if (batchCounts) bindings.counts = batchCounts;
  b.dispatch(phase, instantiate('alloc_state', { groups: a.groups, counts: batchCounts !== null }, b.limits), `${n.label}.state`, bindings);
}
