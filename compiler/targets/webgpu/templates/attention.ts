// The grouped attention core (docs/attention.md) as five products of the tiled matmul template, with
// the softmax (rows.ts) and the PGQA kernels (perturb.ts) between them:
//
//   forward   S = (Q_h * scale) K_g(h)^T            attn_scores   [B, H, T, T]
//             P = softmax(S)                      softmax (in place)
//             O_h = (P * mask) V_g(h)             attn_av       written as [B*T, H*hd], heads side by side
//   backward  dP = (dO_h V_g(h)^T) * mask         attn_dp
//             dS = softmax_bwd(P, dP)             softmax_bwd (in place)
//             dQ_h = (dS K_g(h)) * scale          attn_dq       into the Q columns of dqkv
//             dK_g = sum_{h in g} dS_h^T (Q_h * scale)   attn_dkv k
//             dV_g = sum_{h in g} (P_h * mask)^T dO_h    attn_dkv v
//
// Q, K and V are read in place from the fused qkv activation [B*T, (H + 2G) * hd]; the group of a
// query head comes from `grouping`: 'uniform' computes h / (H / G), 'table' reads the head -> group
// table of the batch [H], 'table-per-sample' one row per image [B, H] (KDGQA scope 'sample').
// The K/V gradients sum over the heads of their group in head order (deterministic, no atomics); a
// group without heads gets zeros. The dropout mask (attention dropout, Purpose 1) is recomputed
// from its counter, the index into [B, H, T, T], wherever P is read.
import type { Binding, KernelInstance, KernelLimits, UniformField } from '../kernel.js';
import { f32 } from '../kernel.js';
import { RANDOM_WGSL, WGSL_PURPOSE } from '../wgsl-random.js';
import { io, STREAM_UNIFORMS } from './elementwise.js';
import { tiledMatmul } from './matmul.js';

export interface AttentionOptions {
  batch: number;
  tokens: number;
  heads: number;
  groups: number;
  headDim: number;
  grouping: 'uniform' | 'table' | 'table-per-sample';
  /** Attention dropout (model.attnDropout > 0, training). */
  dropout: boolean;
}

function check(o: AttentionOptions): void {
  if (o.grouping === 'uniform' && o.heads % o.groups !== 0) throw new Error(`attention: uniform grouping needs ${o.groups} K/V heads to divide ${o.heads} heads`);
}

function key(o: AttentionOptions): string {
  const g = o.grouping === 'uniform' ? 'u' : o.grouping === 'table' ? 't' : 'ts';
  return `b${o.batch}_t${o.tokens}_h${o.heads}g${o.groups}d${o.headDim}_${g}${o.dropout ? '_drop' : ''}`;
}

/** WGSL helpers shared by the five kernels: addressing into qkv and P, the group of a head, the mask. */
function prelude(o: AttentionOptions): string {
  const { tokens: T, heads: H, groups: G, headDim: hd } = o;
  const W = (H + 2 * G) * hd;
  const group = o.grouping === 'uniform' ? `h / ${H / G}u` : o.grouping === 'table' ? 'table[h]' : `table[b * ${H}u + h]`;
  return /* wgsl */ `
const T: u32 = ${T}u;
const W: u32 = ${W}u;
const HD: u32 = ${hd}u;
const SCALE: f32 = ${f32(1 / Math.sqrt(hd))};
fn group_of(b: u32, h: u32) -> u32 { return ${group}; }
fn q_at(b: u32, t: u32, h: u32, d: u32) -> f32 { return qkv[(b * T + t) * W + h * HD + d] * SCALE; }
fn k_at(b: u32, t: u32, g: u32, d: u32) -> f32 { return qkv[(b * T + t) * W + (${H}u + g) * HD + d]; }
fn v_at(b: u32, t: u32, g: u32, d: u32) -> f32 { return qkv[(b * T + t) * W + (${H + G}u + g) * HD + d]; }
// Row-major index into [B, H, T, T]: P's element and its dropout counter.
fn p_index(b: u32, h: u32, i: u32, j: u32) -> u32 { return ((b * ${H}u + h) * T + i) * T + j; }
${o.dropout ? `${RANDOM_WGSL}
fn mask_at(key: u32, index: u32) -> f32 { return select(0.0f, u.keep, (random_bits(key, index) >> 8u) >= u.threshold); }` : ''}
`;
}

const MASK_KEY = `let key = stream_key(u.seed, stream_id4(${WGSL_PURPOSE.attentionDropout}u, u.layer, u.step, u.micro));`;

function uniforms(o: AttentionOptions): UniformField[] {
  // threshold and keep as dropoutThreshold(model.attnDropout) gives them (exact against the host's u >= rate).
  return o.dropout ? [...STREAM_UNIFORMS, { name: 'threshold', type: 'u32' }, { name: 'keep', type: 'f32' }] : [];
}

function tableBinding(o: AttentionOptions): Binding[] {
  return o.grouping === 'uniform' ? [] : [io('table', 'read', 'u32')];
}

/** Per query head: bt = b * H + h. */
function headSetup(o: AttentionOptions): string {
  return `let b = bt / ${o.heads}u;\nlet h = bt % ${o.heads}u;\nlet g = group_of(b, h);${o.dropout ? `\n${MASK_KEY}` : ''}`;
}

/** S[b, h, i, j] = sum_d (Q[b, i, h, d] * scale) K[b, j, g(h), d]. */
export function attentionScoresKernel(o: AttentionOptions, limits: KernelLimits): KernelInstance {
  check(o);
  const noDrop = { ...o, dropout: false };
  return tiledMatmul({
    template: 'attn_scores', key: key(noDrop), M: o.tokens, N: o.tokens, K: o.headDim, batch: o.batch * o.heads,
    bindings: [io('qkv', 'read'), ...tableBinding(o), io('s', 'read_write')],
    prelude: prelude(noDrop), setup: headSetup(noDrop),
    a: 'q_at(b, m, h, k)', b: 'k_at(b, n, g, k)',
    store: 's[p_index(b, h, m, n)] = acc;',
  }, limits);
}

/** O[b*T + i, h*hd + d] = sum_j (P * mask)[b, h, i, j] V[b, j, g(h), d]. */
export function attentionAvKernel(o: AttentionOptions, limits: KernelLimits): KernelInstance {
  check(o);
  const p = o.dropout ? 'p[p_index(b, h, m, k)] * mask_at(key, p_index(b, h, m, k))' : 'p[p_index(b, h, m, k)]';
  return tiledMatmul({
    template: 'attn_av', key: key(o), M: o.tokens, N: o.headDim, K: o.tokens, batch: o.batch * o.heads,
    bindings: [io('p', 'read'), io('qkv', 'read'), ...tableBinding(o), io('out', 'read_write')],
    uniforms: uniforms(o), prelude: prelude(o), setup: headSetup(o),
    a: p, b: 'v_at(b, k, g, n)',
    store: `out[(b * T + m) * ${o.heads * o.headDim}u + h * HD + n] = acc;`,
  }, limits);
}

/** dP[b, h, i, j] = (sum_d dO[b*T + i, h*hd + d] V[b, j, g(h), d]) * mask: the gradient of softmax's output. */
export function attentionDpKernel(o: AttentionOptions, limits: KernelLimits): KernelInstance {
  check(o);
  const value = o.dropout ? 'acc * mask_at(key, p_index(b, h, m, n))' : 'acc';
  return tiledMatmul({
    template: 'attn_dp', key: key(o), M: o.tokens, N: o.tokens, K: o.headDim, batch: o.batch * o.heads,
    bindings: [io('dout', 'read'), io('qkv', 'read'), ...tableBinding(o), io('dp', 'read_write')],
    uniforms: uniforms(o), prelude: prelude(o), setup: headSetup(o),
    a: `dout[(b * T + m) * ${o.heads * o.headDim}u + h * HD + k]`, b: 'v_at(b, n, g, k)',
    store: `dp[p_index(b, h, m, n)] = ${value};`,
  }, limits);
}

/** dQ[b, i, h, d] = scale * sum_j dS[b, h, i, j] K[b, j, g(h), d], into the Q columns of dqkv. */
export function attentionDqKernel(o: AttentionOptions, limits: KernelLimits): KernelInstance {
  check(o);
  const noDrop = { ...o, dropout: false };
  return tiledMatmul({
    template: 'attn_dq', key: key(noDrop), M: o.tokens, N: o.headDim, K: o.tokens, batch: o.batch * o.heads,
    bindings: [io('ds', 'read'), io('qkv', 'read'), ...tableBinding(o), io('dqkv', 'read_write')],
    prelude: prelude(noDrop), setup: headSetup(noDrop),
    a: 'ds[p_index(b, h, m, k)]', b: 'k_at(b, k, g, n)',
    store: 'dqkv[(b * T + m) * W + h * HD + n] = acc * SCALE;',
  }, limits);
}

/**
 * dK[b, j, g, d] = sum_{h in g} sum_i dS[b, h, i, j] (Q[b, i, h, d] * scale), or (which 'v')
 * dV[b, j, g, d] = sum_{h in g} sum_i (P * mask)[b, h, i, j] dO[b*T + i, h*hd + d]; into dqkv.
 */
export function attentionDkvKernel(o: AttentionOptions & { which: 'k' | 'v' }, limits: KernelLimits): KernelInstance {
  check(o);
  const opts = o.which === 'k' ? { ...o, dropout: false } : o;
  const { heads: H, groups: G } = o;
  const hpg = H / G;
  // Uniform grouping visits the group's own heads by arithmetic; a table lists them first (tiledMatmul's `active`).
  const head = o.grouping === 'uniform' ? `(g * ${hpg}u + o)` : 'o';
  const outer = o.grouping === 'uniform' ? { count: hpg } : { count: H, active: 'group_of(b, o) == g' };
  const a = o.which === 'k'
    ? `ds[p_index(b, ${head}, k, m)]`
    : opts.dropout ? `p[p_index(b, ${head}, k, m)] * mask_at(key, p_index(b, ${head}, k, m))` : `p[p_index(b, ${head}, k, m)]`;
  const bExpr = o.which === 'k' ? `q_at(b, k, ${head}, n)` : `dout[(b * T + k) * ${H * o.headDim}u + ${head} * HD + n]`;
  const column = o.which === 'k' ? `(${H}u + g)` : `(${H + G}u + g)`;
  const setup = `let b = bt / ${G}u;\nlet g = bt % ${G}u;${opts.dropout ? `\n${MASK_KEY}` : ''}`;
  const bindings = o.which === 'k'
    ? [io('ds', 'read'), io('qkv', 'read'), ...tableBinding(o), io('dqkv', 'read_write')]
    : [io('p', 'read'), io('dout', 'read'), io('qkv', 'read'), ...tableBinding(o), io('dqkv', 'read_write')];
  return tiledMatmul({
    template: `attn_d${o.which}`, key: key(opts), M: o.tokens, N: o.headDim, K: o.tokens, batch: o.batch * G,
    bindings, uniforms: uniforms(opts), prelude: prelude(opts), setup, outer,
    a, b: bExpr,
    store: `dqkv[(b * T + m) * W + ${column} * HD + n] = acc;`,
  }, limits);
}
