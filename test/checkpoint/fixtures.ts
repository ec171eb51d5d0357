// Small hand-built models and tensors for the checkpoint tests. Every ModelIR field is set explicitly,
// as the compiler would, so the tests do not depend on the compiler.
import type { AllocationIR, LayerIR, ModelIR, SourceSpan } from '../../compiler/ir/types.js';
import { parameterSpecs, stateSpecs } from '../../compiler/ir/params.js';
import { shapeSize, type Tensor } from '../../runtime/checkpoint/safetensors.js';

export const span: SourceSpan = { file: 'tiny.attn', line: 1, col: 1, endLine: 1, endCol: 10 };

export interface TinyOptions {
  heads?: number;
  kvHeads?: number;
  headDim?: number;
  depth?: number;
  pool?: 'cls' | 'mean';
  qkvBias?: boolean;
  /** Allocation per layer index; uniform where absent. */
  allocation?: Record<number, AllocationIR>;
}

export const keyNormAllocation: AllocationIR = {
  policy: 'scored',
  score: { kind: 'key_norm', norm: 'l2' },
  scale: 'minmax',
  rounding: 'largest_remainder',
  min: 1,
  scope: 'batch',
  eval: 'frozen',
  track: { kind: 'ema', decay: 0.9, rule: 'attnc' },
  window: 10,
  init: 'uniform',
};

/** An 8x8x3 image in 4x4 patches (4 patches), dim = heads * headDim, MLP hidden 2 * dim, 3 classes. */
export function tinyModel(o: TinyOptions = {}): ModelIR {
  const heads = o.heads ?? 4;
  const kvHeads = o.kvHeads ?? heads;
  const headDim = o.headDim ?? 2;
  const depth = o.depth ?? 2;
  const pool = o.pool ?? 'cls';
  const dim = heads * headDim;
  const layers: LayerIR[] = Array.from({ length: depth }, (_, index) => ({
    index,
    span,
    attention: {
      // as compiler/lower.ts variantOf labels it (checkpoint readers check the label)
      variant: o.allocation?.[index]?.policy === 'scored' ? (o.allocation[index]!.track ? 'dgqa' : 'kdgqa') : kvHeads === heads ? 'mha' : kvHeads === 1 ? 'mqa' : 'gqa',
      heads,
      kvHeads,
      headDim,
      compat: 'none',
      allocation: o.allocation?.[index] ?? { policy: 'uniform' },
      perturb: null,
      span,
    },
    mlp: { hidden: 2 * dim, activation: 'gelu' },
    dropPath: 0.1 * index,
  }));
  return {
    name: 'tiny',
    extends: [],
    span,
    image: { height: 8, width: 8, channels: 3 },
    patch: 4,
    patches: 4,
    tokens: pool === 'cls' ? 5 : 4,
    dim,
    depth,
    classes: 3,
    pool,
    norm: { kind: 'layernorm', eps: 1e-6 },
    qkvBias: o.qkvBias ?? true,
    dropout: 0,
    attnDropout: 0,
    layers,
  };
}

/** A deterministic F32 tensor whose values depend on a seed and the position. */
export function f32(shape: number[], seed = 1): Tensor {
  const data = new Float32Array(shapeSize(shape));
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(seed * 7.13 + i * 0.37);
  return { dtype: 'F32', shape, data };
}

export function paramsFor(m: ModelIR, seed = 1): Record<string, Tensor> {
  return Object.fromEntries(parameterSpecs(m).map((s, i) => [s.name, f32(s.shape, seed + i)]));
}

export function stateFor(m: ModelIR): Record<string, Tensor> {
  return Object.fromEntries(
    stateSpecs(m).map((s) => {
      const n = shapeSize(s.shape);
      const t: Tensor = s.dtype === 'I32' ? { dtype: 'I32', shape: s.shape, data: new Int32Array(n).fill(2) } : f32(s.shape, 99);
      return [s.name, t];
    }),
  );
}
