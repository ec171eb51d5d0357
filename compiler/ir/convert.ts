// MHA -> GQA conversion at the level of models (arXiv 2408.08454): which models can be converted, the
// model a conversion makes, and whether one model's weights can start another. `attnc convert`
// (runtime/checkpoint/convert.ts pools the tensors), `attnc train` (a run's `init ... convert`) and
// the compiler's checks of `init` (compiler/init-runs.ts, ir/check.ts) all use these.
import { parameterSpecs } from './params.js';
import type { AttentionVariant, ModelIR } from './types.js';

/** Why a model cannot be converted to `kvHeads` K/V heads, naming the first layer at fault; null when it can. */
export type ConversionProblem =
  | { kind: 'not_mha'; layer: number; heads: number; kvHeads: number }
  | { kind: 'does_not_divide'; layer: number; heads: number; choices: number[] };

export function conversionProblem(model: ModelIR, kvHeads: number): ConversionProblem | null {
  for (const layer of model.layers) {
    const { heads, kvHeads: current } = layer.attention;
    if (current !== heads) return { kind: 'not_mha', layer: layer.index, heads, kvHeads: current };
    if (heads % kvHeads !== 0) {
      return { kind: 'does_not_divide', layer: layer.index, heads, choices: Array.from({ length: heads }, (_, i) => i + 1).filter((g) => heads % g === 0) };
    }
  }
  return null;
}

/** The variant of a uniform-grouped attention with these heads. */
export function variantFor(heads: number, kvHeads: number, perturbed: boolean): AttentionVariant {
  if (perturbed) return 'pgqa';
  if (kvHeads === heads) return 'mha';
  return kvHeads === 1 ? 'mqa' : 'gqa';
}

/** The model after conversion: kv_heads G in every layer, uniform allocation (the caller checked conversionProblem). */
export function convertedModel(model: ModelIR, kvHeads: number): ModelIR {
  const converted: ModelIR = structuredClone(model);
  for (const layer of converted.layers) {
    const a = layer.attention;
    a.kvHeads = kvHeads;
    a.allocation = { policy: 'uniform' };
    a.variant = variantFor(a.heads, kvHeads, a.perturb !== null);
  }
  return converted;
}

const isHead = (name: string) => name.startsWith('head.');

/**
 * Why `target` cannot start from the weights of `source` (the head excepted, which a start
 * initialises afresh): the first parameter missing from one of them or shaped differently; null when
 * every parameter fits. Allocation policies may differ: they hold no parameters.
 */
export function initMismatch(source: ModelIR, target: ModelIR): string | null {
  const shapes = new Map(parameterSpecs(source).filter((s) => !isHead(s.name)).map((s) => [s.name, s.shape.join('x')]));
  for (const spec of parameterSpecs(target)) {
    if (isHead(spec.name)) continue;
    const there = shapes.get(spec.name);
    if (there === undefined) return `${spec.name} is not in the source`;
    if (there !== spec.shape.join('x')) return `${spec.name} is ${there} in the source but ${spec.shape.join('x')} in the target`;
    shapes.delete(spec.name);
  }
  const extra = [...shapes.keys()][0];
  return extra === undefined ? null : `the source has ${extra}, which the target does not`;
}
