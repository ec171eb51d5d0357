// The graph's attention ops in TensorFlow.js: the key statistic, the allocation (state and timing as
// ./attention.ts countsFromStatistics decides), PGQA noise, and grouped attention with its backward.
//
// Here a head -> group `table` is held as a one-hot selection, [H, G] for the batch or [B, H, G] per
// image, and query head h's K (or V) is the selection's matmul with the groups: no gather (it has no
// gradient on wasm) and no loop over groups. Batched matmuls get equal batch dimensions (tfjs 4.22
// mis-broadcasts them). docs/attention.md gives the math of every variant.
import type { Tensor, Tensor2D, Tensor3D } from '@tensorflow/tfjs';
import { Purpose, seed32, streamId, uniformFloats } from '../../core/random.js';
import { countsFromStatistics, keyStatistic } from './attention.js';
import { equalShareCounts } from '../../compiler/alloc.js';
import { groupOfHeadOneHot, oneHotFromCountsHost } from './allocation.js';
import type { Tf } from './backend.js';
import type { Kernel, KernelContext } from './environment.js';
import { perturbNoise, subtractNoise, subtractNoiseBackward } from './perturb.js';

type Attrs = Record<string, any>;

/** qkv [B * T, (H + 2G) hd] -> q [B, H, T, hd] and k, v [B, G, T, hd]. */
function split(tf: Tf, qkv: Tensor, a: Attrs): { q: Tensor; k: Tensor; v: Tensor } {
  const { batch: B, tokens: T, heads: H, groups: G, headDim: hd } = a;
  const x = tf.reshape(qkv, [B, T, (H + 2 * G) * hd]);
  const part = (from: number, n: number) => tf.transpose(tf.reshape(tf.slice(x, [0, 0, from * hd], [B, T, n * hd]), [B, T, n, hd]), [0, 2, 1, 3]);
  return { q: part(0, H), k: part(H, G), v: part(H + G, G) };
}

/** The selection of a node's table, or of the uniform grouping (null: MHA, head h reads group h). */
function selection(k: KernelContext, node: { inputs: Record<string, string> }, a: Attrs): Tensor | null {
  if (node.inputs.table) return k.env.get(node.inputs.table);
  if (a.groups === a.heads) return null;
  return oneHotFromCountsHost(k.tf, equalShareCounts(a.heads, a.groups));
}

/** Groups [B, G, T, hd] -> per query head [B, H, T, hd]: head h gets sum_g S[h, g] * group g. */
function expand(tf: Tf, x: Tensor, sel: Tensor | null, a: Attrs): Tensor {
  const { batch: B, tokens: T, heads: H, groups: G, headDim: hd } = a;
  if (sel === null) return x;
  if (sel.rank === 2) {
    const flat = tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [G, B * T * hd]);
    return tf.transpose(tf.reshape(tf.matMul(sel as Tensor2D, flat), [H, B, T, hd]), [1, 0, 2, 3]);
  }
  return tf.reshape(tf.matMul(sel as Tensor3D, tf.reshape(x, [B, G, T * hd]) as Tensor3D), [B, H, T, hd]);
}

/** The transpose of expand: per-head gradients [B, H, T, hd] summed into their groups [B, G, T, hd]. */
function reduce(tf: Tf, dx: Tensor, sel: Tensor | null, a: Attrs): Tensor {
  const { batch: B, tokens: T, heads: H, groups: G, headDim: hd } = a;
  if (sel === null) return dx;
  if (sel.rank === 2) {
    const flat = tf.reshape(tf.transpose(dx, [1, 0, 2, 3]), [H, B * T * hd]);
    return tf.transpose(tf.reshape(tf.matMul(tf.transpose(sel) as Tensor2D, flat), [G, B, T, hd]), [1, 0, 2, 3]);
  }
  return tf.reshape(tf.matMul(tf.transpose(sel, [0, 2, 1]) as Tensor3D, tf.reshape(dx, [B, H, T * hd]) as Tensor3D), [B, G, T, hd]);
}

/** Inverted dropout mask of the attention probabilities [B * H, T, T], from the layer's stream. */
function probsMask(k: KernelContext, a: Attrs): Tensor | null {
  if (!(a.dropout > 0)) return null;
  const count = a.batch * a.heads * a.tokens * a.tokens;
  const u = uniformFloats(seed32(k.pass.seed), streamId(Purpose.attentionDropout, a.layer, k.pass.step, k.pass.microBatch), count);
  const keep = 1 / (1 - a.dropout);
  return k.tf.tensor3d(u.map((x) => (x >= a.dropout ? keep : 0)), [a.batch * a.heads, a.tokens, a.tokens]);
}

/** PGQA rows of x: [B, H, R, n] (R = 1, n = T * hd at the output; R = T, n = T at the scores). */
function rows(tf: Tf, x: Tensor, a: Attrs): Tensor {
  const p = a.perturb;
  return tf.reshape(x, [a.batch, a.heads, p.rowsPerHead, p.rowLength]);
}

/** [B, H, T, hd] heads side by side -> [B * T, H * hd]. */
const toRows = (tf: Tf, x: Tensor, a: Attrs) => tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [a.batch * a.tokens, a.heads * a.headDim]);
const fromRows = (tf: Tf, x: Tensor, a: Attrs) => tf.transpose(tf.reshape(x, [a.batch, a.tokens, a.heads, a.headDim]), [0, 2, 1, 3]);

export const ATTENTION_KERNELS: Record<string, Kernel> = {
  key_stat: (k, n, a) => {
    const { tf } = k;
    const k4 = tf.transpose(split(tf, k.env.get(n.inputs.qkv!), a).k, [0, 2, 1, 3]) as Parameters<typeof keyStatistic>[1];
    const draw = { seed: k.pass.seed, layer: a.layer, training: a.mode === 'train', step: k.pass.step, microBatch: k.pass.microBatch };
    k.env.put(n.outputs.stats!, keyStatistic(tf, k4, a.score, draw));
  },
  allocate: (k, n, a) => {
    const { tf } = k;
    const state = k.state(a.layer);
    const table = (stats: Tensor | null) => {
      const counts = stats === null
        ? state.counts
        : countsFromStatistics(tf, stats, a.policy, a.heads, state, { training: k.pass.training, step: k.pass.step, epochStep: k.pass.epochStep });
      k.pass.onCounts?.(a.layer, tf.keep(tf.clone(counts)));
      return groupOfHeadOneHot(tf, counts, a.heads);
    };
    if (a.frozen) return k.env.put(n.outputs.table!, table(null));
    // The counts are discrete: no gradient flows through the allocation. customGrad hides its
    // comparisons from the tape (autodiff of the forward, the tests' oracle) and sends back zeros.
    const cut = tf.customGrad((stats) => ({ value: table(stats as Tensor), gradFunc: () => tf.zerosLike(stats as Tensor) }));
    k.env.put(n.outputs.table!, cut(k.env.get(n.inputs.stats!)));
  },
  noise: (k, n, a) => {
    const shape: [number, number, number, number] = [a.batch, a.heads, a.rowsPerHead, a.rowLength];
    const z = perturbNoise({ distribution: a.distribution, scale: a.scale, at: a.at, during: 'train' }, shape, {
      seed: k.pass.seed, layer: a.layer, step: k.pass.step, microBatch: k.pass.microBatch, paper: a.paper, headsPerGroup: Math.max(1, Math.floor(a.heads / a.groups)),
    });
    k.env.put(n.outputs.z!, k.tf.tensor4d(z, [a.paper ? 1 : a.batch, a.heads, a.rowsPerHead, a.rowLength]));
  },
  attention: (k, n, a) => {
    const { tf } = k;
    const { batch: B, tokens: T, heads: H, headDim: hd } = a;
    const sel = selection(k, n, a);
    const { q, k: key, v } = split(tf, k.env.get(n.inputs.qkv!), a);
    const qs = tf.reshape(tf.mul(q, 1 / Math.sqrt(hd)), [B * H, T, hd]) as Tensor3D;
    const kh = tf.reshape(expand(tf, key, sel, a), [B * H, T, hd]) as Tensor3D;
    const vh = tf.reshape(expand(tf, v, sel, a), [B * H, T, hd]) as Tensor3D;
    let scores: Tensor = tf.matMul(qs, kh, false, true);
    const z = n.inputs.z ? k.env.get(n.inputs.z) : null;
    if (a.perturb?.at === 'scores') {
      k.env.put(n.outputs.s!, tf.reshape(scores, [B, H, T, T]));
      scores = subtractNoise(tf, rows(tf, scores, a), z!, a.perturb.scale);
    }
    const p = tf.softmax(tf.reshape(scores, [B * H, T, T]));
    k.env.put(n.outputs.p!, tf.reshape(p, [B, H, T, T]));
    const mask = probsMask(k, a);
    const o = tf.reshape(tf.matMul((mask ? tf.mul(p, mask) : p) as Tensor3D, vh), [B, H, T, hd]);
    if (a.perturb?.at !== 'output') return k.env.put(n.outputs.out!, toRows(tf, o, a));
    k.env.put(n.outputs.o!, o);
    k.env.put(n.outputs.out!, toRows(tf, tf.reshape(subtractNoise(tf, rows(tf, o, a), z!, a.perturb.scale), [B, H, T, hd]), a));
  },
  attention_bwd: (k, n, a) => {
    const { tf } = k;
    const { batch: B, tokens: T, heads: H, headDim: hd } = a;
    const sel = selection(k, n, a);
    const { q, k: key, v } = split(tf, k.env.get(n.inputs.qkv!), a);
    const qs = tf.reshape(tf.mul(q, 1 / Math.sqrt(hd)), [B * H, T, hd]) as Tensor3D;
    const kh = tf.reshape(expand(tf, key, sel, a), [B * H, T, hd]) as Tensor3D;
    const vh = tf.reshape(expand(tf, v, sel, a), [B * H, T, hd]) as Tensor3D;
    const z = n.inputs.z ? k.env.get(n.inputs.z) : null;
    let dO = fromRows(tf, k.env.get(n.inputs.dout!), a);
    if (a.perturb?.at === 'output') dO = tf.reshape(subtractNoiseBackward(tf, rows(tf, k.env.get(n.inputs.o!), a), z!, rows(tf, dO, a), a.perturb.scale), [B, H, T, hd]);
    const dO3 = tf.reshape(dO, [B * H, T, hd]) as Tensor3D;
    const p = tf.reshape(k.env.get(n.inputs.p!), [B * H, T, T]) as Tensor3D;
    const mask = probsMask(k, a);
    const pd = (mask ? tf.mul(p, mask) : p) as Tensor3D;
    let dp: Tensor = tf.matMul(dO3, tf.transpose(vh, [0, 2, 1]) as Tensor3D);
    if (mask) dp = tf.mul(dp, mask);
    let ds: Tensor = tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), 2, true)));
    if (a.perturb?.at === 'scores') ds = subtractNoiseBackward(tf, rows(tf, k.env.get(n.inputs.s!), a), z!, rows(tf, ds, a), a.perturb.scale);
    const ds3 = tf.reshape(ds, [B * H, T, T]) as Tensor3D;
    const dq = tf.mul(tf.matMul(ds3, kh), 1 / Math.sqrt(hd));
    const dk = reduce(tf, tf.reshape(tf.matMul(tf.transpose(ds3, [0, 2, 1]) as Tensor3D, qs), [B, H, T, hd]), sel, a);
    const dv = reduce(tf, tf.reshape(tf.matMul(tf.transpose(pd, [0, 2, 1]) as Tensor3D, dO3), [B, H, T, hd]), sel, a);
    const cols = (x: Tensor, heads: number) => tf.reshape(tf.transpose(tf.reshape(x, [B, heads, T, hd]), [0, 2, 1, 3]), [B * T, heads * hd]);
    k.env.put(n.outputs.dqkv!, tf.concat([cols(dq, H), cols(dk, a.groups), cols(dv, a.groups)], 1));
  },
};
