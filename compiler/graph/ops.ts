// The op catalogue: every op a graph may hold, the roles it reads, writes and updates in place, and,
// for forward ops, the one vector-Jacobian rule from which compiler/graph/differentiate.ts builds the
// backward. A backend supports the graph by implementing each op of this table (docs/graph.md);
// nothing else describes the model.
import { SCORES, type ScoreIR } from '../ir/scores.js';
import type { GraphNode } from './types.js';

/** A multiply-add (MAC) counts as 2 FLOPs, so matmul FLOPs are twice the MACs fvcore and timm report. */
export const FLOPS_PER_MULTIPLY_ADD = 2;
/** LayerNorm: mean (1), centre (1), variance (multiply-add, 2), scale by 1/std (1), affine (2). */
export const LAYERNORM_FLOPS_PER_ELEMENT = 7;
/** Softmax: max (1), subtract (1), exp (1), sum (1), divide (1). */
export const SOFTMAX_FLOPS_PER_ELEMENT = 5;
/** Exact GELU x/2 * (1 + erf(x/sqrt 2)): divide, erf, add, multiply, halve; erf counts as 1. */
export const GELU_FLOPS_PER_ELEMENT = 5;
/**
 * PGQA noise per perturbed element: row mean (1) and variance (2) of the noise and of the target,
 * standardise and rescale the noise (3), multiply by scale (1), subtract (1). Drawing is not counted.
 */
export const PERTURB_FLOPS_PER_ELEMENT = 11;
/**
 * LayerNorm's input gradient rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma: xhat
 * (2), g (1), the two row sums (1 + 2), then subtract, multiply, subtract, scale (4).
 */
export const LAYERNORM_BWD_FLOPS_PER_ELEMENT = 10;
/** LayerNorm's parameter gradients: xhat (2), dy * xhat (1), and the column sums into dgamma and dbeta (2). */
export const LAYERNORM_BWD_PARAMS_FLOPS_PER_ELEMENT = 5;
/** GELU's gradient dy * (cdf(x) + x pdf(x)): cdf as the forward's erf (4), pdf (4), x pdf, add, times dy (3). */
export const GELU_BWD_FLOPS_PER_ELEMENT = 11;
/** Softmax's backward dS = P * (dP - rowsum(dP * P)): multiply, sum, subtract, multiply. */
export const SOFTMAX_BWD_FLOPS_PER_ELEMENT = 4;
/**
 * AdamW per element: clip (1), m (3), v (4), denominator sqrt / bias correction / + eps (3), m / denom
 * and the step size (2), subtract (1); the decoupled decay adds 1. Zeroing the gradient is not counted.
 */
export const ADAMW_FLOPS_PER_ELEMENT = 14;

/**
 * What a node computes, from its attrs (docs/analyses.md states the conventions): `total` FLOPs, of
 * which `macs` multiply-adds in matmuls, and for the attention its named parts (they sum to total).
 */
export interface OpFlops {
  total: number;
  macs: number;
  parts?: Record<string, number>;
}

export interface OpSpec {
  /** Roles read; a trailing '?' marks a role that some nodes leave out. */
  reads: readonly string[];
  /** Roles written whole. */
  writes: readonly string[];
  /** Roles read and written in place (accumulated gradients, optimizer slots, allocation state). */
  updates?: readonly string[];
  /** One line for docs/graph.md and the printer. */
  doc: string;
  /** The vector-Jacobian rule of a forward op (absent: no gradient flows through it). */
  vjp?: (node: GraphNode, d: VjpContext) => void;
  /**
   * The FLOPs of an op from its attrs. Absent on the forward ops that do no counted arithmetic
   * (patchify and allocate move or count, noise only draws, the loss is not part of inference).
   * Backward and optimizer ops declare theirs too (docs/analyses.md, training FLOPs); dropout and
   * drop-path masks are not counted in either direction.
   */
  flops?: (attrs: Record<string, any>) => OpFlops;
}

/**
 * What a vector-Jacobian rule may ask while the backward is built (differentiate.ts implements it).
 * `grad(t)` is the gradient of forward tensor t, or null when no parameter depends on t through the
 * op being differentiated; `into(t)` is where a contribution to t's gradient goes and whether it adds
 * to what is there (parameters' gradients always add: they accumulate over the passes of a step).
 */
export interface VjpContext {
  grad(tensor: string): string | null;
  needs(tensor: string): boolean;
  into(tensor: string): { tensor: string; accumulate: boolean };
  /** The gradient of `tensor` is exactly that of `same` (an identity branch); no node is emitted. */
  alias(tensor: string, same: string): void;
  emit(node: GraphNode): void;
}

const at = (node: GraphNode) => node.attrs as Record<string, any>;

/** Writes a contribution with an op that cannot add into its output: refuses to overwrite one. */
function fresh(d: VjpContext, tensor: string, op: string): string {
  const into = d.into(tensor);
  if (into.accumulate) throw new Error(`graph: ${op} cannot add to the gradient of ${tensor}; it already has one`);
  return into.tensor;
}

export const OPS: Record<string, OpSpec> = {
  // Forward ---------------------------------------------------------------------------------------
  patchify: {
    reads: ['images'], writes: ['patches'],
    doc: 'NHWC images [B, H, W, C] -> patch rows [B * P, C * p * p] (row-major patches, channels innermost, as timm\'s conv)',
  },
  linear: {
    flops: (a) => linearFlops(a.rows, a.in, a.out, a.bias),
    reads: ['x', 'weight', 'bias?'], writes: ['y'],
    doc: 'y = x W (+ b): x [rows, in], W [in, out] (the checkpoint\'s weight transposed)',
    vjp(node, d) {
      const a = at(node);
      const dy = d.grad(node.outputs.y!)!;
      const { x, weight, bias } = node.inputs as Record<string, string>;
      const dw = d.into(weight!);
      d.emit({ op: 'matmul', label: `${node.label}.weight grad`, inputs: { a: x!, b: dy }, outputs: { c: dw.tensor }, attrs: { M: a.in, K: a.rows, N: a.out, transA: true, transB: false, accumulate: dw.accumulate } });
      if (bias) d.emit({ op: 'bias_grad', label: `${node.label}.bias grad`, inputs: { dy }, outputs: { db: d.into(bias).tensor }, attrs: { rows: a.rows, cols: a.out } });
      if (d.needs(x!)) {
        const dx = d.into(x!);
        d.emit({ op: 'matmul', label: `${node.label} input grad`, inputs: { a: dy, b: weight! }, outputs: { c: dx.tensor }, attrs: { M: a.rows, K: a.out, N: a.in, transA: false, transB: true, accumulate: dx.accumulate } });
      }
    },
  },
  embed: {
    // The position embeddings are added to every token; the class token is a copy.
    flops: (a) => ({ total: a.batch * (a.patches + (a.cls ? 1 : 0)) * a.dim, macs: 0 }),
    reads: ['patches', 'cls?', 'pos'], writes: ['h'],
    doc: 'tokens = [cls token;] patch embeddings, + position embeddings, as [B * T, D] rows',
    vjp(node, d) {
      const { patches, cls, pos } = node.inputs as Record<string, string>;
      const outputs: Record<string, string> = { dpatches: fresh(d, patches!, 'embed_bwd'), dpos: d.into(pos!).tensor };
      if (cls) outputs.dcls = d.into(cls).tensor;
      d.emit({ op: 'embed_bwd', label: `${node.label} backward`, inputs: { dh: d.grad(node.outputs.h!)! }, outputs, attrs: { ...at(node) } });
    },
  },
  layernorm: {
    flops: (a) => ({ total: LAYERNORM_FLOPS_PER_ELEMENT * a.rows * a.dim, macs: 0 }),
    reads: ['x', 'gamma', 'beta'], writes: ['y', 'stats'],
    doc: 'y = (x - mean) / sqrt(var + eps) * gamma + beta per row; stats [rows, 2] = (mean, 1 / sqrt(var + eps)) for the backward',
    vjp(node, d) {
      const a = at(node);
      const { x, gamma, beta } = node.inputs as Record<string, string>;
      const { stats } = node.outputs as Record<string, string>;
      const dy = d.grad(node.outputs.y!)!;
      if (d.needs(x!)) {
        const dx = d.into(x!);
        d.emit({ op: 'layernorm_bwd', label: `${node.label} backward`, inputs: { x: x!, gamma: gamma!, stats: stats!, dy }, outputs: { dx: dx.tensor }, attrs: { rows: a.rows, dim: a.dim, accumulate: dx.accumulate } });
      }
      d.emit({ op: 'layernorm_bwd_params', label: `${node.label} parameter grads`, inputs: { x: x!, stats: stats!, dy }, outputs: { dgamma: d.into(gamma!).tensor, dbeta: d.into(beta!).tensor }, attrs: { rows: a.rows, dim: a.dim } });
    },
  },
  gelu: {
    flops: (a) => ({ total: GELU_FLOPS_PER_ELEMENT * a.count, macs: 0 }),
    reads: ['x'], writes: ['y'],
    doc: 'y = dropout(gelu(x)) with the exact erf GELU; the mask is drawn from the (layer, site) stream',
    vjp(node, d) {
      const x = node.inputs.x!;
      if (!d.needs(x)) return;
      d.emit({ op: 'gelu_bwd', label: `${node.label} backward`, inputs: { x, dy: d.grad(node.outputs.y!)! }, outputs: { dx: fresh(d, x, 'gelu_bwd') }, attrs: { ...at(node) } });
    },
  },
  key_stat: {
    flops: (a) => ({ total: SCORES[(a.score as ScoreIR).kind].flopsPerKey(a.tokens) * a.batch * a.groups * a.tokens * a.headDim, macs: 0 }),
    reads: ['qkv'], writes: ['stats'],
    doc: 'an importance statistic [B, G] per image and K/V group, from the keys (the score registry, compiler/ir/scores.ts); key_grad: [1, G] of the qkv weight gradient in the optimizer phase',
  },
  allocate: {
    reads: ['stats?'], writes: ['table'], updates: ['state'],
    doc: 'query heads per K/V group from the statistics (compiler/alloc.ts rules), tracked and timed as the policy says; table: head -> group',
  },
  noise: {
    reads: [], writes: ['z'],
    doc: 'PGQA noise, standardised per row, from the (layer, step, micro-batch) stream',
  },
  attention: {
    flops: attentionFlops,
    reads: ['qkv', 'table?', 'z?'], writes: ['out', 'p', 's?', 'o?'],
    doc: 'grouped attention: query head h reads K/V group table[h] (h / (H / G) without a table); PGQA subtracts scaled noise at the scores or the output; dropout on the probabilities. Saves p (and s or o when perturbed) for the backward',
    vjp(node, d) {
      const qkv = node.inputs.qkv!;
      const inputs: Record<string, string> = { dout: d.grad(node.outputs.out!)!, qkv, p: node.outputs.p! };
      for (const r of ['table', 'z'] as const) if (node.inputs[r]) inputs[r] = node.inputs[r]!;
      for (const r of ['s', 'o'] as const) if (node.outputs[r]) inputs[r] = node.outputs[r]!;
      d.emit({ op: 'attention_bwd', label: `${node.label} backward`, inputs, outputs: { dqkv: fresh(d, qkv, 'attention_bwd') }, attrs: { ...at(node) } });
    },
  },
  residual: {
    flops: (a) => ({ total: a.rows * a.dim, macs: 0 }),
    reads: ['h', 'y'], writes: ['out'],
    doc: 'out = h + dropPath(dropout(y)): the end of a residual branch',
    vjp(node, d) {
      const { h, y } = node.inputs as Record<string, string>;
      const dout = d.grad(node.outputs.out!)!;
      d.alias(h!, dout);
      d.emit({ op: 'residual_bwd', label: `${node.label} branch backward`, inputs: { dout }, outputs: { dy: fresh(d, y!, 'residual_bwd') }, attrs: { ...at(node) } });
    },
  },
  pool: {
    flops: (a) => ({ total: a.pool === 'mean' ? a.batch * a.tokens * a.dim : 0, macs: 0 }),
    reads: ['x'], writes: ['pooled'],
    doc: 'the class token\'s row, or the mean of the tokens: [B * T, D] -> [B, D]',
    vjp(node, d) {
      const x = node.inputs.x!;
      d.emit({ op: 'pool_bwd', label: `${node.label} backward`, inputs: { dpooled: d.grad(node.outputs.pooled!)! }, outputs: { dx: fresh(d, x, 'pool_bwd') }, attrs: { ...at(node) } });
    },
  },
  cross_entropy: {
    reads: ['logits', 'labels'], writes: ['stats', 'dlogits?'],
    doc: 'label-smoothed cross-entropy; in training also its gradient at the logits, scaled by 1 / the images of a step (the seed of the backward)',
  },
  // Backward --------------------------------------------------------------------------------------
  // c += A B is one GEMM whatever `accumulate` says (its multiply-adds start from c instead of 0).
  matmul: { flops: (a) => matmulFlops(a.M * a.K * a.N), reads: ['a', 'b'], writes: ['c'], doc: 'c (+)= op(a) op(b), op transposing where the attrs say' },
  bias_grad: { flops: (a) => adds(a.rows * a.cols), reads: ['dy'], writes: [], updates: ['db'], doc: 'db += column sums of dy' },
  // The position embeddings' gradient sums every image's token rows; the class token's its first rows.
  embed_bwd: { flops: (a) => adds(a.batch * (a.patches + (a.cls ? 2 : 0)) * a.dim), reads: ['dh'], writes: ['dpatches'], updates: ['dpos', 'dcls?'], doc: 'gradients of the patch embeddings, position embeddings and class token' },
  layernorm_bwd: { flops: (a) => adds(LAYERNORM_BWD_FLOPS_PER_ELEMENT * a.rows * a.dim), reads: ['x', 'gamma', 'stats', 'dy'], writes: ['dx'], doc: 'dx (+)= the layer norm\'s input gradient' },
  layernorm_bwd_params: { flops: (a) => adds(LAYERNORM_BWD_PARAMS_FLOPS_PER_ELEMENT * a.rows * a.dim), reads: ['x', 'stats', 'dy'], writes: [], updates: ['dgamma', 'dbeta'], doc: 'dgamma, dbeta += the layer norm\'s parameter gradients' },
  gelu_bwd: { flops: (a) => adds(GELU_BWD_FLOPS_PER_ELEMENT * a.count), reads: ['x', 'dy'], writes: ['dx'], doc: 'dx = gelu\'(x) * dy, through the same dropout mask' },
  attention_bwd: { flops: attentionBwdFlops, reads: ['dout', 'qkv', 'table?', 'p', 'z?', 's?', 'o?'], writes: ['dqkv'], doc: 'the gradient of the fused q, k, v columns (none flows through the allocation: counts are discrete)' },
  // The skip path's gradient is the output's (an alias); the branch's is a copy through the masks.
  residual_bwd: { flops: () => adds(0), reads: ['dout'], writes: ['dy'], doc: 'dy = dout through the same dropout and drop-path masks' },
  pool_bwd: { flops: (a) => adds(a.pool === 'mean' ? a.batch * a.tokens * a.dim : 0), reads: ['dpooled'], writes: ['dx'], doc: 'the pooled rows\' gradient spread back over the tokens' },
  // Optimizer -------------------------------------------------------------------------------------
  grad_sumsq: { flops: (a) => adds(2 * a.count), reads: ['grad'], writes: [], updates: ['partial'], doc: 'partial[index] = sum of squares of one gradient' },
  // The partial sums' total, its square root, and the clip coefficient min(clip / (norm + 1e-6), 1).
  grad_norm: { flops: (a) => adds(a.params + 1 + (a.clip === null || a.clip === undefined ? 0 : 3)), reads: ['partial'], writes: [], updates: ['stats'], doc: 'the global gradient norm and the clip coefficient into the step statistics' },
  adamw: { flops: (a) => adds((ADAMW_FLOPS_PER_ELEMENT + (a.decay ? 1 : 0)) * a.count), reads: ['stats'], writes: [], updates: ['p', 'grad', 'm', 'v'], doc: 'AdamW with decoupled decay; zeroes the gradient; skips a step whose gradient norm is not finite' },
  // Clip (1), L2 decay (2), momentum (2), the step p - lr d (2).
  sgd: { flops: (a) => adds((3 + (a.weightDecay ? 2 : 0) + (a.momentum > 0 ? 2 : 0)) * a.count), reads: ['stats'], writes: [], updates: ['p', 'grad', 'buf?'], doc: 'SGD with optional momentum and weight decay; zeroes the gradient' },
};

/** FLOPs with no multiply-adds in them. */
const adds = (total: number): OpFlops => ({ total, macs: 0 });
const matmulFlops = (macs: number): OpFlops => ({ total: FLOPS_PER_MULTIPLY_ADD * macs, macs });

/** A linear layer over `rows` rows: its multiply-adds, plus the bias addition. */
export function linearFlops(rows: number, inFeatures: number, outFeatures: number, bias: boolean): OpFlops {
  const macs = rows * inFeatures * outFeatures;
  return { total: FLOPS_PER_MULTIPLY_ADD * macs + (bias ? rows * outFeatures : 0), macs };
}

/**
 * Grouped attention: every query head still scores against all T keys and mixes all T values, so
 * QK^T and attention @ V depend on the heads, not the K/V groups. Softmax counts with scaling q by
 * 1 / sqrt(headDim) (timm scales q, not the scores); PGQA noise where the node perturbs.
 */
function attentionFlops(a: Record<string, any>): OpFlops {
  const { batch: B, heads: H, tokens: T, headDim: hd } = a;
  const matmul = B * H * T * T * hd;
  const perturb = a.perturb ? PERTURB_FLOPS_PER_ELEMENT * B * H * (a.perturb.at === 'output' ? T * hd : T * T) : 0;
  const parts = {
    scores: FLOPS_PER_MULTIPLY_ADD * matmul,
    softmax: SOFTMAX_FLOPS_PER_ELEMENT * B * H * T * T + B * H * T * hd,
    attnV: FLOPS_PER_MULTIPLY_ADD * matmul,
    perturb,
  };
  return { total: parts.scores + parts.softmax + parts.attnV + perturb, macs: 2 * matmul, parts };
}

/**
 * Grouped attention's backward: dP = dO V^T and dV = P^T dO (the attnV part), dQ = dS K and
 * dK = dS^T Q (the scores part), four matmuls the size of the forward's two; the softmax's backward
 * and dq's 1 / sqrt(headDim); summing the query heads' dK and dV rows into their K/V groups; PGQA's
 * noise again where the node perturbs (its standardisation depends on the target).
 */
function attentionBwdFlops(a: Record<string, any>): OpFlops {
  const { batch: B, heads: H, groups: G, tokens: T, headDim: hd } = a;
  const matmul = B * H * T * T * hd;
  const parts = {
    scores: 2 * FLOPS_PER_MULTIPLY_ADD * matmul,
    softmax: SOFTMAX_BWD_FLOPS_PER_ELEMENT * B * H * T * T + B * H * T * hd,
    attnV: 2 * FLOPS_PER_MULTIPLY_ADD * matmul,
    groups: 2 * B * (H - G) * T * hd,
    perturb: attentionFlops(a).parts!.perturb!,
  };
  return { total: parts.scores + parts.softmax + parts.attnV + parts.groups + parts.perturb, macs: 4 * matmul, parts };
}

export interface Role {
  name: string;
  optional: boolean;
  access: 'read' | 'write' | 'update';
}

const roleTables = new Map<string, readonly Role[]>();

/** Every role of an op with whether it is optional, for checks (computed once per op: every node is checked). */
export function rolesOf(op: string): readonly Role[] {
  let roles = roleTables.get(op);
  if (roles) return roles;
  const spec = OPS[op];
  if (!spec) throw new Error(`graph: unknown op '${op}'`);
  const list = (names: readonly string[] | undefined, access: Role['access']) =>
    (names ?? []).map((r) => ({ name: r.replace(/\?$/, ''), optional: r.endsWith('?'), access }));
  roles = [...list(spec.reads, 'read'), ...list(spec.writes, 'write'), ...list(spec.updates, 'update')];
  roleTables.set(op, roles);
  return roles;
}
