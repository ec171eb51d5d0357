// The per-step values a plan's dispatches name as { runtime: ... } (compiler/targets/webgpu/plan.ts
// RuntimeValue): the graph's (compiler/graph/runtime-values.ts), rounded once when packed into a uniform.
import type { Dispatch, RuntimeValue, WebGpuPlan } from '../../compiler/targets/webgpu/plan.js';
import { runtimeValues as graphRuntimeValues, type PassPosition } from '../../compiler/graph/runtime-values.js';

export type StepPosition = PassPosition;

/** The graph's runtime values (compiler/graph/runtime-values.ts) of a plan's training settings. */
export function runtimeValues(plan: WebGpuPlan, at: StepPosition): Record<RuntimeValue, number> {
  return graphRuntimeValues(plan.training, at);
}

/** A dispatch's uniforms with the runtime values filled in. */
export function resolveUniforms(d: Dispatch, values: Record<RuntimeValue, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, v] of Object.entries(d.uniforms)) out[name] = typeof v === 'number' ? v : values[v.runtime];
  return out;
}
