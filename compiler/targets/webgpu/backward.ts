// The backward pass as plan dispatches: the forward of forward.ts in reverse, reading its
// activations by name, accumulating every parameter gradient (+=) into its 'grad' buffer. The
// residual stream's gradient lives in one buffer (scratch:dres) that each LayerNorm backward adds
// into; dropout masks are recomputed from their counters; no gradient flows through the allocation
// (the counts are discrete, as in runtime/tfjs/attention.ts).
import type { LayerIR } from '../../ir/types.js';
import { act, BRANCH_SITES, dropoutValues, maskValues, param, SITE, streamValues, type ForwardContext } from './context.js';
import { grouping } from './forward-attention.js';
import { perturbOf, residualOptions, residualUniforms } from './forward.js';
import { instantiate } from './templates/index.js';

export const grad = (name: string) => `grad:${name}`;

/** The training context of the backward (same buffers as the training forward). */
export function emitBackward(c: ForwardContext): void {
  const { m, batch: B, b } = c;
  const rows = B * m.tokens;
  const D = m.dim;
  const scratch = (name: string, shape: number[]) => b.buffer(`scratch:${name}`, { kind: 'scratch', shape });
  // Head: dW += pooled^T dlogits, db += colsum, dpooled = dlogits W^T.
  const dpooled = scratch('dpooled', [B, D]);
  linearBackward(c, act('pooled'), act('dlogits'), 'head', B, D, m.classes, dpooled, true);
  const dnorm = scratch('dnorm', [rows, D]);
  b.dispatch('backward', instantiate('pool_bwd', { batch: B, tokens: m.tokens, dim: D, pool: m.pool }, b.limits), 'pool backward', { dpooled, dx: dnorm });
  const dres = scratch('dres', [rows, D]);
  layerNormBackward(c, act('blocks.out'), 'norm', act('norm.stats'), dnorm, dres, false);
  for (let i = m.layers.length - 1; i >= 0; i--) blockBackward(c, m.layers[i]!, dres);
  // Embedding: dpos, dcls, and the patch rows' gradient for the patch projection's weights.
  const dpatches = scratch('dpatches', [B * m.patches, D]);
  const cls = m.pool === 'cls';
  const bindings: Record<string, string> = { dh: dres, dpatches, dpos: grad('pos_embed') };
  if (cls) bindings.dcls = grad('cls_token');
  b.dispatch('backward', instantiate('embed_bwd', { batch: B, patches: m.patches, dim: D, cls }, b.limits), 'cls_token + pos_embed backward', bindings);
  const rowLen = m.image.channels * m.patch * m.patch;
  linearBackward(c, act('patches'), dpatches, 'patch_embed.proj', B * m.patches, rowLen, D, null, true);
}

/**
 * y = x W + b with x [rows, in]: grad W += x^T dy, grad b += colsum(dy) (when `bias`), and dx = dy W^T
 * into `dx` (null: the input needs no gradient).
 */
function linearBackward(c: ForwardContext, x: string, dy: string, prefix: string, rows: number, inDim: number, outDim: number, dx: string | null, bias: boolean): void {
  const { b } = c;
  const dw = instantiate('matmul', { M: inDim, K: rows, N: outDim, transA: true, transB: false, bias: false, accumulate: true }, b.limits);
  b.dispatch('backward', dw, `${prefix}.weight grad`, { a: x, b: dy, c: grad(`${prefix}.weight`) });
  if (bias) b.dispatch('backward', instantiate('bias_grad', { rows, cols: outDim }, b.limits), `${prefix}.bias grad`, { dy, db: grad(`${prefix}.bias`) });
  if (dx) {
    const inst = instantiate('matmul', { M: rows, K: outDim, N: inDim, transA: false, transB: true, bias: false, accumulate: false }, b.limits);
    b.dispatch('backward', inst, `${prefix} input grad`, { a: dy, b: param(`${prefix}.weight`), c: dx });
  }
}

/** dx (+)= LayerNorm backward; gamma and beta gradients accumulate. */
function layerNormBackward(c: ForwardContext, x: string, prefix: string, stats: string, dy: string, dx: string, accumulate: boolean): void {
  const { b } = c;
  const rows = c.batch * c.m.tokens;
  const dim = c.m.dim;
  b.dispatch('backward', instantiate('layernorm_bwd', { rows, dim, accumulate }, b.limits), `${prefix} backward`, { x, gamma: param(`${prefix}.weight`), stats, dy, dx });
  b.dispatch('backward', instantiate('layernorm_bwd_params', { rows, dim }, b.limits), `${prefix} parameter grads`, { x, stats, dy, dgamma: grad(`${prefix}.weight`), dbeta: grad(`${prefix}.bias`) });
}

function blockBackward(c: ForwardContext, layer: LayerIR, dres: string): void {
  const { m, batch: B, b } = c;
  const a = layer.attention;
  const L = layer.index;
  const pre = `blocks.${L}`;
  const rows = B * m.tokens;
  const T = m.tokens;
  const D = m.dim;
  const hidden = layer.mlp.hidden;
  const inner = a.heads * a.headDim;
  const W = (a.heads + 2 * a.kvHeads) * a.headDim;
  const scratch = (name: string, shape: number[]) => b.buffer(`scratch:${name}`, { kind: 'scratch', shape });
  const input = act(`blocks.${L}.in`);
  const residualBackward = (site: 'mlp' | 'attn') => {
    const dbranch = scratch('dbranch', [rows, D]);
    const [dropSite, pathSite] = BRANCH_SITES[site];
    const inst = instantiate('residual_bwd', { rows, dim: D, tokens: T, ...residualOptions(c, layer) }, b.limits);
    b.dispatch('backward', inst, `${pre} ${site} branch backward`, { dout: dres, dy: dbranch }, residualUniforms(c, layer, dropSite, pathSite));
    return dbranch;
  };

  // MLP branch: out = mid + fc2(dropout(gelu(fc1(norm2(mid))))).
  const dy2 = residualBackward('mlp');
  const dact = scratch('dhidden', [rows, hidden]);
  linearBackward(c, act(`${pre}.mlp.act`), dy2, `${pre}.mlp.fc2`, rows, hidden, D, dact, true);
  const dz = scratch('dfc1', [rows, hidden]);
  const hiddenDrop = m.dropout > 0;
  const geluUniforms = hiddenDrop ? { ...streamValues(L), ...maskValues('drop', SITE.mlpHiddenDropout, m.dropout) } : {};
  b.dispatch('backward', instantiate('gelu_bwd', { count: rows * hidden, dropout: hiddenDrop }, b.limits), `${pre}.mlp.gelu backward`, { x: act(`${pre}.mlp.fc1`), dy: dact, dx: dz }, geluUniforms);
  const dn2 = scratch('dnorm', [rows, D]);
  linearBackward(c, act(`${pre}.norm2`), dz, `${pre}.mlp.fc1`, rows, D, hidden, dn2, true);
  layerNormBackward(c, act(`${pre}.mid`), `${pre}.norm2`, act(`${pre}.norm2.stats`), dn2, dres, true);

  // Attention branch: mid = in + proj(attention(qkv(norm1(in)))).
  const dy1 = residualBackward('attn');
  const pert = perturbOf(c, layer);
  const dout = scratch('dattn', [rows, inner]);
  const projInput = pert?.at === 'output' ? act(`${pre}.attn.o_perturbed`) : act(`${pre}.attn.o`);
  linearBackward(c, projInput, dy1, `${pre}.attn.proj`, rows, inner, D, dout, true);
  let dO = dout;
  const noise = act(`${pre}.attn.noise`);
  if (pert?.at === 'output') {
    dO = scratch('dattn_pre', [rows, inner]);
    b.dispatch('backward', instantiate('perturb_bwd', pert, b.limits), `${pre}.attn.perturb backward (output)`, { x: act(`${pre}.attn.o`), z: noise, dy: dout, dx: dO });
  }
  const tableMode = grouping(c, layer);
  const table = tableMode === 'uniform' ? null : act(`${pre}.attn.table`);
  const withTable = (bind: Record<string, string>) => (table ? { ...bind, table } : bind);
  const shape = { batch: B, tokens: T, heads: a.heads, groups: a.kvHeads, headDim: a.headDim, grouping: tableMode };
  const attnDrop = m.attnDropout > 0;
  const dropUniforms = attnDrop ? { ...streamValues(L), ...dropoutValues(m.attnDropout) } : {};
  const qkv = act(`${pre}.attn.qkv`);
  const probs = act(`${pre}.attn.p`);
  const dp = scratch('dp', [B, a.heads, T, T]);
  b.dispatch('backward', instantiate('attn_dp', { ...shape, dropout: attnDrop }, b.limits), `${pre}.attn.dp`, withTable({ dout: dO, qkv, dp }), dropUniforms);
  b.dispatch('backward', instantiate('softmax_bwd', { rows: B * a.heads * T, cols: T }, b.limits), `${pre}.attn.softmax backward`, { p: probs, d: dp });
  let ds = dp;
  if (pert?.at === 'scores') {
    ds = scratch('ds', [B, a.heads, T, T]);
    b.dispatch('backward', instantiate('perturb_bwd', pert, b.limits), `${pre}.attn.perturb backward (scores)`, { x: act(`${pre}.attn.s`), z: noise, dy: dp, dx: ds });
  }
  const dqkv = scratch('dqkv', [rows, W]);
  b.dispatch('backward', instantiate('attn_dq', { ...shape, dropout: false }, b.limits), `${pre}.attn.dq`, withTable({ ds, qkv, dqkv }));
  b.dispatch('backward', instantiate('attn_dk', { ...shape, dropout: false }, b.limits), `${pre}.attn.dk`, withTable({ ds, qkv, dqkv }));
  b.dispatch('backward', instantiate('attn_dv', { ...shape, dropout: attnDrop }, b.limits), `${pre}.attn.dv`, withTable({ p: probs, dout: dO, qkv, dqkv }), dropUniforms);
  const dn1 = scratch('dnorm', [rows, D]);
  linearBackward(c, act(`${pre}.norm1`), dqkv, `${pre}.attn.qkv`, rows, D, W, dn1, m.qkvBias);
  layerNormBackward(c, input, `${pre}.norm1`, act(`${pre}.norm1.stats`), dn1, dres, true);
}
