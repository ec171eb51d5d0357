// Pass `forward`: the ViT of a ModelIR as graph nodes, in training mode (phase 'forward': dropout,
// PGQA during training, allocation updates, then the loss and its gradient at the logits) or in
// evaluation mode (phase 'eval'). timm's VisionTransformer, block for block:
//
//   patchify -> linear (the patch conv) -> [cls token] + pos_embed
//   each block:  mid = h + dropPath(dropout(proj(attention(qkv(norm1(h))))))
//                out = mid + dropPath(dropout(fc2(dropout(gelu(fc1(norm2(mid)))))))
//   norm -> pool (class token, or the mean of the tokens) -> head -> cross-entropy
//
// Tokens travel as [B * T, D] rows. Which rates are active is decided here, once: an eval node
// carries dropout 0, so no backend asks "am I training?".
import { equalShareCounts } from '../alloc.js';
import type { LayerIR, ModelIR } from '../ir/types.js';
import type { GraphBuilder } from './build.js';
import { SCORES } from '../ir/scores.js';
import { groupingOf, perturbationOf, scoredOf, type EvalNoise } from './policy.js';
import type { GraphTap, Phase } from './types.js';

export interface ForwardOptions {
  g: GraphBuilder;
  m: ModelIR;
  batch: number;
  mode: 'train' | 'eval';
  /** Label smoothing, and the loss gradient's scale (1 / the images of an optimizer step; null: eval). */
  loss: { smoothing: number; gradScale: number | null };
  /** Eval mode: which PGQA noise to apply (default 'declared', as attnc eval). */
  evalNoise?: EvalNoise;
  /** Eval mode: when given, each attention layer's tap is added here (GraphTap). */
  taps?: GraphTap[];
}

/** Where in a block a dropout or drop-path mask is drawn: part of its random stream's key (core random registry). */
export const SITE = { projDropout: 0, mlpHiddenDropout: 1, mlpOutDropout: 2, attnDropPath: 3, mlpDropPath: 4 } as const;

export const act = (name: string) => `act:${name}`;
export const param = (name: string) => `param:${name}`;
export const grad = (name: string) => `grad:${name}`;
export const stateTensor = (layer: number) => `state:blocks.${layer}.attn.alloc`;
/** A lagged statistic's row [1, G] (key_grad): written after a step's backward, read by the next step's allocations. */
export const gradStatTensor = (layer: number) => `state:blocks.${layer}.attn.key_grad`;

/** Whether the layer allocates by a statistic of the previous step's gradient (compiler/ir/scores.ts `lagged`). */
export function allocatesByGradient(layer: LayerIR): boolean {
  const al = scoredOf(layer);
  return al !== null && SCORES[al.score.kind].lagged === true;
}

/** Words of a layer's allocation state (types.ts GraphAllocationState). */
export const allocationStateWords = (groups: number) => 3 * groups + 2;

const phaseOf = (c: ForwardOptions): Phase => (c.mode === 'train' ? 'forward' : 'eval');

/** Emits the whole forward; returns the logits tensor. */
export function lowerForward(c: ForwardOptions): string {
  const { g, m, batch: B } = c;
  const phase = phaseOf(c);
  const P = m.patches;
  const rowLen = m.image.channels * m.patch * m.patch;
  const images = g.tensor('input:images', { kind: 'input', shape: [B, m.image.height, m.image.width, m.image.channels] });
  const patches = g.tensor(act('patches'), { kind: 'activation', shape: [B * P, rowLen] });
  g.node(phase, { op: 'patchify', label: 'patchify', inputs: { images }, outputs: { patches }, attrs: { batch: B, height: m.image.height, width: m.image.width, channels: m.image.channels, patch: m.patch } });
  const embedded = linear(c, patches, 'patch_embed.proj', 'patch_embed', true);
  let h = g.tensor(act('blocks.0.in'), { kind: 'activation', shape: [B * m.tokens, m.dim] });
  const cls = m.pool === 'cls';
  const inputs: Record<string, string> = { patches: embedded, pos: param('pos_embed') };
  if (cls) inputs.cls = param('cls_token');
  g.node(phase, { op: 'embed', label: 'cls_token + pos_embed', inputs, outputs: { h }, attrs: { batch: B, patches: P, dim: m.dim, cls } });
  m.layers.forEach((layer, i) => (h = block(c, layer, i, h)));
  const normed = layerNorm(c, h, 'norm', 'norm');
  const pooled = g.tensor(act('pooled'), { kind: 'activation', shape: [B, m.dim] });
  g.node(phase, { op: 'pool', label: `pool (${m.pool})`, inputs: { x: normed }, outputs: { pooled }, attrs: { batch: B, tokens: m.tokens, dim: m.dim, pool: m.pool } });
  const logits = g.tensor('output:logits', { kind: 'output', shape: [B, m.classes] });
  g.node(phase, { op: 'linear', label: 'head', inputs: { x: pooled, weight: param('head.weight'), bias: param('head.bias') }, outputs: { y: logits }, attrs: { rows: B, in: m.dim, out: m.classes, bias: true } });
  loss(c, logits);
  return logits;
}

/** x [rows, in] through the Linear `prefix` -> a new activation. */
function linear(c: ForwardOptions, x: string, prefix: string, out: string, bias: boolean): string {
  const [rows, inDim] = c.g.shape(x) as [number, number];
  const outDim = c.g.shape(param(`${prefix}.weight`))[1]!;
  const y = c.g.tensor(act(out), { kind: 'activation', shape: [rows, outDim] });
  const inputs: Record<string, string> = { x, weight: param(`${prefix}.weight`) };
  if (bias) inputs.bias = param(`${prefix}.bias`);
  c.g.node(phaseOf(c), { op: 'linear', label: prefix, inputs, outputs: { y }, attrs: { rows, in: inDim, out: outDim, bias } });
  return y;
}

function layerNorm(c: ForwardOptions, x: string, prefix: string, out: string): string {
  const rows = c.batch * c.m.tokens;
  const y = c.g.tensor(act(out), { kind: 'activation', shape: [rows, c.m.dim] });
  const stats = c.g.tensor(act(`${out}.stats`), { kind: 'activation', shape: [rows, 2] });
  c.g.node(phaseOf(c), {
    op: 'layernorm', label: prefix,
    inputs: { x, gamma: param(`${prefix}.weight`), beta: param(`${prefix}.bias`) }, outputs: { y, stats },
    attrs: { rows, dim: c.m.dim, eps: c.m.norm.eps },
  });
  return y;
}

function loss(c: ForwardOptions, logits: string): void {
  const { g } = c;
  const labels = g.tensor('input:labels', { kind: 'input', shape: [c.batch], dtype: 'u32' });
  const train = c.loss.gradScale !== null;
  const stats = train ? g.tensor('output:training.stats', { kind: 'output', shape: [4] }) : g.tensor('output:eval.stats', { kind: 'output', shape: [2] });
  const outputs: Record<string, string> = { stats };
  if (train) outputs.dlogits = g.tensor(act('dlogits'), { kind: 'activation', shape: [c.batch, c.m.classes] });
  g.node(phaseOf(c), {
    op: 'cross_entropy', label: train ? 'cross-entropy and its gradient' : 'cross-entropy (eval)',
    inputs: { logits, labels }, outputs, attrs: { batch: c.batch, classes: c.m.classes, smoothing: c.loss.smoothing, gradScale: c.loss.gradScale },
  });
}

function block(c: ForwardOptions, layer: LayerIR, i: number, h: string): string {
  const { g, m, batch: B } = c;
  const phase = phaseOf(c);
  const L = layer.index;
  const pre = `blocks.${L}`;
  const T = m.tokens;
  const rows = B * T;
  const train = c.mode === 'train';

  const qkv = linear(c, layerNorm(c, h, `${pre}.norm1`, `${pre}.norm1`), `${pre}.attn.qkv`, `${pre}.attn.qkv`, m.qkvBias);
  const attended = lowerAttention(c, layer, qkv);
  const mid = residual(c, h, linear(c, attended, `${pre}.attn.proj`, `${pre}.attn.proj`, true), layer, `${pre}.mid`, SITE.projDropout, SITE.attnDropPath);

  const z = linear(c, layerNorm(c, mid, `${pre}.norm2`, `${pre}.norm2`), `${pre}.mlp.fc1`, `${pre}.mlp.fc1`, true);
  const gelu = g.tensor(act(`${pre}.mlp.act`), { kind: 'activation', shape: [rows, layer.mlp.hidden] });
  g.node(phase, { op: 'gelu', label: `${pre}.mlp.gelu`, inputs: { x: z }, outputs: { y: gelu }, attrs: { count: rows * layer.mlp.hidden, layer: L, dropout: train ? m.dropout : 0, site: SITE.mlpHiddenDropout } });
  const y2 = linear(c, gelu, `${pre}.mlp.fc2`, `${pre}.mlp.fc2`, true);
  const next = i + 1 < m.layers.length ? `blocks.${m.layers[i + 1]!.index}.in` : 'blocks.out';
  return residual(c, mid, y2, layer, next, SITE.mlpOutDropout, SITE.mlpDropPath);
}

/**
 * A layer's attention on its fused q, k, v rows [B * T, (H + 2G) hd]: the key statistic and
 * allocation (where the layer allocates), PGQA noise, and the grouped attention; returns the
 * attended rows [B * T, H hd]. Reads of the model: its tokens and attention dropout only.
 */
export function lowerAttention(c: ForwardOptions, layer: LayerIR, qkv: string): string {
  const { g, m, batch: B } = c;
  const a = layer.attention;
  const phase = phaseOf(c);
  const L = layer.index;
  const pre = `blocks.${L}`;
  const T = m.tokens;
  const rows = B * T;
  const train = c.mode === 'train';
  const table = allocation(c, layer, qkv);
  const perturb = perturbationOf(m, layer, c.mode, B, c.evalNoise);
  const attrs = {
    batch: B, tokens: T, heads: a.heads, groups: a.kvHeads, headDim: a.headDim, grouping: groupingOf(layer, c.mode),
    layer: L, dropout: train ? m.attnDropout : 0, perturb,
  };
  const inputs: Record<string, string> = { qkv };
  if (table) inputs.table = table;
  if (perturb) {
    const z = g.tensor(act(`${pre}.attn.noise`), { kind: 'activation', shape: [perturb.noiseRows, perturb.rowLength] });
    g.node(phase, { op: 'noise', label: `${pre}.attn.noise`, inputs: {}, outputs: { z }, attrs: { ...perturb, batch: B, heads: a.heads, layer: L } });
    inputs.z = z;
  }
  const outputs: Record<string, string> = { p: g.tensor(act(`${pre}.attn.p`), { kind: 'activation', shape: [B, a.heads, T, T] }) };
  if (perturb?.at === 'scores') outputs.s = g.tensor(act(`${pre}.attn.s`), { kind: 'activation', shape: [B, a.heads, T, T] });
  if (perturb?.at === 'output') outputs.o = g.tensor(act(`${pre}.attn.o`), { kind: 'activation', shape: [rows, a.heads * a.headDim] });
  outputs.out = g.tensor(act(perturb?.at === 'output' ? `${pre}.attn.o_perturbed` : `${pre}.attn.o`), { kind: 'activation', shape: [rows, a.heads * a.headDim] });
  g.node(phase, { op: 'attention', label: `${pre}.attn`, inputs, outputs, attrs });
  if (c.taps && !train) c.taps.push({ layer: L, heads: a.heads, groups: a.kvHeads, probs: outputs.p, out: outputs.out, ...(table ? { table } : {}), noise: perturb?.at ?? 'none' });
  return outputs.out;
}

function residual(c: ForwardOptions, h: string, y: string, layer: LayerIR, outName: string, dropSite: number, pathSite: number): string {
  const train = c.mode === 'train';
  const out = c.g.tensor(act(outName), { kind: 'activation', shape: [c.batch * c.m.tokens, c.m.dim] });
  c.g.node(phaseOf(c), {
    op: 'residual', label: `${outName} (residual)`, inputs: { h, y }, outputs: { out },
    attrs: { rows: c.batch * c.m.tokens, dim: c.m.dim, tokens: c.m.tokens, layer: layer.index, dropout: train ? c.m.dropout : 0, dropPath: train ? layer.dropPath : 0, dropSite, pathSite },
  });
  return out;
}

/** The layer's state tensor (declared once for every phase). */
export function allocationState(g: GraphBuilder, layer: LayerIR): string {
  const G = layer.attention.kvHeads;
  const values = new Array<number>(allocationStateWords(G)).fill(0);
  // Before any allocation: the equal share, which is the uniform grouping when G divides H.
  equalShareCounts(layer.attention.heads, G).forEach((n, i) => (values[i] = n));
  // A lagged statistic starts at zeros: equal claims, so the first allocations share heads equally.
  if (allocatesByGradient(layer)) g.tensor(gradStatTensor(layer.index), { kind: 'state', shape: [1, G] });
  return g.tensor(stateTensor(layer.index), { kind: 'state', dtype: 'u32', shape: [values.length], init: { kind: 'u32', values } });
}

/** The statistic and allocation nodes of a layer; returns its head -> group table, or null (uniform grouping). */
function allocation(c: ForwardOptions, layer: LayerIR, qkv: string): string | null {
  const a = layer.attention;
  const al = scoredOf(layer);
  if (!al) {
    if (a.heads % a.kvHeads !== 0) throw new Error(`layer ${layer.index}: uniform grouping needs kv_heads ${a.kvHeads} to divide heads ${a.heads}`);
    return null;
  }
  const { g, batch: B } = c;
  const phase = phaseOf(c);
  const pre = `blocks.${layer.index}.attn`;
  const state = allocationState(g, layer);
  const grouping = groupingOf(layer, c.mode);
  const table = g.tensor(act(`${pre}.table${c.mode === 'eval' ? '.eval' : ''}`), { kind: 'activation', dtype: 'u32', shape: grouping === 'table-per-sample' ? [B, a.heads] : [a.heads] });
  const frozen = c.mode === 'eval' && al.eval === 'frozen';
  const inputs: Record<string, string> = {};
  const lagged = allocatesByGradient(layer);
  if (!frozen && lagged) inputs.stats = gradStatTensor(layer.index);
  else if (!frozen) {
    const stats = g.tensor(`scratch:${pre}.key_stats`, { kind: 'scratch', shape: [B, a.kvHeads] });
    g.node(phase, { op: 'key_stat', label: `${pre}.key_stats`, inputs: { qkv }, outputs: { stats }, attrs: { batch: B, tokens: c.m.tokens, heads: a.heads, groups: a.kvHeads, headDim: a.headDim, score: al.score, ...(SCORES[al.score.kind].drawn ? { layer: layer.index, mode: c.mode } : {}) } });
    inputs.stats = stats;
  }
  const { score: _score, ...policy } = al;
  g.node(phase, {
    op: 'allocate', label: `${pre}.allocate`, inputs, outputs: { table, state },
    attrs: { batch: lagged ? 1 : B, heads: a.heads, groups: a.kvHeads, layer: layer.index, mode: c.mode, grouping, frozen, policy },
  });
  return table;
}
