// How much of the wasm backend's 4 GiB heap a training step needs, before the first step runs: a
// step that does not fit aborts the process with an out-of-memory error deep inside WebAssembly,
// after the data has loaded, with nothing the user can act on.
//
// The estimate is compiler/analyze.ts's activation bytes per image (what the graph keeps for the
// backward pass) times a factor measured on this backend: tfjs keeps every intermediate of the
// forward pass until the gradients are done, about ten times the minimal set. Measured with
// tf.profile's peak bytes, marginal per image (docs/training.md, "Memory"):
//   training step (forward + backward):  9.5 (ViT-Ti 32 px) to 10.8 (MNIST quickstart) x activations
//   evaluation (forward in one tf.tidy):  1.9 to 2.1 x activations
// plus about 3x the weights at batch 2 (weights, gradients, their running sum); the optimizer's slots
// add 2x (AdamW). The factors below round those up.
import { evalDependsOnBatch } from '../../compiler/graph/policy.js';
import { analyzeModel } from '../../compiler/analyze.js';
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import type { BackendCandidate } from './backend.js';
import { TrainError } from '../train/errors.js';

/** The wasm backend's memory cannot grow beyond 4 GiB (32-bit WebAssembly). */
export const WASM_HEAP_BYTES = 4 * 2 ** 30;
/**
 * Plan to fill at most this share of it, counted in tfjs tensor bytes (tf.profile's peak). The heap
 * itself stayed below the tensor bytes in every measurement (ViT-Ti 32 px, micro-batch 24: 2.42 GB of
 * tensors, a 2.06 GB heap), and the margin covers fragmentation. Measured there: micro-batch 48 (4.75
 * GB of tensors) still ran; 56 failed with a TypeError inside tfjs and 64 with "memory access out of
 * bounds", which is why the check comes first.
 */
export const HEAP_BUDGET_FRACTION = 0.9;
export const TRAIN_FACTOR = 11;
export const EVAL_FACTOR = 2.5;
/** Weights, gradients, the accumulated gradients, a temporary in the update: 4 copies, plus the slots. */
export const PARAM_COPIES = 4;

export interface MemoryPlan {
  /** Images per forward/backward pass: the run's micro_batch, or the largest divisor of batch that fits. */
  microBatch: number;
  /** Images per evaluation forward pass: eval.batch, or fewer when that does not fit. */
  evalChunk: number;
  /** Estimated bytes of a training step with microBatch images. */
  stepBytes: number;
  /** The budget the plan was made for; null when the backend has no fixed cap (native backends). */
  budgetBytes: number | null;
  /** Lines to print when the plan differs from the run. */
  notes: string[];
}

export interface MemoryEstimate {
  trainPerImage: number;
  evalPerImage: number;
  fixed: number;
}

export function estimateMemory(model: ModelIR, run: RunIR): MemoryEstimate {
  const { memory } = analyzeModel(model);
  const slots = run.optimizer.kind === 'adamw' ? 2 : run.optimizer.momentum > 0 ? 1 : 0;
  const perInput = model.image.height * model.image.width * model.image.channels * 4;
  return {
    trainPerImage: memory.activationsBytes * TRAIN_FACTOR + perInput,
    evalPerImage: memory.activationsBytes * EVAL_FACTOR + perInput,
    fixed: memory.parameterBytes * (PARAM_COPIES + slots),
  };
}

export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${(n / 2 ** 10).toFixed(1)} KiB`;
}

/**
 * The micro-batch and evaluation chunk to use on `backend`. Only wasm has a known cap; elsewhere the
 * run's settings stand. A micro-batch that would not fit is replaced by the largest divisor of the
 * batch that does (gradient accumulation gives the same losses), with a note saying so; when not even
 * one image fits, TrainError.
 */
export function planMemory(model: ModelIR, run: RunIR, backend: BackendCandidate): MemoryPlan {
  const est = estimateMemory(model, run);
  const stepBytes = (micro: number) => est.fixed + micro * est.trainPerImage;
  if (backend !== 'wasm') {
    return { microBatch: run.microBatch, evalChunk: run.eval.batch, stepBytes: stepBytes(run.microBatch), budgetBytes: null, notes: [] };
  }
  const budget = WASM_HEAP_BYTES * HEAP_BUDGET_FRACTION;
  const notes: string[] = [];
  let micro = run.microBatch;
  if (stepBytes(micro) > budget) {
    const fits = divisors(run.batch).filter((d) => d <= run.microBatch && stepBytes(d) <= budget);
    if (fits.length === 0) {
      throw new TrainError(
        `model '${model.name}' needs about ${formatBytes(est.trainPerImage)} per image to train on wasm plus ${formatBytes(est.fixed)} for weights, ` +
          `gradients and optimizer state: not even one image per pass fits in the ${formatBytes(budget)} planned of the 4 GiB wasm heap — ` +
          'use a smaller model (dim, depth, a larger patch) or a native backend (--backend tfjs-node or tfjs-node-gpu)',
      );
    }
    micro = fits[fits.length - 1]!;
    notes.push(
      `memory: micro-batches of ${run.microBatch} would need about ${formatBytes(stepBytes(run.microBatch))}, more than the ${formatBytes(budget)} ` +
        `planned of the 4 GiB wasm heap; training with micro-batches of ${micro} (${run.batch / micro} passes per step, the same losses up to float rounding; ` +
        `set micro_batch ${micro} in the run to make this explicit)`,
    );
  }
  let evalChunk = run.eval.batch;
  const evalRoom = Math.floor((budget - est.fixed) / est.evalPerImage);
  if (evalChunk > evalRoom) {
    evalChunk = Math.max(1, evalRoom);
    // KDGQA's allocation at evaluation ('recompute', one per batch) depends on the batch it sees.
    const batchDependent = model.layers.some(evalDependsOnBatch);
    notes.push(
      `memory: evaluating in passes of ${evalChunk} images rather than eval batch ${run.eval.batch} (about ${formatBytes(est.evalPerImage)} per image)` +
        (batchDependent ? '; the key-norm allocation at evaluation is then computed per pass of that size' : ''),
    );
  }
  return { microBatch: micro, evalChunk, stepBytes: stepBytes(micro), budgetBytes: budget, notes };
}

function divisors(n: number): number[] {
  const out: number[] = [];
  for (let d = 1; d <= n; d++) if (n % d === 0) out.push(d);
  return out;
}
