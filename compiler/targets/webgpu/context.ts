// The uniform values of random streams and masks that several kernels share.
import type { UniformValue } from './plan.js';
import { dropoutThreshold } from './templates/elementwise.js';

export const SEED: UniformValue = { runtime: 'seed' };
export const STEP: UniformValue = { runtime: 'step' };
export const MICRO: UniformValue = { runtime: 'microBatch' };

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
