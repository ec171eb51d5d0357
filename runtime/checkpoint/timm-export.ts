// attnc checkpoint -> timm weights: the parameters only (no optimizer moments, no allocation state), in
// timm's VisionTransformer names and PyTorch layouts, with `format: pt` as timm's own safetensors
// files say, so that `model.load_state_dict(load_file(FILE), strict=True)` loads them into
// `timm.create_model(..., **kwargs)` with the kwargs recorded in the file (docs/checkpoints.md).
//
// Only what timm's VisionTransformer computes can be exported: multi-head attention in every layer,
// the same heads, head size and MLP in every block. Grouped K/V heads have no place in timm's Attention
// (its qkv projection is [3 * dim, dim]), key_norm allocation and PGQA's noise are not timm operations;
// those checkpoints are refused with what to load instead.
import type { ModelIR } from '../../compiler/ir/types.js';
import { parameterSpecs } from '../../compiler/ir/params.js';
import type { Checkpoint } from './names.js';
import { CheckpointError, encodeSafetensors, type Tensor } from './safetensors.js';

/** Keyword arguments of timm.models.vision_transformer.VisionTransformer for the model. */
export interface TimmKwargs {
  img_size: [number, number];
  patch_size: number;
  in_chans: number;
  num_classes: number;
  embed_dim: number;
  depth: number;
  num_heads: number;
  mlp_ratio: number;
  qkv_bias: boolean;
  class_token: boolean;
  global_pool: 'token' | 'avg';
  /** With average pooling, the final norm before pooling (attnc's order), not timm's default fc_norm after it. */
  fc_norm: boolean | null;
}

/** Why timm cannot compute this model, one reason per line; empty when it can. */
export function timmIncompatibilities(m: ModelIR): string[] {
  const why: string[] = [];
  const grouped = m.layers.filter((l) => l.attention.kvHeads !== l.attention.heads || l.attention.variant !== 'mha');
  if (grouped.length) {
    const variants = [...new Set(grouped.map((l) => l.attention.variant))].join(', ');
    const l = grouped[0]!.attention;
    why.push(
      `layer(s) ${grouped.map((g) => g.index).join(', ')} use ${variants} attention (${l.heads} query heads over ${l.kvHeads} K/V heads): ` +
        `timm's VisionTransformer has multi-head attention only, its qkv projection is [3 * dim, dim], so a grouped qkv ([(heads + 2 * kv_heads) * head_dim, dim]) cannot load, ` +
        'and key_norm allocation and PGQA noise are no timm operations',
    );
  }
  const perturbed = m.layers.filter((l) => l.attention.perturb !== null && l.attention.variant === 'mha');
  if (perturbed.length) why.push(`layer(s) ${perturbed.map((l) => l.index).join(', ')} perturb their attention maps, which timm does not`);
  const first = m.layers[0]!;
  const same = m.layers.every((l) => l.attention.heads === first.attention.heads && l.attention.headDim === first.attention.headDim && l.mlp.hidden === first.mlp.hidden);
  if (!same) why.push('the blocks differ in heads, head size or MLP width (a `layers` override): timm builds every block alike');
  if (first.attention.heads * first.attention.headDim !== m.dim) why.push(`heads x head_dim (${first.attention.heads} x ${first.attention.headDim}) is not dim ${m.dim}: timm's head_dim is dim / heads`);
  // timm's hidden width is int(embed_dim * mlp_ratio), in float64 as here.
  if (Math.floor(m.dim * (first.mlp.hidden / m.dim)) !== first.mlp.hidden) why.push(`the MLP width ${first.mlp.hidden} is not int(dim * mlp_ratio) for any mlp_ratio timm would compute it from`);
  if (m.norm.eps !== 1e-6) why.push(`the LayerNorm epsilon is ${m.norm.eps}; timm's ViT uses 1e-6`);
  return why;
}

export function timmKwargs(m: ModelIR): TimmKwargs {
  const first = m.layers[0]!;
  return {
    img_size: [m.image.height, m.image.width],
    patch_size: m.patch,
    in_chans: m.image.channels,
    num_classes: m.classes,
    embed_dim: m.dim,
    depth: m.depth,
    num_heads: first.attention.heads,
    mlp_ratio: first.mlp.hidden / m.dim,
    qkv_bias: m.qkvBias,
    class_token: m.pool === 'cls',
    global_pool: m.pool === 'cls' ? 'token' : 'avg',
    fc_norm: m.pool === 'cls' ? null : false,
  };
}

/** What to load a grouped model with instead of timm. */
export const TIMM_ALTERNATIVES =
  'load it instead with the PyTorch package that `attnc compile SPEC --target pytorch` emits (its VisionTransformer reads attnc checkpoints: ' +
  'read_checkpoint and load_into, docs/pytorch.md), or with attnc itself (attnc eval); an MHA checkpoint of the same model (before attnc convert) exports to timm';

export interface TimmExport {
  bytes: Uint8Array;
  kwargs: TimmKwargs;
  tensors: number;
  /** What the checkpoint held that timm's weights leave out. */
  dropped: string[];
}

/** The checkpoint's parameters as a timm state_dict file; a CheckpointError naming why when timm cannot compute the model. */
export function exportTimm(c: Checkpoint, file: string): TimmExport {
  const m = c.meta.model;
  const why = timmIncompatibilities(m);
  if (why.length) throw new CheckpointError(file, `model '${m.name}' cannot be expressed as timm's VisionTransformer: ${why.join('; ')}; ${TIMM_ALTERNATIVES}`);
  const tensors: Record<string, Tensor> = {};
  // timm's state_dict order, which parameterSpecs keeps.
  for (const spec of parameterSpecs(m)) {
    const t = c.params[spec.name];
    if (!t) throw new CheckpointError(file, `the checkpoint lacks the parameter ${spec.name}`);
    tensors[spec.name] = t;
  }
  const kwargs = timmKwargs(m);
  const dropped: string[] = [];
  const moments = Object.values(c.optimizer).reduce((n, slot) => n + Object.keys(slot).length, 0);
  if (moments) dropped.push(`${moments} optimizer tensors (${Object.keys(c.optimizer).join(', ')})`);
  if (Object.keys(c.state).length) dropped.push(`${Object.keys(c.state).length} allocation state tensors`);
  if (c.meta.trainState) dropped.push('the training state (step, RNG, best metric)');
  const metadata = {
    format: 'pt',
    'attnc.exported_from': m.name,
    'attnc.timm_kwargs': JSON.stringify(kwargs),
  };
  return { bytes: encodeSafetensors(tensors, metadata), kwargs, tensors: Object.keys(tensors).length, dropped };
}

/** Python that builds the timm model and loads the file (printed by attnc export, shown in the docs). */
export function timmLoadSnippet(kwargs: TimmKwargs, file: string): string {
  const args = Object.entries(kwargs)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k}=${typeof v === 'boolean' ? (v ? 'True' : 'False') : Array.isArray(v) ? `(${v.join(', ')})` : typeof v === 'string' ? `'${v}'` : String(v)}`)
    .join(', ');
  return [
    'from safetensors.torch import load_file',
    'from timm.models.vision_transformer import VisionTransformer',
    `model = VisionTransformer(${args})`,
    `model.load_state_dict(load_file(${JSON.stringify(file)}), strict=True)`,
  ].join('\n');
}
