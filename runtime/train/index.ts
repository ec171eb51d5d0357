// The training loop of the TensorFlow.js backend (docs/training.md).
export { checkResumable, initFromCheckpoint, irDifferences, NonFiniteWeightsError, restoreTraining, saveTrainingCheckpoint, trainerStateOf } from './checkpoints.js';
export type { TrainerState } from './checkpoints.js';
export { TrainError } from './errors.js';
export { evaluate, type EvalResult } from './evaluate.js';
export { estimateMemory, planMemory, type MemoryPlan } from './memory.js';
export { MetricsLog, readMetrics, TIMING_FIELDS, type MetricsRecord } from './metrics.js';
export { createOptimizer, type Optimizer, type OptimizerConfig } from './optimizer.js';
export { createProgress, formatStep, type Progress, type ProgressMode } from './progress.js';
export { applyOverrides, dataBaseDir, modelOf, selectRun } from './runs.js';
export { learningRate } from './schedule.js';
export { batchGradients, clipByGlobalNorm } from './step.js';
export { train, type TrainerOptions, type TrainResult } from './trainer.js';
