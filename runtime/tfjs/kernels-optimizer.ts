// The graph's optimizer ops in TensorFlow.js (compiler/graph/ops.ts): the global gradient norm, its
// clip coefficient, and PyTorch's AdamW and SGD (torch.optim.AdamW; torch.optim.SGD with dampening 0,
// no Nesterov), so a checkpoint moves between this backend, native, WebGPU and the emitted PyTorch.
// The parameters and slots are tfjs variables bound in the environment: writing them assigns in place
// (environment.ts). The step statistics are [loss, hits, norm, clip coefficient].
import type { Tensor } from '@tensorflow/tfjs';
import type { Kernel, KernelContext } from './environment.js';

const inp = (k: KernelContext, node: { inputs: Record<string, string> }, role: string) => k.env.get(node.inputs[role]!);
const out = (k: KernelContext, node: { outputs: Record<string, string> }, role: string) => k.env.get(node.outputs[role]!);

function valuesOf(k: KernelContext) {
  if (!k.pass.values) throw new Error('tfjs graph executor: the optimizer phase needs its runtime values');
  return k.pass.values;
}

/**
 * The step's norm and clip coefficient on the host, read once per step (keyed by the statistics
 * tensor, which no node writes after grad_norm). A skipped step is decided here rather than by a
 * tf.where per tensor on the device: with five more ops a parameter, and each op costing tens of
 * microseconds on wasm, that nearly tripled the phase's time on the quickstart. The engine downloads
 * these statistics right after the phase anyway (as it did before the update before), so the read
 * adds no wait.
 */
const stepScalars = new WeakMap<Tensor, { finite: boolean; coef: number }>();
function scalarsOf(stats: Tensor): { finite: boolean; coef: number } {
  let s = stepScalars.get(stats);
  if (!s) {
    const v = stats.dataSync();
    s = { finite: Number.isFinite(v[2]!), coef: v[3]! };
    stepScalars.set(stats, s);
  }
  return s;
}

/** The clipped gradient, or null when the step is skipped (the norm is not finite: training stops there). */
function clippedGradient(k: KernelContext, n: { inputs: Record<string, string>; outputs: Record<string, string> }): Tensor | null {
  const { finite, coef } = scalarsOf(inp(k, n, 'stats'));
  if (!finite) return null;
  const g = out(k, n, 'grad');
  return coef === 1 ? g : k.tf.mul(g, coef);
}

/**
 * The gradient is zeroed by releasing it: the next step's first pass writes its gradients afresh
 * (runtime/tfjs/step.ts), so in this backend an absent gradient is a zero one.
 */
const zeroGradient = (k: KernelContext, n: { outputs: Record<string, string> }) => k.env.release(n.outputs.grad!);

export const OPTIMIZER_KERNELS: Record<string, Kernel> = {
  // tfjs cannot write one element of a tensor, so `partial` holds the running total of the partial
  // sums (the first parameter's starts it); grad_norm reads the total.
  grad_sumsq: (k, n, a) => k.env.put(n.outputs.partial!, k.tf.sum(k.tf.square(inp(k, n, 'grad'))), a.index > 0),
  /** As torch.nn.utils.clip_grad_norm_: coefficient min(1, clip / (norm + 1e-6)); 1 without clipping. */
  grad_norm: (k, n, a) => {
    const { tf } = k;
    const norm = tf.sqrt(inp(k, n, 'partial'));
    const coef = a.clip === null || a.clip === undefined ? tf.scalar(1) : tf.minimum(tf.div(a.clip, tf.add(norm, 1e-6)), 1);
    k.env.put(n.outputs.stats!, tf.concat([tf.slice(out(k, n, 'stats'), [0], [2]), tf.stack([norm, coef])]));
  },
  /**
   * torch.optim.AdamW:  p <- p * (1 - lr * wd)                      (decoupled decay, decayed params only)
   *                     m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
   *                     p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
   */
  adamw: (k, n, a) => {
    const { tf } = k;
    const v = valuesOf(k);
    const g = clippedGradient(k, n);
    if (!g) return zeroGradient(k, n);
    const m1 = tf.add(tf.mul(out(k, n, 'm'), a.beta1), tf.mul(g, 1 - a.beta1));
    const v1 = tf.add(tf.mul(out(k, n, 'v'), a.beta2), tf.mul(tf.square(g), 1 - a.beta2));
    const denom = tf.add(tf.div(tf.sqrt(v1), v.adamBias2Sqrt), a.eps);
    const p = out(k, n, 'p');
    const decayed = a.decay ? tf.mul(p, v.decayFactor) : p;
    k.env.put(n.outputs.p!, tf.sub(decayed, tf.mul(tf.div(m1, denom), v.adamStepSize)));
    k.env.put(n.outputs.m!, m1);
    k.env.put(n.outputs.v!, v1);
    zeroGradient(k, n);
  },
  /**
   * torch.optim.SGD (dampening 0):  d = g + wd * p                 (L2, decayed params only)
   *                                 buf <- momentum * buf + d      (buf starts at 0, so the first is d)
   *                                 p <- p - lr * buf              (p - lr * d without momentum)
   */
  sgd: (k, n, a) => {
    const { tf } = k;
    const g = clippedGradient(k, n);
    if (!g) return zeroGradient(k, n);
    const p = out(k, n, 'p');
    let d = a.weightDecay ? tf.add(g, tf.mul(p, a.weightDecay)) : g;
    if (n.outputs.buf) {
      d = tf.add(tf.mul(out(k, n, 'buf'), a.momentum), d);
      k.env.put(n.outputs.buf!, d);
    }
    k.env.put(n.outputs.p!, tf.sub(p, tf.mul(d, valuesOf(k).lr)));
    zeroGradient(k, n);
  },
};
