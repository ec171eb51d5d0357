// The training loop, driving a training engine: TensorFlow.js, or WebGPU (docs/training.md).
export { checkResumable, initEngineFromCheckpoint, initFromCheckpoint, irDifferences, NonFiniteWeightsError, restoreTraining, saveEngineCheckpoint, saveTrainingCheckpoint, trainerStateOf } from './checkpoints.js';
export type { TrainerState } from './checkpoints.js';
export type { EngineFactory, EngineOptions, EngineTensors, EvalBatchResult, StepPosition, StepResult, TrainingEngine } from './engine.js';
export { TrainError } from './errors.js';
export { evaluate, type EvalResult } from './evaluate.js';
export { estimateMemory, planMemory, type MemoryPlan } from './memory.js';
export { MetricsLog, readMetrics, TIMING_FIELDS, type MetricsRecord } from './metrics.js';
export { createOptimizer, type Optimizer, type OptimizerConfig } from './optimizer.js';
export { createProgress, formatStep, type Progress, type ProgressMode } from './progress.js';
export { applyOverrides, dataBaseDir, modelOf, selectRun } from './runs.js';
export { learningRate } from './schedule.js';
export { batchGradients, clipByGlobalNorm } from './step.js';
export { TfjsEngine } from './tfjs-engine.js';
export { train, type TrainerOptions, type TrainResult } from './trainer.js';
