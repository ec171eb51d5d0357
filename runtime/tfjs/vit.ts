// The Vision Transformer of a ModelIR in TensorFlow.js: timm's VisionTransformer, block for block, with
// the attention core of each layer (MHA, GQA, KDGQA, DGQA, PGQA) from ./attention.ts.
//
//   patchify -> linear (the patch conv) -> [cls token] -> + pos_embed
//   each block:  x = x + dropPath(dropout(proj(attn(norm1(x)))))
//                x = x + dropPath(dropout(fc2(dropout(gelu(fc1(norm2(x)))))))
//   norm -> pool (class token, or the mean of the tokens) -> head
//
// Tokens travel as a 2-D [B*T, D] matrix so every linear layer is one plain 2-D matMul (ops.ts); the
// attention core sees [B, T, (H+2G)*hd]. Randomness (dropout, stochastic depth) comes from the
// counter-based generator keyed by (seed, step, micro-batch, layer, site): a step replays exactly.

import type { Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D, Variable } from '@tensorflow/tfjs';
import type { ModelIR } from '../../compiler/ir/types.js';
import { stateSpecs } from '../../compiler/ir/params.js';
import { toFloat32Tensor, type Tensor as CheckpointTensor } from '../checkpoint/safetensors.js';
import { Purpose, seed32, streamId, uniformFloats } from '../../core/random.js';
import { attentionCore, attentionStateTensors, createAttentionState, disposeAttentionState, loadAttentionState, type AttentionState } from './attention.js';
import type { Tf } from './backend.js';
import { dropPath, dropout, gelu, layerNorm, linear, patchify, type UniformSource } from './ops.js';
import { createParams, disposeParams, type VitParams } from './params.js';

export interface ForwardContext {
  /** Dropout, attention dropout and stochastic depth are active only in training. */
  training: boolean;
  /** The optimizer step: part of every random stream's key. */
  step: number;
  /**
   * The batch index within the epoch, from 0 at each epoch's first batch: when DGQA layers of rule
   * 'paper' (compat paper) re-allocate. Absent: `step` is used, which is the same in the first epoch only.
   */
  epochStep?: number;
  /** The run seed. */
  seed: number;
  /** Which micro-batch of the step (gradient accumulation), so each gets its own masks; default 0. */
  microBatch?: number;
  /** Told each key_norm layer's query heads per group in this pass (attention.ts AttentionContext.onCounts). */
  onCounts?: (layer: number, counts: Tensor) => void;
}

/** Random-stream purpose of this module's masks: core/random.ts is the registry of purposes. */
export const DROPOUT_PURPOSE = Purpose.dropout;

/** Where in a block a mask is drawn: part of the stream key. */
export const Site = {
  projDropout: 0,
  mlpHiddenDropout: 1,
  mlpOutDropout: 2,
  attnDropPath: 3,
  mlpDropPath: 4,
} as const;

export interface VitOptions {
  seed: number;
  /** Prefix of the tfjs variable names, for a second live copy of a model (e.g. 'ema/'). */
  scope?: string;
}

export class VitModel {
  readonly params: VitParams;
  /** The attention state of each layer (null for layers without one), indexed by layer. */
  readonly state: (AttentionState | null)[];

  constructor(
    readonly tf: Tf,
    readonly model: ModelIR,
    opts: VitOptions,
  ) {
    if (model.layers.length !== model.depth) throw new Error(`model ${model.name}: ${model.layers.length} layers for depth ${model.depth}`);
    this.params = createParams(tf, model, opts.seed, opts.scope ?? '');
    this.state = model.layers.map((l) => createAttentionState(tf, l.attention));
  }

  /** The trainable variables, in checkpoint (timm state_dict) order. */
  get variables(): Variable[] {
    return this.params.list.map((p) => p.variable);
  }

  private v<T extends Tensor = Tensor2D>(name: string): T {
    const p = this.params.byName.get(name);
    if (!p) throw new Error(`model ${this.model.name} has no parameter ${name}`);
    return p.variable as unknown as T;
  }

  /** linear() with the parameters `<prefix>.weight` and, when the model has it, `<prefix>.bias`. */
  private dense(x: Tensor2D, prefix: string): Tensor2D {
    const bias = this.params.byName.get(`${prefix}.bias`)?.variable as unknown as Tensor1D | undefined;
    return linear(this.tf, x, this.v(`${prefix}.weight`), bias);
  }

  private norm(x: Tensor2D, prefix: string): Tensor2D {
    return layerNorm(this.tf, x, this.v<Tensor1D>(`${prefix}.weight`), this.v<Tensor1D>(`${prefix}.bias`), this.model.norm.eps);
  }

  /** Logits [B, classes] for NHWC float32 images [B, H, W, C]. */
  forward(x: Tensor4D, ctx: ForwardContext): Tensor2D {
    const { tf, model: m } = this;
    const [batch, height, width, channels] = x.shape;
    if (height !== m.image.height || width !== m.image.width || channels !== m.image.channels) {
      throw new Error(`model ${m.name} takes ${m.image.height}x${m.image.width}x${m.image.channels} images, got ${height}x${width}x${channels}`);
    }
    if (x.dtype !== 'float32') throw new Error(`model ${m.name} takes float32 images, got ${x.dtype}`);
    const T = m.tokens;
    const D = m.dim;
    const random = ctx.training ? this.masks(ctx) : null;
    return tf.tidy(() => {
      const patches = this.dense(patchify(tf, x, m.patch), 'patch_embed.proj');
      let seq = tf.reshape(patches, [batch, m.patches, D]) as Tensor3D;
      if (m.pool === 'cls') seq = tf.concat([tf.tile(this.v<Tensor3D>('cls_token'), [batch, 1, 1]), seq], 1);
      let h = tf.reshape(tf.add(seq, this.v('pos_embed')), [batch * T, D]) as Tensor2D;
      m.layers.forEach((layer, i) => (h = this.block(h, batch, i, ctx, random)));
      const tokens = tf.reshape(this.norm(h, 'norm'), [batch, T, D]) as Tensor3D;
      // Class token: row 0 of each sample (slice: stridedSlice has no gradient). Mean: all tokens.
      const pooled = m.pool === 'cls' ? tf.reshape(tf.slice(tokens, [0, 0, 0], [batch, 1, D]), [batch, D]) : tf.mean(tokens, 1);
      return this.dense(pooled as Tensor2D, 'head');
    });
  }

  /** Block i (position in model.layers) on the [B*T, D] token rows. */
  private block(h: Tensor2D, batch: number, i: number, ctx: ForwardContext, random: MaskStreams | null): Tensor2D {
    const { tf, model: m } = this;
    const layer = m.layers[i];
    const a = layer.attention;
    const b = `blocks.${layer.index}`;
    const rows = h.shape[0];

    const qkv = this.dense(this.norm(h, `${b}.norm1`), `${b}.attn.qkv`);
    const attended = attentionCore(tf, tf.reshape(qkv, [batch, rows / batch, qkv.shape[1]]) as Tensor3D, a, {
      training: ctx.training,
      step: ctx.step,
      epochStep: ctx.epochStep,
      seed: ctx.seed,
      layer: layer.index,
      state: this.state[i],
      attnDropout: m.attnDropout,
      microBatch: ctx.microBatch ?? 0,
      onCounts: ctx.onCounts,
    });
    let y = this.dense(tf.reshape(attended, [rows, a.heads * a.headDim]) as Tensor2D, `${b}.attn.proj`);
    if (random) {
      y = dropout(tf, y, m.dropout, random(layer.index, Site.projDropout));
      y = this.dropPathRows(y, batch, layer.dropPath, random(layer.index, Site.attnDropPath));
    }
    h = tf.add(h, y);

    let z = gelu(tf, this.dense(this.norm(h, `${b}.norm2`), `${b}.mlp.fc1`));
    if (random) z = dropout(tf, z, m.dropout, random(layer.index, Site.mlpHiddenDropout));
    z = this.dense(z, `${b}.mlp.fc2`);
    if (random) {
      z = dropout(tf, z, m.dropout, random(layer.index, Site.mlpOutDropout));
      z = this.dropPathRows(z, batch, layer.dropPath, random(layer.index, Site.mlpDropPath));
    }
    return tf.add(h, z);
  }

  /** Stochastic depth on [B*T, D] rows: one draw per sample, shared by its T rows. */
  private dropPathRows(y: Tensor2D, batch: number, rate: number, uniforms: UniformSource): Tensor2D {
    if (rate <= 0) return y;
    const { tf } = this;
    const perSample = tf.reshape(y, [batch, y.size / batch]);
    return tf.reshape(dropPath(tf, perSample, rate, uniforms), y.shape) as Tensor2D;
  }

  private masks(ctx: ForwardContext): MaskStreams {
    const seed = seed32(ctx.seed);
    const micro = ctx.microBatch ?? 0;
    return (layer, site) => (count) => uniformFloats(seed, streamId(DROPOUT_PURPOSE, site, layer, ctx.step, micro), count);
  }

  /**
   * The allocation state of key_norm layers as checkpoint tensors (names.ts stateSpecs:
   * blocks.<i>.attn.alloc.counts as I32, .cache and .score as F32).
   */
  stateTensors(): Record<string, CheckpointTensor> {
    const out: Record<string, CheckpointTensor> = {};
    for (const spec of stateSpecs(this.model)) {
      const { layer, field } = stateName(spec.name);
      const t = attentionStateTensors(this.stateOf(layer))[field];
      const values = t.dataSync() as Float32Array;
      out[spec.name] = spec.dtype === 'I32'
        ? { dtype: 'I32', shape: [...spec.shape], data: Int32Array.from(values, Math.round) }
        : { dtype: 'F32', shape: [...spec.shape], data: Float32Array.from(values) };
    }
    return out;
  }

  /** Loads what stateTensors wrote (integer counts may come as I32 or any float dtype). */
  loadStateTensors(tensors: Record<string, CheckpointTensor>): void {
    const { tf } = this;
    const perLayer = new Map<number, Record<string, Tensor>>();
    try {
      for (const spec of stateSpecs(this.model)) {
        const t = tensors[spec.name];
        if (!t) throw new Error(`the checkpoint has no ${spec.name}`);
        const data = t.dtype === 'I32' ? Float32Array.from(t.data as Int32Array) : (toFloat32Tensor(t).data as Float32Array);
        const { layer, field } = stateName(spec.name);
        if (!perLayer.has(layer)) perLayer.set(layer, {});
        perLayer.get(layer)![field] = tf.tensor(data, t.shape, 'float32');
      }
      for (const [layer, ts] of perLayer) loadAttentionState(this.stateOf(layer), ts);
    } finally {
      for (const ts of perLayer.values()) tf.dispose(Object.values(ts));
    }
  }

  private stateOf(layer: number): AttentionState {
    const s = this.state[layer];
    if (!s) throw new Error(`layer ${layer} of model ${this.model.name} has no allocation state`);
    return s;
  }

  dispose(): void {
    disposeParams(this.params);
    for (const s of this.state) if (s) disposeAttentionState(s);
  }
}

type MaskStreams = (layer: number, site: number) => UniformSource;

function stateName(name: string): { layer: number; field: 'counts' | 'cache' | 'score' } {
  const m = /^blocks\.(\d+)\.attn\.alloc\.(counts|cache|score)$/.exec(name);
  if (!m) throw new Error(`not an allocation state tensor: ${name}`);
  return { layer: Number(m[1]), field: m[2] as 'counts' | 'cache' | 'score' };
}
