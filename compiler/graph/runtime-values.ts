// The values a graph's runtime attributes name (types.ts RuntimeValue) for a pass: computed on the host
// in float64 from the graph's training settings, once, for every backend that executes the graph.
import { seed32 } from '../../core/random.js';
import type { GraphTraining, RuntimeValue } from './types.js';

export interface PassPosition {
  /** The optimizer step, from 0. */
  step: number;
  /** The step's index within its epoch (DGQA rule 'paper'); default: step. */
  epochStep?: number;
  /** The pass within the step, from 0; evaluation uses 0. */
  microBatch?: number;
  /** This step's learning rate (the schedule applied); default: the run's lr. */
  lr?: number;
  /** The run seed; default: the graph's. */
  seed?: number;
}

export function runtimeValues(training: GraphTraining | null, at: PassPosition): Record<RuntimeValue, number> {
  const lr = at.lr ?? training?.lr ?? 0;
  const n = at.step + 1; // AdamW's update count including this one
  const beta1 = training?.beta1 ?? 0;
  const beta2 = training?.beta2 ?? 0;
  return {
    seed: seed32(at.seed ?? training?.seed ?? 0),
    step: at.step,
    epochStep: at.epochStep ?? at.step,
    microBatch: at.microBatch ?? 0,
    lr,
    adamStepSize: lr / (1 - Math.pow(beta1, n)),
    adamBias2Sqrt: Math.sqrt(1 - Math.pow(beta2, n)),
    decayFactor: 1 - lr * (training?.weightDecay ?? 0),
  };
}
