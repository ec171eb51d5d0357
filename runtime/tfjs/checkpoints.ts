// Training checkpoints of the TensorFlow.js backend's own objects (a VitModel and its optimizer),
// for the tools and tests that hold them directly; the trainer itself saves and restores through the
// TrainingEngine interface (runtime/train/checkpoints.ts), which these share their checks with.
import type { RunIR } from '../../compiler/ir/types.js';
import type { Checkpoint } from '../checkpoint/names.js';
import { initTensors, writeTrainingTensors, type TrainerState } from '../train/checkpoints.js';
import type { OptimizerSlots } from './optimizer.js';
import { loadCheckpointTensors, toCheckpointTensors } from './params.js';
import type { VitModel } from './vit.js';

export interface SaveInput {
  model: VitModel;
  run: RunIR;
  /** null: no optimizer state (best.safetensors, which is for evaluation and fine-tuning). */
  optimizer: OptimizerSlots | null;
  state: TrainerState;
}

/** Writes a checkpoint atomically; refuses (NonFiniteWeightsError) rather than save NaN or Inf weights. */
export async function saveTrainingCheckpoint(path: string, s: SaveInput): Promise<void> {
  await writeTrainingTensors(path, s.model.model, s.run, {
    params: toCheckpointTensors(s.model.params),
    state: s.model.stateTensors(),
    optimizer: s.optimizer ? s.optimizer.stateTensors() : null,
  }, s.state);
}

/**
 * Loads every parameter of `file` but the head (head.weight, head.bias stay freshly initialised),
 * as fine-tuning after up-training does. The allocation state comes along when the file has it for
 * every key_norm layer of this model. Returns a line describing what was loaded.
 */
export function initFromCheckpoint(model: VitModel, c: Checkpoint, file: string): string {
  const init = initTensors(model.model, toCheckpointTensors(model.params), c, file);
  loadCheckpointTensors(model.tf, model.params, init.params);
  if (init.state) model.loadStateTensors(init.state);
  return init.line;
}

