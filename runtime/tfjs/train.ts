// runtime/train's loop on TensorFlow.js, for callers that hold a `tf` (tests, scripts): the engine
// factory of engine.ts, then the backend-independent trainer.
import { train as trainWithEngine, type TrainerOptions, type TrainResult } from '../train/trainer.js';
import type { Tf } from './backend.js';
import { tfjsEngineFactory } from './engine.js';

export function train(o: Omit<TrainerOptions, 'engine'> & { tf: Tf }): Promise<TrainResult> {
  const { tf, ...rest } = o;
  return trainWithEngine({ ...rest, engine: tfjsEngineFactory(tf, o.backend) });
}
