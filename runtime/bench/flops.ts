// The FLOPs of one training step of a bench run, from the op graph at the run's micro-batch: what the
// nodes of the forward, backward and optimizer phases declare (compiler/graph/measure.ts phaseFlops,
// the count `attnc compile --summary` prints per image). attnc bench divides them by a step's time.
import { lowerModelGraph } from '../../compiler/graph/lower.js';
import { phaseFlops } from '../../compiler/graph/measure.js';
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';

export interface StepFlops {
  forward: number;
  backward: number;
  optimizer: number;
  total: number;
}

export function stepFlops(model: ModelIR, run: RunIR): StepFlops {
  const graph = lowerModelGraph(model, run, { batch: run.microBatch });
  const passes = run.batch / run.microBatch;
  const forward = phaseFlops(graph.phases.forward) * passes;
  const backward = phaseFlops(graph.phases.backward) * passes;
  const optimizer = phaseFlops(graph.phases.optimizer);
  return { forward, backward, optimizer, total: forward + backward + optimizer };
}
