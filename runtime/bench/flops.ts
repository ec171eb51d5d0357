// The FLOPs of one training step of a bench run: the op graph's training count per image
// (compiler/graph/measure.ts countTrainingFlops, what `attnc compile --summary` prints) times the
// run's batch. attnc bench divides them by a step's time.
import { lowerModelGraph } from '../../compiler/graph/lower.js';
import { countTrainingFlops } from '../../compiler/graph/measure.js';
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';

export interface StepFlops {
  forward: number;
  backward: number;
  optimizer: number;
  total: number;
}

export function stepFlops(model: ModelIR, run: RunIR): StepFlops {
  const t = countTrainingFlops(lowerModelGraph(model, run, { batch: 1 }), { graph: lowerModelGraph(model, run), imagesPerStep: run.batch });
  return { forward: t.forward * run.batch, backward: t.backward * run.batch, optimizer: t.optimizer ?? 0, total: t.total * run.batch };
}
