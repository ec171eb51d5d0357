// The graph's dense and element-wise ops in TensorFlow.js (compiler/graph/ops.ts says what each
// computes). Tensors keep the graph's shapes; every matmul is a plain 2-D one, transposing explicitly
// first: wasm multiplies 10x slower with transposeA/transposeB (docs/tfjs-backend.md).
import type { Tensor, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs';
import { Purpose, seed32, streamId, uniformFloats } from '../../core/random.js';
import type { Kernel, KernelContext } from './environment.js';
import { patchify } from './ops.js';

const inp = (k: KernelContext, node: { inputs: Record<string, string> }, role: string) => k.env.get(node.inputs[role]!);

/** A dropout or drop-path keep mask of `count` draws from the (site, layer, step, micro-batch) stream, scaled by 1 / (1 - rate). */
function keepMask(k: KernelContext, layer: number, site: number, rate: number, count: number): Float32Array {
  const u = uniformFloats(seed32(k.pass.seed), streamId(Purpose.dropout, site, layer, k.pass.step, k.pass.microBatch), count);
  const keep = 1 / (1 - rate);
  return u.map((x) => (x >= rate ? keep : 0));
}

/** The mask a residual branch's output is multiplied by (dropout per element, drop path per image), or null. */
function branchMask(k: KernelContext, a: Record<string, any>, rows: number, dim: number): Tensor | null {
  const { tf } = k;
  let mask: Tensor | null = null;
  if (a.dropout > 0) mask = tf.tensor2d(keepMask(k, a.layer, a.dropSite, a.dropout, rows * dim), [rows, dim]);
  if (a.dropPath > 0) {
    const batch = rows / a.tokens;
    const perImage = tf.tensor3d(keepMask(k, a.layer, a.pathSite, a.dropPath, batch), [batch, 1, 1]);
    const path = tf.reshape(tf.tile(perImage, [1, a.tokens, 1]), [rows, 1]);
    mask = mask ? tf.mul(mask, path) : path;
  }
  return mask;
}

function geluParts(k: KernelContext, x: Tensor): { cdf: Tensor; pdf: Tensor } {
  const { tf } = k;
  const cdf = tf.mul(tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1), 0.5);
  const pdf = tf.mul(tf.exp(tf.mul(tf.square(x), -0.5)), 1 / Math.sqrt(2 * Math.PI));
  return { cdf, pdf };
}

const hiddenMask = (k: KernelContext, a: Record<string, any>, shape: number[]) =>
  a.dropout > 0 ? k.tf.tensor(keepMask(k, a.layer, a.site, a.dropout, a.count), shape) : null;

/** LayerNorm's normalised input (x - mean) * rstd from the saved statistics [rows, 2]. */
function normalised(k: KernelContext, x: Tensor, stats: Tensor): Tensor {
  const { tf } = k;
  const [mean, rstd] = tf.split(stats, 2, 1);
  return tf.mul(tf.sub(x, mean!), rstd!);
}

export const DENSE_KERNELS: Record<string, Kernel> = {
  patchify: (k, n, a) => k.env.put(n.outputs.patches!, patchify(k.tf, inp(k, n, 'images') as Tensor4D, a.patch)),
  linear: (k, n) => {
    const y = k.tf.matMul(inp(k, n, 'x') as Tensor2D, inp(k, n, 'weight') as Tensor2D);
    k.env.put(n.outputs.y!, n.inputs.bias ? k.tf.add(y, inp(k, n, 'bias')) : y);
  },
  matmul: (k, n, a) => {
    const { tf } = k;
    const A = inp(k, n, 'a') as Tensor2D;
    const B = inp(k, n, 'b') as Tensor2D;
    const c = tf.matMul(a.transA ? tf.transpose(A) : A, a.transB ? tf.transpose(B) : B);
    k.env.put(n.outputs.c!, c, a.accumulate);
  },
  bias_grad: (k, n) => k.env.put(n.outputs.db!, k.tf.sum(inp(k, n, 'dy'), 0), true),
  embed: (k, n, a) => {
    const { tf } = k;
    let seq = tf.reshape(inp(k, n, 'patches'), [a.batch, a.patches, a.dim]);
    if (a.cls) seq = tf.concat([tf.tile(inp(k, n, 'cls'), [a.batch, 1, 1]), seq], 1);
    k.env.put(n.outputs.h!, tf.reshape(tf.add(seq, inp(k, n, 'pos')), [-1, a.dim]));
  },
  embed_bwd: (k, n, a) => {
    const { tf } = k;
    const tokens = a.patches + (a.cls ? 1 : 0);
    const dh = tf.reshape(inp(k, n, 'dh'), [a.batch, tokens, a.dim]);
    k.env.put(n.outputs.dpos!, tf.sum(dh, 0, true), true);
    if (a.cls) k.env.put(n.outputs.dcls!, tf.sum(tf.slice(dh, [0, 0, 0], [a.batch, 1, a.dim]), 0, true), true);
    const patches = a.cls ? tf.slice(dh, [0, 1, 0], [a.batch, a.patches, a.dim]) : dh;
    k.env.put(n.outputs.dpatches!, tf.reshape(patches, [a.batch * a.patches, a.dim]));
  },
  layernorm: (k, n, a) => {
    const { tf } = k;
    const x = inp(k, n, 'x');
    const mean = tf.mean(x, 1, true);
    const centered = tf.sub(x, mean);
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), 1, true), a.eps));
    k.env.put(n.outputs.y!, tf.add(tf.mul(tf.mul(centered, rstd), inp(k, n, 'gamma') as Tensor1D), inp(k, n, 'beta')));
    k.env.put(n.outputs.stats!, tf.concat([mean, rstd], 1));
  },
  layernorm_bwd: (k, n, a) => {
    const { tf } = k;
    const stats = inp(k, n, 'stats');
    const xhat = normalised(k, inp(k, n, 'x'), stats);
    const gdy = tf.mul(inp(k, n, 'dy'), inp(k, n, 'gamma'));
    const rstd = tf.slice(stats, [0, 1], [-1, 1]);
    const dx = tf.mul(rstd, tf.sub(tf.sub(gdy, tf.mean(gdy, 1, true)), tf.mul(xhat, tf.div(tf.sum(tf.mul(gdy, xhat), 1, true), a.dim))));
    k.env.put(n.outputs.dx!, dx, a.accumulate);
  },
  layernorm_bwd_params: (k, n) => {
    const { tf } = k;
    const dy = inp(k, n, 'dy');
    k.env.put(n.outputs.dgamma!, tf.sum(tf.mul(dy, normalised(k, inp(k, n, 'x'), inp(k, n, 'stats'))), 0), true);
    k.env.put(n.outputs.dbeta!, tf.sum(dy, 0), true);
  },
  gelu: (k, n, a) => {
    const x = inp(k, n, 'x');
    const y = k.tf.mul(x, geluParts(k, x).cdf);
    const mask = hiddenMask(k, a, x.shape);
    k.env.put(n.outputs.y!, mask ? k.tf.mul(y, mask) : y);
  },
  gelu_bwd: (k, n, a) => {
    const { tf } = k;
    const x = inp(k, n, 'x');
    const { cdf, pdf } = geluParts(k, x);
    const mask = hiddenMask(k, a, x.shape);
    const dy = mask ? tf.mul(inp(k, n, 'dy'), mask) : inp(k, n, 'dy');
    k.env.put(n.outputs.dx!, tf.mul(dy, tf.add(cdf, tf.mul(x, pdf))));
  },
  residual: (k, n, a) => {
    const y = inp(k, n, 'y');
    const mask = branchMask(k, a, a.rows, a.dim);
    k.env.put(n.outputs.out!, k.tf.add(inp(k, n, 'h'), mask ? k.tf.mul(y, mask) : y));
  },
  residual_bwd: (k, n, a) => {
    const dout = inp(k, n, 'dout');
    const mask = branchMask(k, a, a.rows, a.dim);
    k.env.put(n.outputs.dy!, mask ? k.tf.mul(dout, mask) : k.tf.clone(dout));
  },
  pool: (k, n, a) => {
    const { tf } = k;
    const tokens = tf.reshape(inp(k, n, 'x'), [a.batch, a.tokens, a.dim]);
    k.env.put(n.outputs.pooled!, a.pool === 'cls' ? tf.reshape(tf.slice(tokens, [0, 0, 0], [a.batch, 1, a.dim]), [a.batch, a.dim]) : tf.mean(tokens, 1));
  },
  pool_bwd: (k, n, a) => {
    const { tf } = k;
    const d = tf.reshape(inp(k, n, 'dpooled'), [a.batch, 1, a.dim]);
    const dx = a.pool === 'cls'
      ? tf.concat([d, tf.zeros([a.batch, a.tokens - 1, a.dim])], 1)
      : tf.tile(tf.div(d, a.tokens), [1, a.tokens, 1]);
    k.env.put(n.outputs.dx!, tf.reshape(dx, [a.batch * a.tokens, a.dim]));
  },
  cross_entropy: (k, n, a) => {
    const { tf } = k;
    const logits = inp(k, n, 'logits');
    const labels = inp(k, n, 'labels') as Tensor1D;
    const target = tf.add(tf.mul(tf.oneHot(labels, a.classes), 1 - a.smoothing), a.smoothing / a.classes);
    const logp = tf.logSoftmax(logits);
    const lossSum = tf.neg(tf.sum(tf.mul(target, logp)));
    const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32'));
    if (a.gradScale === null) {
      k.env.put(n.outputs.stats!, tf.stack([lossSum, hits]));
      return;
    }
    // Training: [mean loss over the step's images, hits], summed over the passes of a step.
    k.env.put(n.outputs.stats!, tf.stack([tf.mul(lossSum, a.gradScale), hits]), k.pass.microBatch > 0);
    k.env.put(n.outputs.dlogits!, tf.mul(tf.sub(tf.exp(logp), target), a.gradScale));
  },
};
