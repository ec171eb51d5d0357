// A VitModel with a checkpoint's weights and allocation state, ready to evaluate. (runtime/tfjs/checkpoints.ts has
// initFromCheckpoint, which re-initialises the head; evaluation wants every tensor as it was saved;
// training restores through its engine, runtime/tfjs/engine.ts.)
import type { Checkpoint } from '../checkpoint/names.js';
import { stateSpecs } from '../../compiler/ir/params.js';
import type { Tf } from './backend.js';
import { loadCheckpointTensors } from './params.js';
import { VitModel } from './vit.js';
import { AllocationTap } from './allocation-tap.js';

export interface LoadedModel {
  model: VitModel;
  /** Reports the allocation each key_norm layer used in each forward pass (allocation-tap.ts). */
  tap: AllocationTap;
}

let instances = 0;

/**
 * Builds the checkpoint's model on `tf` and loads its parameters and allocation state. tfjs variable
 * names are global to the engine, so each model gets its own scope: evaluating in a process that
 * holds another model of the same names (a test, a training run) does not collide with it.
 */
export function modelFromCheckpoint(tf: Tf, c: Checkpoint): LoadedModel {
  const tap = new AllocationTap();
  // The seed only initialises weights that the checkpoint then overwrites.
  const model = new VitModel(tf, c.meta.model, { seed: 0, scope: `eval${++instances}/` });
  try {
    loadCheckpointTensors(tf, model.params, c.params);
    if (stateSpecs(c.meta.model).length > 0) model.loadStateTensors(c.state);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, tap };
}
