// The per-step values a plan's dispatches name as { runtime: ... } (compiler/targets/webgpu/plan.ts
// RuntimeValue), computed on the host in float64 and rounded once when packed into a uniform.
import type { Dispatch, RuntimeValue, WebGpuPlan } from '../../compiler/targets/webgpu/plan.js';
import { seed32 } from '../../core/random.js';

export interface StepPosition {
  /** The optimizer step, from 0 (the tfjs trainer's `step`). */
  step: number;
  /** The step's index within its epoch (DGQA rule 'paper'); default: step. */
  epochStep?: number;
  /** The pass within the step, from 0; evaluation uses 0, as runtime/train/evaluate.ts. */
  microBatch?: number;
  /** This step's learning rate (the schedule applied); default: the run's lr. */
  lr?: number;
}

export function runtimeValues(plan: WebGpuPlan, at: StepPosition): Record<RuntimeValue, number> {
  const t = plan.training;
  const lr = at.lr ?? t?.lr ?? 0;
  const n = at.step + 1; // AdamW's update count including this one
  const beta1 = t?.beta1 ?? 0;
  const beta2 = t?.beta2 ?? 0;
  return {
    seed: seed32(t?.seed ?? 0),
    step: at.step,
    epochStep: at.epochStep ?? at.step,
    microBatch: at.microBatch ?? 0,
    lr,
    adamStepSize: lr / (1 - Math.pow(beta1, n)),
    adamBias2Sqrt: Math.sqrt(1 - Math.pow(beta2, n)),
    decayFactor: 1 - lr * (t?.weightDecay ?? 0),
  };
}

/** A dispatch's uniforms with the runtime values filled in. */
export function resolveUniforms(d: Dispatch, values: Record<RuntimeValue, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, v] of Object.entries(d.uniforms)) out[name] = typeof v === 'number' ? v : values[v.runtime];
  return out;
}
