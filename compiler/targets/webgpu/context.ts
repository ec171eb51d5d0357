// What the forward emitters share: the context, buffer naming, and the uniform values of masks and
// random streams.
import type { ModelIR } from '../../ir/types.js';
import type { PlanBuilder } from './builder.js';
import type { UniformValue } from './plan.js';
import { dropoutThreshold } from './templates/elementwise.js';

export interface ForwardContext {
  b: PlanBuilder;
  m: ModelIR;
  batch: number;
  mode: 'train' | 'eval';
  /** Label smoothing and the loss gradient's scale (1 / the images of an optimizer step); null: eval. */
  loss: { smoothing: number; gradScale: number | null };
}

export const SEED: UniformValue = { runtime: 'seed' };
export const STEP: UniformValue = { runtime: 'step' };
export const MICRO: UniformValue = { runtime: 'microBatch' };

/** runtime/tfjs/vit.ts Site: where in a block a mask is drawn. */
export const SITE = { projDropout: 0, mlpHiddenDropout: 1, mlpOutDropout: 2, attnDropPath: 3, mlpDropPath: 4 } as const;

/** The dropout and drop-path sites at the end of each residual branch. */
export const BRANCH_SITES = { attn: [SITE.projDropout, SITE.attnDropPath], mlp: [SITE.mlpOutDropout, SITE.mlpDropPath] } as const;

export const act = (name: string) => `act:${name}`;
export const param = (name: string) => `param:${name}`;

export function phaseOf(c: ForwardContext): 'forward' | 'eval' {
  return c.mode === 'train' ? 'forward' : 'eval';
}

/** Declares an activation [rows, cols] (f32). */
export function activation(c: ForwardContext, name: string, shape: number[], dtype: 'f32' | 'u32' = 'f32'): string {
  return c.b.buffer(act(name), { kind: 'activation', shape, dtype });
}

/** The uniforms of a dropout mask (elementwise.ts maskUniforms) for a layer and site. */
export function maskValues(prefix: string, site: number, rate: number): Record<string, UniformValue> {
  const { threshold, keep } = dropoutThreshold(rate);
  return { [`${prefix}_site`]: site, [`${prefix}_threshold`]: threshold, [`${prefix}_keep`]: keep };
}

export function streamValues(layer: number): Record<string, UniformValue> {
  return { seed: SEED, step: STEP, micro: MICRO, layer };
}

export function dropoutValues(rate: number): Record<string, UniformValue> {
  const { threshold, keep } = dropoutThreshold(rate);
  return { threshold, keep };
}
