// The learned tensors of a model, from its IR alone: their names and shapes (timm's VisionTransformer
// state_dict: PyTorch layouts, Linear weights [out, in], the patch convolution [out, in, kh, kw]), the
// allocation state of key_norm layers, and the layout a backend holds each in. Checkpoints
// (runtime/checkpoint), every backend and the code generators (compiler/targets) read these names,
// so they are part of the IR layer: nothing here depends on how a tensor is stored or computed.
import type { LayerIR, ModelIR } from './types.js';
import { allocates } from '../graph/policy.js';
import { SCORES } from './scores.js';

export interface ParamSpec {
  name: string;
  shape: number[];
}

export interface StateSpec extends ParamSpec {
  /** A safetensors dtype (runtime/checkpoint/safetensors.ts DType). */
  dtype: 'I32' | 'F32';
}

/** Rows of the fused qkv projection: the H*hd query rows, then G*hd key rows, then G*hd value rows. */
export function qkvRows(layer: LayerIR): number {
  const a = layer.attention;
  return (a.heads + 2 * a.kvHeads) * a.headDim;
}

/** Every learned parameter of the model, in a fixed order (the order of timm's state_dict). */
export function parameterSpecs(m: ModelIR): ParamSpec[] {
  const D = m.dim;
  const specs: ParamSpec[] = [
    { name: 'patch_embed.proj.weight', shape: [D, m.image.channels, m.patch, m.patch] },
    { name: 'patch_embed.proj.bias', shape: [D] },
  ];
  if (m.pool === 'cls') specs.push({ name: 'cls_token', shape: [1, 1, D] });
  specs.push({ name: 'pos_embed', shape: [1, m.tokens, D] });
  for (const layer of m.layers) {
    const b = `blocks.${layer.index}`;
    const inner = layer.attention.heads * layer.attention.headDim;
    const hidden = layer.mlp.hidden;
    specs.push(
      { name: `${b}.norm1.weight`, shape: [D] },
      { name: `${b}.norm1.bias`, shape: [D] },
      { name: `${b}.attn.qkv.weight`, shape: [qkvRows(layer), D] },
    );
    if (m.qkvBias) specs.push({ name: `${b}.attn.qkv.bias`, shape: [qkvRows(layer)] });
    specs.push(
      { name: `${b}.attn.proj.weight`, shape: [D, inner] },
      { name: `${b}.attn.proj.bias`, shape: [D] },
      { name: `${b}.norm2.weight`, shape: [D] },
      { name: `${b}.norm2.bias`, shape: [D] },
      { name: `${b}.mlp.fc1.weight`, shape: [hidden, D] },
      { name: `${b}.mlp.fc1.bias`, shape: [hidden] },
      { name: `${b}.mlp.fc2.weight`, shape: [D, hidden] },
      { name: `${b}.mlp.fc2.bias`, shape: [D] },
    );
  }
  specs.push(
    { name: 'norm.weight', shape: [D] },
    { name: 'norm.bias', shape: [D] },
    { name: 'head.weight', shape: [m.classes, D] },
    { name: 'head.bias', shape: [m.classes] },
  );
  return specs;
}

/**
 * The non-parameter state of key_norm layers, per K/V group: the current allocation (query heads
 * per group), and the DGQA tracker's cache and score. Layers without tracking store zeros in the
 * last two, so that every key_norm layer has the same three tensors.
 */
export function stateSpecs(m: ModelIR): StateSpec[] {
  const specs: StateSpec[] = [];
  for (const layer of m.layers) {
    if (!allocates(layer)) continue;
    const b = `blocks.${layer.index}.attn.alloc`;
    const G = [layer.attention.kvHeads];
    specs.push(
      { name: `${b}.counts`, shape: G, dtype: 'I32' },
      { name: `${b}.cache`, shape: G, dtype: 'F32' },
      { name: `${b}.score`, shape: G, dtype: 'F32' },
    );
    // key_grad: the previous step's statistic, which the next allocation reads (compiler/ir/scores.ts `lagged`).
    const al = layer.attention.allocation;
    if (al.policy === 'scored' && SCORES[al.score.kind].lagged) specs.push({ name: `${b}.key_grad`, shape: G, dtype: 'F32' });
  }
  return specs;
}

/**
 * How a backend holds a tensor relative to its checkpoint layout. Layouts: a Linear weight is
 * [out, in] in a checkpoint and [in, out] in the TensorFlow.js and WebGPU backends, so the forward
 * matMul is x @ w with no transpose. The patch embedding's Conv2d weight [D, C, p, p] is held as
 * [C*p*p, D], the matrix patchify()'s rows multiply. Everything else keeps its checkpoint shape.
 * Both conversions are the transpose of the checkpoint tensor viewed as [shape[0], rest].
 */
export type Layout = 'same' | 'transposed';

export function layoutOf(spec: ParamSpec): Layout {
  const rank = spec.shape.length;
  return spec.name.endsWith('.weight') && (rank === 2 || rank === 4) ? 'transposed' : 'same';
}

/** The shape a backend holds a `transposed` tensor in: [rest, shape[0]] for transposed tensors, [C*p*p, D] for the patch conv. */
export function variableShape(spec: ParamSpec): number[] {
  if (layoutOf(spec) === 'same') return spec.shape;
  const [rows, ...rest] = spec.shape;
  return [rest.reduce((n, d) => n * d, 1), rows];
}
