// The forward pass of a ViT as plan dispatches (runtime/tfjs/vit.ts, block for block), in training
// mode (phase 'forward': dropout, PGQA 'train', allocation updates, then the loss and its gradient)
// or eval mode (phase 'eval'). Activations the backward reads are kind 'activation'.
import type { LayerIR } from '../../ir/types.js';
import { activation, BRANCH_SITES, dropoutValues, maskValues, MICRO, param, phaseOf, SITE, streamValues, type ForwardContext } from './context.js';
import type { UniformValue } from './plan.js';
import { emitAllocation, grouping } from './forward-attention.js';
import { instantiate } from './templates/index.js';
import { perturbRows, type PerturbOptions } from './templates/perturb.js';

/** x [rows, in] @ param `${prefix}.weight` [in, out] (+ bias) -> a new activation `out`. */
export function linear(c: ForwardContext, x: string, prefix: string, rows: number, inDim: number, outDim: number, out: string, bias: boolean): string {
  const y = activation(c, out, [rows, outDim]);
  const inst = instantiate('matmul', { M: rows, K: inDim, N: outDim, transA: false, transB: false, bias, accumulate: false }, c.b.limits);
  const bindings: Record<string, string> = { a: x, b: param(`${prefix}.weight`), c: y };
  if (bias) bindings.bias = param(`${prefix}.bias`);
  c.b.dispatch(phaseOf(c), inst, `${prefix} (${out})`, bindings);
  return y;
}

export function layerNorm(c: ForwardContext, x: string, prefix: string, rows: number, out: string): string {
  const y = activation(c, out, [rows, c.m.dim]);
  const stats = activation(c, `${out}.stats`, [rows, 2]);
  const inst = instantiate('layernorm', { rows, dim: c.m.dim, eps: c.m.norm.eps }, c.b.limits);
  c.b.dispatch(phaseOf(c), inst, prefix, { x, gamma: param(`${prefix}.weight`), beta: param(`${prefix}.bias`), y, stats });
  return y;
}

/** Emits the whole forward; returns the logits buffer. */
export function emitForward(c: ForwardContext): string {
  const { m, batch: B } = c;
  const phase = phaseOf(c);
  const P = m.patches;
  const rowLen = m.image.channels * m.patch * m.patch;
  const images = c.b.buffer('input:images', { kind: 'input', shape: [B, m.image.height, m.image.width, m.image.channels] });
  const patches = activation(c, 'patches', [B * P, rowLen]);
  c.b.dispatch(phase, instantiate('patchify', { batch: B, height: m.image.height, width: m.image.width, channels: m.image.channels, patch: m.patch }, c.b.limits), 'patchify', { images, patches });
  const embedded = linear(c, patches, 'patch_embed.proj', B * P, rowLen, m.dim, 'patch_embed', true);
  let h = activation(c, 'blocks.0.in', [B * m.tokens, m.dim]);
  const cls = m.pool === 'cls';
  const embedBindings: Record<string, string> = { patches: embedded, pos: param('pos_embed'), h };
  if (cls) embedBindings.cls = param('cls_token');
  c.b.dispatch(phase, instantiate('embed', { batch: B, patches: P, dim: m.dim, cls }, c.b.limits), 'cls_token + pos_embed', embedBindings);
  m.layers.forEach((layer, i) => (h = emitBlock(c, layer, i, h)));
  const rows = B * m.tokens;
  const normed = layerNorm(c, h, 'norm', rows, 'norm');
  const pooled = activation(c, 'pooled', [B, m.dim]);
  c.b.dispatch(phase, instantiate('pool', { batch: B, tokens: m.tokens, dim: m.dim, pool: m.pool }, c.b.limits), `pool (${m.pool})`, { x: normed, pooled });
  const logits = c.b.buffer('output:logits', { kind: 'output', shape: [B, m.classes] });
  const inst = instantiate('matmul', { M: B, K: m.dim, N: m.classes, transA: false, transB: false, bias: true, accumulate: false }, c.b.limits);
  c.b.dispatch(phase, inst, 'head', { a: pooled, b: param('head.weight'), bias: param('head.bias'), c: logits });
  emitLoss(c, logits);
  return logits;
}

function emitLoss(c: ForwardContext, logits: string): void {
  const labels = c.b.buffer('input:labels', { kind: 'input', shape: [c.batch], dtype: 'u32' });
  const train = c.loss.gradScale !== null;
  const inst = instantiate('cross_entropy', { batch: c.batch, classes: c.m.classes, smoothing: c.loss.smoothing, gradScale: c.loss.gradScale }, c.b.limits);
  const stats = train ? c.b.buffer('output:training.stats', { kind: 'output', shape: [4] }) : c.b.buffer('output:eval.stats', { kind: 'output', shape: [2] });
  const bindings: Record<string, string> = { logits, labels, stats };
  if (train) bindings.dlogits = activation(c, 'dlogits', [c.batch, c.m.classes]);
  c.b.dispatch(phaseOf(c), inst, train ? 'cross-entropy and its gradient' : 'cross-entropy (eval)', bindings, train ? { micro: MICRO } : {});
}

/** The options of the PGQA kernels of a layer, or null when it does not perturb in this mode. */
export function perturbOf(c: ForwardContext, layer: LayerIR): PerturbOptions | null {
  const a = layer.attention;
  const p = a.perturb;
  if (!p || p.scale === 0 || (c.mode === 'eval' && p.during !== 'always')) return null;
  return {
    batch: c.batch, tokens: c.m.tokens, heads: a.heads, groups: a.kvHeads, headDim: a.headDim,
    at: p.at, distribution: p.distribution, scale: p.scale, paper: a.compat === 'paper' && p.at === 'output',
  };
}

function emitBlock(c: ForwardContext, layer: LayerIR, i: number, h: string): string {
  const { m, batch: B } = c;
  const a = layer.attention;
  const phase = phaseOf(c);
  const L = layer.index;
  const pre = `blocks.${L}`;
  const rows = B * m.tokens;
  const T = m.tokens;
  const W = (a.heads + 2 * a.kvHeads) * a.headDim;
  const inner = a.heads * a.headDim;
  const train = c.mode === 'train';

  const n1 = layerNorm(c, h, `${pre}.norm1`, rows, `${pre}.norm1`);
  const qkv = linear(c, n1, `${pre}.attn.qkv`, rows, m.dim, W, `${pre}.attn.qkv`, m.qkvBias);
  const table = emitAllocation(c, layer, qkv);
  const shape = { batch: B, tokens: T, heads: a.heads, groups: a.kvHeads, headDim: a.headDim, grouping: grouping(c, layer) };
  const pert = perturbOf(c, layer);
  const probs = activation(c, `${pre}.attn.p`, [B, a.heads, T, T]);
  const withTable = (bind: Record<string, string>) => (table ? { ...bind, table } : bind);
  let noise: string | null = null;
  if (pert) {
    const { noiseRows, n } = perturbRows(pert);
    noise = activation(c, `${pre}.attn.noise`, [noiseRows, n]);
    c.b.dispatch(phase, instantiate('noise', pert, c.b.limits), `${pre}.attn.noise`, { z: noise }, streamValues(L));
  }
  if (pert?.at === 'scores') {
    const scores = activation(c, `${pre}.attn.s`, [B, a.heads, T, T]);
    c.b.dispatch(phase, instantiate('attn_scores', { ...shape, dropout: false }, c.b.limits), `${pre}.attn.scores`, withTable({ qkv, s: scores }));
    c.b.dispatch(phase, instantiate('perturb', pert, c.b.limits), `${pre}.attn.perturb (scores)`, { x: scores, z: noise!, out: probs });
  } else {
    c.b.dispatch(phase, instantiate('attn_scores', { ...shape, dropout: false }, c.b.limits), `${pre}.attn.scores`, withTable({ qkv, s: probs }));
  }
  c.b.dispatch(phase, instantiate('softmax', { rows: B * a.heads * T, cols: T }, c.b.limits), `${pre}.attn.softmax`, { x: probs });
  const attnDrop = train && m.attnDropout > 0;
  const dropUniforms = attnDrop ? { ...streamValues(L), ...dropoutValues(m.attnDropout) } : {};
  let out = activation(c, `${pre}.attn.o`, [rows, inner]);
  c.b.dispatch(phase, instantiate('attn_av', { ...shape, dropout: attnDrop }, c.b.limits), `${pre}.attn.av`, withTable({ p: probs, qkv, out }), dropUniforms);
  if (pert?.at === 'output') {
    const perturbed = activation(c, `${pre}.attn.o_perturbed`, [rows, inner]);
    c.b.dispatch(phase, instantiate('perturb', pert, c.b.limits), `${pre}.attn.perturb (output)`, { x: out, z: noise!, out: perturbed });
    out = perturbed;
  }
  const y = linear(c, out, `${pre}.attn.proj`, rows, inner, m.dim, `${pre}.attn.proj`, true);
  const mid = residual(c, h, y, layer, `${pre}.mid`, ...BRANCH_SITES.attn);

  const n2 = layerNorm(c, mid, `${pre}.norm2`, rows, `${pre}.norm2`);
  const z = linear(c, n2, `${pre}.mlp.fc1`, rows, m.dim, layer.mlp.hidden, `${pre}.mlp.fc1`, true);
  const hiddenDrop = train && m.dropout > 0;
  const g = activation(c, `${pre}.mlp.act`, [rows, layer.mlp.hidden]);
  const geluUniforms = hiddenDrop ? { ...streamValues(L), ...maskValues('drop', SITE.mlpHiddenDropout, m.dropout) } : {};
  c.b.dispatch(phase, instantiate('gelu', { count: rows * layer.mlp.hidden, dropout: hiddenDrop }, c.b.limits), `${pre}.mlp.gelu`, { x: z, y: g }, geluUniforms);
  const y2 = linear(c, g, `${pre}.mlp.fc2`, rows, layer.mlp.hidden, m.dim, `${pre}.mlp.fc2`, true);
  const next = i + 1 < m.layers.length ? `blocks.${m.layers[i + 1]!.index}.in` : 'blocks.out';
  return residual(c, mid, y2, layer, next, ...BRANCH_SITES.mlp);
}

/** The residual options of a branch end in this mode. */
export function residualOptions(c: ForwardContext, layer: LayerIR): { dropout: boolean; dropPath: boolean } {
  const train = c.mode === 'train';
  return { dropout: train && c.m.dropout > 0, dropPath: train && layer.dropPath > 0 };
}

export function residualUniforms(c: ForwardContext, layer: LayerIR, dropSite: number, pathSite: number): Record<string, UniformValue> {
  const o = residualOptions(c, layer);
  if (!o.dropout && !o.dropPath) return {};
  return {
    ...streamValues(layer.index),
    ...(o.dropout ? maskValues('drop', dropSite, c.m.dropout) : {}),
    ...(o.dropPath ? maskValues('path', pathSite, layer.dropPath) : {}),
  };
}

function residual(c: ForwardContext, h: string, y: string, layer: LayerIR, outName: string, dropSite: number, pathSite: number): string {
  const rows = c.batch * c.m.tokens;
  const out = activation(c, outName, [rows, c.m.dim]);
  const inst = instantiate('residual', { rows, dim: c.m.dim, tokens: c.m.tokens, ...residualOptions(c, layer) }, c.b.limits);
  c.b.dispatch(phaseOf(c), inst, `${outName} (residual)`, { h, y, out }, residualUniforms(c, layer, dropSite, pathSite));
  return out;
}
