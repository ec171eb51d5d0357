// An independent reference ViT in plain JavaScript with Float64 arithmetic, for checking the tfjs model.
//
// It reads the named tensors in checkpoint layout (timm / PyTorch: Linear weights [out, in], the patch
// embedding as a Conv2d weight [D, C, p, p]) and follows timm's VisionTransformer literally: a strided
// convolution, the class token, pre-norm blocks, attention with query head h reading K/V head
// floor(h / (H / G)) (MHA, MQA and uniform GQA), the exact erf GELU, and timm's final norm placement
// ('norm' before pooling, 'fc_norm' after it). Eval mode only: no dropout, no stochastic depth.
// Nothing here shares code with runtime/tfjs.

import type { ModelIR } from '../../compiler/ir/types.js';

export interface RefTensor {
  shape: number[];
  data: ArrayLike<number>;
}
export type RefTensors = Record<string, RefTensor>;

function get(t: RefTensors, name: string): RefTensor {
  const v = t[name];
  if (!v) throw new Error(`reference: missing tensor ${name}`);
  return v;
}

/** y[o] = sum_i W[o, i] x[i] + b[o] with W stored [out, in] as PyTorch does. */
function linear(x: Float64Array, w: RefTensor, b: RefTensor | undefined): Float64Array {
  const [out, inp] = w.shape;
  if (x.length !== inp) throw new Error(`reference: linear expects ${inp} inputs, got ${x.length}`);
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b ? b.data[o] : 0;
    for (let i = 0; i < inp; i++) s += w.data[o * inp + i] * x[i];
    y[o] = s;
  }
  return y;
}

function layerNorm(x: Float64Array, w: RefTensor, b: RefTensor, eps: number): Float64Array {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let variance = 0;
  for (const v of x) variance += (v - mean) * (v - mean);
  variance /= x.length; // biased, as torch.nn.LayerNorm
  const r = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => (v - mean) * r * w.data[i] + b.data[i]);
}

/** erf to double precision: its Taylor series near 0, a continued fraction for erfc in the tails. */
export function erf64(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 100; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  let k = ax;
  for (let n = 80; n >= 1; n--) k = ax + n / 2 / k;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / k;
  return Math.sign(x) * (1 - erfc);
}

export function gelu64(x: number): number {
  return 0.5 * x * (1 + erf64(x / Math.SQRT2));
}

/** The patch embedding as timm computes it: Conv2d(C, D, kernel p, stride p) over an NHWC image. */
function patchEmbed(model: ModelIR, t: RefTensors, img: ArrayLike<number>, offset: number): Float64Array[] {
  const { height: H, width: W, channels: C } = model.image;
  const p = model.patch;
  const D = model.dim;
  const w = get(t, 'patch_embed.proj.weight');
  const b = get(t, 'patch_embed.proj.bias');
  const tokens: Float64Array[] = [];
  for (let gy = 0; gy < H / p; gy++) {
    for (let gx = 0; gx < W / p; gx++) {
      const tok = new Float64Array(D);
      for (let d = 0; d < D; d++) {
        let s = b.data[d];
        for (let c = 0; c < C; c++) {
          for (let i = 0; i < p; i++) {
            for (let j = 0; j < p; j++) {
              const pixel = img[offset + ((gy * p + i) * W + (gx * p + j)) * C + c];
              s += w.data[((d * C + c) * p + i) * p + j] * pixel;
            }
          }
        }
        tok[d] = s;
      }
      tokens.push(tok);
    }
  }
  return tokens;
}

/** What the reference saw of one attention layer for one image: probabilities [H][T * T], head outputs [T][H * hd]. */
export interface ReferenceAttention {
  layer: number;
  image: number;
  probs: Float64Array[];
  heads: Float64Array[];
}

export interface ReferenceOptions {
  /** Told every layer's attention of every image. */
  trace?: (a: ReferenceAttention) => void;
  /** Compute a PGQA model without its noise (otherwise it is refused: the reference draws no noise). */
  withoutNoise?: boolean;
}

function attention(model: ModelIR, layer: number, t: RefTensors, xs: Float64Array[], image: number, o: ReferenceOptions): Float64Array[] {
  const a = model.layers[layer].attention;
  if (a.allocation.policy !== 'uniform' || (a.perturb && !o.withoutNoise)) throw new Error('reference: uniform GQA only');
  const { heads: Hq, kvHeads: G, headDim: hd } = a;
  const pre = `blocks.${layer}.attn.`;
  const qkv = xs.map((x) => linear(x, get(t, pre + 'qkv.weight'), t[pre + 'qkv.bias']));
  const T = xs.length;
  const out = xs.map(() => new Float64Array(Hq * hd));
  const probs = Array.from({ length: Hq }, () => new Float64Array(T * T));
  const scale = 1 / Math.sqrt(hd);
  for (let h = 0; h < Hq; h++) {
    const g = Math.floor(h / (Hq / G));
    const q = (tok: number, d: number) => qkv[tok][h * hd + d];
    const k = (tok: number, d: number) => qkv[tok][Hq * hd + g * hd + d];
    const v = (tok: number, d: number) => qkv[tok][(Hq + G) * hd + g * hd + d];
    for (let i = 0; i < T; i++) {
      const scores = new Float64Array(T);
      for (let j = 0; j < T; j++) {
        let s = 0;
        for (let d = 0; d < hd; d++) s += q(i, d) * k(j, d);
        scores[j] = s * scale;
      }
      const m = Math.max(...scores);
      let z = 0;
      for (let j = 0; j < T; j++) z += (scores[j] = Math.exp(scores[j] - m));
      for (let j = 0; j < T; j++) probs[h][i * T + j] = scores[j] / z;
      for (let d = 0; d < hd; d++) {
        let s = 0;
        for (let j = 0; j < T; j++) s += (scores[j] / z) * v(j, d);
        out[i][h * hd + d] = s;
      }
    }
  }
  o.trace?.({ layer, image, probs, heads: out });
  return out.map((row) => linear(row, get(t, pre + 'proj.weight'), get(t, pre + 'proj.bias')));
}

/** Logits [batch, classes] for NHWC images (batch * H * W * C values). */
export function referenceLogits(model: ModelIR, t: RefTensors, images: ArrayLike<number>, batch: number, o: ReferenceOptions = {}): Float64Array {
  const { height, width, channels } = model.image;
  const eps = model.norm.eps;
  const logits = new Float64Array(batch * model.classes);
  for (let n = 0; n < batch; n++) {
    let xs = patchEmbed(model, t, images, n * height * width * channels);
    if (model.pool === 'cls') xs.unshift(Float64Array.from(get(t, 'cls_token').data));
    const pos = get(t, 'pos_embed');
    xs = xs.map((x, i) => x.map((v, d) => v + pos.data[i * model.dim + d]));
    for (let l = 0; l < model.depth; l++) {
      const b = `blocks.${l}.`;
      const normed = xs.map((x) => layerNorm(x, get(t, b + 'norm1.weight'), get(t, b + 'norm1.bias'), eps));
      const att = attention(model, l, t, normed, n, o);
      xs = xs.map((x, i) => x.map((v, d) => v + att[i][d]));
      xs = xs.map((x) => {
        const h = layerNorm(x, get(t, b + 'norm2.weight'), get(t, b + 'norm2.bias'), eps);
        const a = linear(h, get(t, b + 'mlp.fc1.weight'), get(t, b + 'mlp.fc1.bias')).map(gelu64);
        const m = linear(a, get(t, b + 'mlp.fc2.weight'), get(t, b + 'mlp.fc2.bias'));
        return x.map((v, d) => v + m[d]);
      });
    }
    if (t['norm.weight']) xs = xs.map((x) => layerNorm(x, get(t, 'norm.weight'), get(t, 'norm.bias'), eps));
    let pooled: Float64Array;
    if (model.pool === 'cls') {
      pooled = xs[0];
    } else {
      pooled = new Float64Array(model.dim);
      for (const x of xs) x.forEach((v, d) => (pooled[d] += v / xs.length));
    }
    if (t['fc_norm.weight']) pooled = layerNorm(pooled, get(t, 'fc_norm.weight'), get(t, 'fc_norm.bias'), eps);
    logits.set(linear(pooled, get(t, 'head.weight'), get(t, 'head.bias')), n * model.classes);
  }
  return logits;
}

/** Softmax cross-entropy against (1 - s) * onehot + s / classes, averaged over the batch. */
export function referenceCrossEntropy(logits: Float64Array, labels: ArrayLike<number>, classes: number, smoothing: number): number {
  const batch = labels.length;
  let total = 0;
  for (let n = 0; n < batch; n++) {
    const row = logits.subarray(n * classes, (n + 1) * classes);
    const m = Math.max(...row);
    let z = 0;
    for (const v of row) z += Math.exp(v - m);
    const logZ = m + Math.log(z);
    for (let c = 0; c < classes; c++) {
      const target = (c === labels[n] ? 1 - smoothing : 0) + smoothing / classes;
      total -= target * (row[c] - logZ);
    }
  }
  return total / batch;
}

export function referenceLoss(model: ModelIR, t: RefTensors, images: ArrayLike<number>, labels: ArrayLike<number>, smoothing: number): number {
  const logits = referenceLogits(model, t, images, labels.length);
  return referenceCrossEntropy(logits, labels, model.classes, smoothing);
}

/** d loss / d t[name].data[index] by central differences in float64. */
export function finiteDifference(
  model: ModelIR,
  t: RefTensors,
  images: ArrayLike<number>,
  labels: ArrayLike<number>,
  smoothing: number,
  name: string,
  index: number,
  h = 1e-6,
): number {
  const orig = get(t, name);
  const data = Float64Array.from(orig.data);
  const at = (delta: number): number => {
    data[index] = orig.data[index] + delta;
    return referenceLoss(model, { ...t, [name]: { shape: orig.shape, data } }, images, labels, smoothing);
  };
  return (at(h) - at(-h)) / (2 * h);
}
