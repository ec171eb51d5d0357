// The training loop, driving any TrainingEngine (docs/training.md); backends implement the engine
// (runtime/tfjs/engine.ts, runtime/webgpu/engine.ts) and runtime/backends.ts picks one.
export { checkResumable, initEngineFromCheckpoint, initTensors, irDifferences, NonFiniteWeightsError, saveEngineCheckpoint, trainerStateOf, writeTrainingTensors } from './checkpoints.js';
export type { TrainerState } from './checkpoints.js';
export type { EngineFactory, EngineOptions, EngineTensors, EvalBatchResult, StepPosition, StepResult, TrainingEngine } from './engine.js';
export { TrainError } from './errors.js';
export { evaluate, type EvalResult } from './evaluate.js';
export { MetricsLog, readMetrics, TIMING_FIELDS, type MetricsRecord } from './metrics.js';
export { createProgress, formatStep, type Progress, type ProgressMode } from './progress.js';
export { applyOverrides, dataBaseDir, modelOf, selectRun } from './runs.js';
export { learningRate } from './schedule.js';
export { train, type TrainerOptions, type TrainResult } from './trainer.js';
