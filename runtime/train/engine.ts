// What the training loop (trainer.ts) needs from a backend: one optimizer step on a batch, evaluation
// of a batch, and the tensors of a checkpoint. The loop owns everything else (data order, the
// learning-rate schedule, metrics, progress, checkpoints, resume, the NaN stop), so every backend
// trains with the same loop. Implementations: runtime/tfjs/engine.ts (TensorFlow.js) and
// runtime/webgpu/engine.ts (a WebGPU plan), chosen by runtime/backends.ts; nothing in runtime/train
// imports a backend. docs/webgpu-runtime.md describes the contract.
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import type { OptimizerState } from '../checkpoint/names.js';
import type { Tensor } from '../checkpoint/safetensors.js';
import type { Batch } from '../data/types.js';

export interface EngineOptions {
  model: ModelIR;
  /** The run as trained (overrides applied); null: evaluation only (no optimizer, no gradients). */
  run: RunIR | null;
  /** Initialises the weights (compiler/ir/init.ts initialTensors) and keys every random stream. */
  seed: number;
  /** Images per forward/backward pass; divides run.batch (the passes of a step accumulate gradients). */
  microBatch: number;
}

/** Where a step is: the values every random stream, DGQA timing and the optimizer depend on. */
export interface StepPosition {
  /** The optimizer step, from 0. */
  step: number;
  /** The batch index within the epoch, from 0 (DGQA rule 'paper'). */
  epochStep: number;
  /** This step's learning rate (the schedule applied). */
  lr: number;
}

export interface StepResult {
  /** The mean loss over the batch (label smoothing included). */
  loss: number;
  /** Images of the batch classified right (training mode). */
  correct: number;
  /** The global gradient norm before clipping. */
  gradNorm: number;
  /** Query heads per K/V group of each key_norm layer after the step, in model.layers order. */
  counts: number[][];
}

export interface EvalBatchResult {
  /** The sum over the batch of the per-image cross-entropy (no label smoothing). */
  lossSum: number;
  correct: number;
  /** [size, classes] logits, when asked for (attnc eval needs them; the trainer does not). */
  logits?: Float32Array;
  /**
   * When logits are asked for: the query heads per K/V group each key_norm layer served in this
   * batch, [G] (one allocation for the batch) or [size * G] (one per image), in model.layers order.
   */
  counts?: number[][];
}

/** Checkpoint-layout tensors (runtime/checkpoint/names.ts): parameters, allocation state, optimizer slots. */
export interface EngineTensors {
  params: Record<string, Tensor>;
  state: Record<string, Tensor>;
  optimizer: OptimizerState;
}

export interface TrainingEngine {
  /** Recorded in checkpoints: results replay bit for bit on the same backend only. */
  readonly backend: string;
  readonly model: ModelIR;
  /** Positions in model.layers of the key_norm layers, the order of StepResult.counts. */
  readonly allocationLayers: readonly number[];
  /**
   * One optimizer step on `batch` (run.batch images): the passes, clipping and the update, which is
   * skipped when the gradient norm is not finite (a non-finite loss makes it so; the trainer stops at
   * either). The statistics are the step's one read-back.
   */
  step(batch: Batch, at: StepPosition): Promise<StepResult>;
  /** The model in inference mode on one batch of any size; `step` keys perturbations active at inference. */
  evaluate(batch: Batch, at: { step: number; logits?: boolean }): Promise<EvalBatchResult>;
  /** The allocation state's counts now (before the first step: the equal share), as StepResult.counts. */
  allocationCounts(): Promise<number[][]>;
  /** The tensors a checkpoint holds; `optimizer: false` leaves the slots out (best.safetensors). */
  checkpoint(o: { optimizer: boolean }): Promise<EngineTensors>;
  /**
   * Replaces the parameters (every one, checkpoint layout), and the allocation state and optimizer
   * slots when given; throws naming every missing or misshapen tensor.
   */
  load(t: { params: Record<string, Tensor>; state?: Record<string, Tensor>; optimizer?: OptimizerState }): Promise<void>;
  dispose(): void;
  /**
   * For attnc bench (optional): milliseconds spent in each phase since the engine was made
   * (forward, backward, optimizer), and the bytes of tensors the backend holds now.
   */
  profile?(): EngineProfile;
}

export interface EngineProfile {
  phaseMs: Record<string, number>;
  /** Milliseconds per op kind of the training graph so far (engines that time their ops). */
  opMs?: Record<string, number>;
  bytes: number;
}

export type EngineFactory = (o: EngineOptions) => Promise<TrainingEngine>;
