// Shared by the attention tests: shapes, IR builders, a plain float64 reference of grouped attention,
// small helpers, and `attentionCore`: one layer's attention lowered by the op graph
// (compiler/graph/forward.ts lowerAttention: key statistic, allocation, noise, attention) and run by
// the TensorFlow.js kernels, the same path a whole model takes. The reference shares no code with
// runtime/tfjs.
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import type { AttentionIR, ScoredAllocationIR } from '../../compiler/ir/types.js';
import { uniformFloats } from '../../core/random.js';
import type { Tensor, Tensor3D } from '@tensorflow/tfjs';
import { GraphBuilder } from '../../compiler/graph/build.js';
import { lowerAttention } from '../../compiler/graph/forward.js';
import type { LayerIR, ModelIR } from '../../compiler/ir/types.js';
import type { AttentionState } from '../../runtime/tfjs/attention.js';
import type { Tf } from '../../runtime/tfjs/backend.js';
import { Environment } from '../../runtime/tfjs/environment.js';
import { KERNELS } from '../../runtime/tfjs/executor.js';

/** What a pass of one layer's attention is keyed by. */
export interface AttentionContext {
  training: boolean;
  step: number;
  epochStep?: number;
  seed: number;
  layer: number;
  /** The layer's allocation state (null: uniform grouping). */
  state: AttentionState | null;
  attnDropout: number;
  microBatch?: number;
  onCounts?: (layer: number, counts: Tensor) => void;
}

/** qkv [B, T, (H + 2G) hd] -> [B, T, H hd] through the graph's attention nodes and the tfjs kernels (differentiable). */
export function attentionCore(tfx: Tf, qkv: Tensor3D, a: AttentionIR, c: AttentionContext): Tensor3D {
  const [B, T, W] = qkv.shape;
  const mode = c.training ? 'train' : 'eval';
  const g = new GraphBuilder();
  const layer: LayerIR = { index: c.layer, span, attention: a, mlp: { hidden: 1, activation: 'gelu' }, dropPath: 0 };
  const m = { tokens: T, attnDropout: c.attnDropout } as ModelIR;
  const input = g.tensor('act:qkv', { kind: 'activation', shape: [B * T, W] });
  const out = lowerAttention({ g, m, batch: B, mode, loss: { smoothing: 0, gradScale: null } }, layer, input);
  return tfx.tidy(() => {
    const env = new Environment(tfx, false);
    env.bind(input, tfx.reshape(qkv, [B * T, W]));
    const pass = { training: c.training, step: c.step, epochStep: c.epochStep, seed: c.seed, microBatch: c.microBatch ?? 0, onCounts: c.onCounts };
    const k = { tf: tfx, env, pass, state: () => c.state! };
    for (const node of g.phases[mode === 'train' ? 'forward' : 'eval']) KERNELS[node.op]!(k, node, node.attrs);
    return tfx.reshape(env.get(out), [B, T, a.heads * a.headDim]) as Tensor3D;
  });
}

export interface Shape { B: number; T: number; H: number; G: number; hd: number }
export const span = { file: 't.attn', line: 1, col: 1, endLine: 1, endCol: 2 };

export function ir(s: Shape, allocation: AttentionIR['allocation'] = { policy: 'uniform' }, extra: Partial<AttentionIR> = {}): AttentionIR {
  return { variant: 'gqa', heads: s.H, kvHeads: s.G, headDim: s.hd, compat: 'none', allocation, perturb: null, span, ...extra };
}

export function keyNorm(o: Partial<ScoredAllocationIR> = {}): ScoredAllocationIR {
  return { policy: 'scored', score: { kind: 'key_norm', norm: 'l2' }, scale: 'minmax', rounding: 'largest_remainder', min: 1, scope: 'batch', eval: 'recompute', track: null, window: null, init: 'uniform', ...o };
}

export function ctx(o: Partial<AttentionContext> = {}): AttentionContext {
  return { training: false, step: 0, seed: 1, layer: 0, state: null, attnDropout: 0, ...o };
}

/** Random qkv in [-1, 1), key group g of image b scaled by kScale[b][g] (to set the key norms). */
export function makeQkv(s: Shape, seed: number, kScale?: number[][]): Float32Array {
  const W = (s.H + 2 * s.G) * s.hd;
  const x = uniformFloats(seed, 99, s.B * s.T * W).map((u) => 2 * u - 1);
  for (let b = 0; b < s.B; b++) for (let t = 0; t < s.T; t++) for (let c = s.H * s.hd; c < (s.H + s.G) * s.hd; c++) {
    x[(b * s.T + t) * W + c] *= kScale?.[b]?.[Math.floor((c - s.H * s.hd) / s.hd)] ?? 1;
  }
  return x;
}

/** Float64 attention: head h of image b reads K/V group groupOf(b, h); optional dropout mask [B, H, T, T]. */
export function reference(x: ArrayLike<number>, s: Shape, groupOf: (b: number, h: number) => number, mask?: ArrayLike<number>): Float64Array {
  const W = (s.H + 2 * s.G) * s.hd;
  const out = new Float64Array(s.B * s.T * s.H * s.hd);
  const at = (b: number, t: number, c: number) => x[(b * s.T + t) * W + c]!;
  for (let b = 0; b < s.B; b++) for (let h = 0; h < s.H; h++) {
    const g = groupOf(b, h);
    for (let i = 0; i < s.T; i++) {
      const logits = Array.from({ length: s.T }, (_, j) => {
        let dot = 0;
        for (let d = 0; d < s.hd; d++) dot += at(b, i, h * s.hd + d) * at(b, j, (s.H + g) * s.hd + d);
        return dot / Math.sqrt(s.hd);
      });
      const m = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - m));
      const z = e.reduce((a, c) => a + c, 0);
      for (let j = 0; j < s.T; j++) {
        const p = (e[j]! / z) * (mask ? mask[((b * s.H + h) * s.T + i) * s.T + j]! : 1);
        for (let d = 0; d < s.hd; d++) out[(b * s.T + i) * s.H * s.hd + h * s.hd + d] += p * at(b, j, (s.H + s.G + g) * s.hd + d);
      }
    }
  }
  return out;
}

/** Float64 key norms [B][G] (l2 over tokens and head_dim). */
export function refNorms(x: ArrayLike<number>, s: Shape): number[][] {
  const W = (s.H + 2 * s.G) * s.hd;
  return Array.from({ length: s.B }, (_, b) => Array.from({ length: s.G }, (_, g) => {
    let sum = 0;
    for (let t = 0; t < s.T; t++) for (let d = 0; d < s.hd; d++) sum += x[(b * s.T + t) * W + (s.H + g) * s.hd + d]! ** 2;
    return Math.sqrt(sum);
  }));
}

export const sumOver = (rows: number[][]) => rows[0]!.map((_, g) => rows.reduce((a, r) => a + r[g]!, 0));
export const groupsOf = (counts: number[]) => counts.flatMap((c, g) => new Array<number>(c).fill(g));

export function run(x: Float32Array, s: Shape, a: AttentionIR, c: AttentionContext): Float32Array {
  return tf.tidy(() => attentionCore(tf, tf.tensor3d(x, [s.B, s.T, (s.H + 2 * s.G) * s.hd]), a, c).dataSync() as Float32Array);
}

export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 2e-5): void {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (1 + Math.abs(want[i]!)));
  expect(worst).toBeLessThan(tol);
}

export const countsOf = (st: AttentionState) => Array.from(st.counts.dataSync());

