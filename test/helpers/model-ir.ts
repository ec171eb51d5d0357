// Builds a complete, valid ModelIR by hand, for tests that need a model without compiling a .attn
// file. Defaults follow timm's vit_*_patch16_224: 224x224x3 images, patch 16, 1000 classes, a class
// token, qkv bias, MLP 4x, LayerNorm eps 1e-6, no dropout.
import type { AttentionIR, AttentionVariant, LayerIR, ModelIR, SourceSpan } from '../../compiler/ir/types.js';

export interface VitOptions {
  name?: string;
  image?: number;
  channels?: number;
  patch?: number;
  dim: number;
  depth: number;
  heads: number;
  /** Defaults to heads (MHA). */
  kvHeads?: number;
  classes?: number;
  pool?: 'cls' | 'mean';
  mlpRatio?: number;
  qkvBias?: boolean;
  dropout?: number;
  attnDropout?: number;
  /** The model's drop_path; layer i gets dropPath * i / (depth - 1), as timm. */
  dropPath?: number;
}

export function span(line = 1): SourceSpan {
  return { file: 'test.attn', line, col: 1, endLine: line, endCol: 2 };
}

/** 'mha' when every query head has its own K/V head, 'mqa' for one K/V head, 'gqa' otherwise. */
export function uniformVariant(heads: number, kvHeads: number): AttentionVariant {
  if (kvHeads === heads) return 'mha';
  return kvHeads === 1 ? 'mqa' : 'gqa';
}

export function uniformAttention(dim: number, heads: number, kvHeads: number): AttentionIR {
  return {
    variant: uniformVariant(heads, kvHeads),
    heads,
    kvHeads,
    headDim: dim / heads,
    compat: 'none',
    allocation: { policy: 'uniform' },
    perturb: null,
    span: span(),
  };
}

export function vitModel(o: VitOptions): ModelIR {
  const image = o.image ?? 224;
  const patch = o.patch ?? 16;
  const pool = o.pool ?? 'cls';
  const patches = (image / patch) * (image / patch);
  const kvHeads = o.kvHeads ?? o.heads;
  const dropPath = o.dropPath ?? 0;
  const layers: LayerIR[] = Array.from({ length: o.depth }, (_, index) => ({
    index,
    span: span(),
    attention: uniformAttention(o.dim, o.heads, kvHeads),
    mlp: { hidden: o.dim * (o.mlpRatio ?? 4), activation: 'gelu' },
    dropPath: o.depth > 1 ? (dropPath * index) / (o.depth - 1) : 0,
  }));
  return {
    name: o.name ?? 'vit',
    extends: [],
    span: span(),
    image: { height: image, width: image, channels: o.channels ?? 3 },
    patch,
    patches,
    tokens: patches + (pool === 'cls' ? 1 : 0),
    dim: o.dim,
    depth: o.depth,
    classes: o.classes ?? 1000,
    pool,
    norm: { kind: 'layernorm', eps: 1e-6 },
    qkvBias: o.qkvBias ?? true,
    dropout: o.dropout ?? 0,
    attnDropout: o.attnDropout ?? 0,
    layers,
  };
}
