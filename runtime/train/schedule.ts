// The learning rate of every optimizer step: linear warmup, then cosine, linear or constant decay to
// min_lr. A pure function of the step, so a resumed run gets exactly the rates of an unbroken one.
import type { RunIR } from '../../compiler/ir/types.js';

export type Schedule = RunIR['schedule'];

/**
 * The learning rate of optimizer step `step` (0-based) of `totalSteps`:
 *   warmup (step < W):  base * (step + 1) / W       (the first step already moves; it reaches base at W - 1)
 *   after, with p = (step - W) / (totalSteps - W) in [0, 1):
 *     cosine:    minLr + (base - minLr) * (1 + cos(pi * p)) / 2
 *     linear:    base + (minLr - base) * p
 *     constant:  base
 * min_lr is the floor the decay approaches at the end (timm's lr_min); warmup starts from 0.
 */
export function learningRate(schedule: Schedule, base: number, step: number, totalSteps: number): number {
  if (!Number.isInteger(step) || step < 0) throw new RangeError(`learningRate: step must be a whole number >= 0, got ${step}`);
  const warmup = schedule.warmupSteps;
  if (step < warmup) return (base * (step + 1)) / warmup;
  if (schedule.kind === 'constant') return base;
  const decaySteps = Math.max(1, totalSteps - warmup);
  const p = Math.min(1, (step - warmup) / decaySteps);
  if (schedule.kind === 'linear') return base + (schedule.minLr - base) * p;
  return schedule.minLr + ((base - schedule.minLr) * (1 + Math.cos(Math.PI * p))) / 2;
}
