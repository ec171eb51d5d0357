// Plans for the WebGPU engine, made in-process with the generator (compiler/targets/webgpu/lower.ts),
// and the largest pass that fits the device: a plan whose buffer or kernel exceeds a limit is refused
// by the generator with KernelLimitError, so the micro-batch (or eval batch) is lowered until one fits.
import type { IRDocument, ModelIR, RunIR } from '../../compiler/ir/types.js';
import { KernelLimitError, type KernelLimits } from '../../compiler/targets/webgpu/kernel.js';
import { planWebGpu, type PlannedTarget } from '../../compiler/targets/webgpu/lower.js';
import { COMPILER_ID } from '../../compiler/version.js';
import { IR_VERSION } from '../../compiler/ir/types.js';

/** The model does not fit the adapter even one image at a time: what to change is in the message. */
export class WebGpuFitError extends Error {}

/** The plan of a model at `batch` images per pass: a training step of `run` and an eval pass, or (run null) the eval pass alone. */
export function planFor(model: ModelIR, run: RunIR | null, batch: number, limits: KernelLimits): PlannedTarget {
  const doc: IRDocument = {
    irVersion: IR_VERSION, compiler: COMPILER_ID, source: `${model.name}.attn`,
    models: [model], runs: run ? [{ ...run, model: model.name }] : [], experiments: [],
  };
  return planWebGpu(doc, { model: model.name, ...(run ? { run: run.name } : {}), batch, limits });
}

export interface Fitted {
  batch: number;
  /** Said to the user when the batch is not the one asked for. */
  note: string | null;
}

/**
 * The micro-batch to train with: the run's, or the largest divisor of its batch whose plan fits
 * `limits` (buffer sizes are what grows with it). WebGpuFitError when not even 1 fits.
 */
export function fitMicroBatch(model: ModelIR, run: RunIR, limits: KernelLimits): Fitted {
  const divisors = Array.from({ length: run.microBatch }, (_, i) => run.microBatch - i).filter((d) => run.batch % d === 0);
  const { batch, why } = largestFitting(divisors, (b) => planFor(model, run, b, limits));
  if (batch === null) throw new WebGpuFitError(`model '${model.name}' does not fit this WebGPU adapter even one image per pass: ${why} — use a smaller model, or a device with larger limits`);
  return {
    batch,
    note: batch === run.microBatch ? null
      : `webgpu: micro-batches of ${run.microBatch} exceed the adapter's limits (${why}); training with micro-batches of ${batch} (${run.batch / batch} passes per step; set micro_batch ${batch} in the run to make this explicit)`,
  };
}

/** The eval batch: `wanted`, or the largest smaller one whose eval plan fits. */
export function fitEvalBatch(model: ModelIR, wanted: number, limits: KernelLimits): Fitted {
  const sizes: number[] = [];
  for (let b = wanted; b >= 1; b = b > 64 ? Math.floor(b / 2) : b - 1) sizes.push(b);
  const { batch, why } = largestFitting(sizes, (b) => planFor(model, null, b, limits));
  if (batch === null) throw new WebGpuFitError(`model '${model.name}' does not fit this WebGPU adapter even one image per pass: ${why} — use a smaller model, or a device with larger limits`);
  return { batch, note: batch === wanted ? null : `webgpu: evaluating in batches of ${batch} images rather than ${wanted} (${why})` };
}

/** The first candidate whose plan the generator accepts, and why the one before it was refused. */
function largestFitting(candidates: number[], plan: (batch: number) => unknown): { batch: number | null; why: string } {
  let why = '';
  for (const b of candidates) {
    try {
      plan(b);
      return { batch: b, why };
    } catch (e) {
      if (!(e instanceof KernelLimitError)) throw e;
      why ||= e.message;
    }
  }
  return { batch: null, why };
}
