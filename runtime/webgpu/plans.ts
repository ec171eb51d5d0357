// Plans for the WebGPU engine, made in-process with the generator (compiler/targets/webgpu/lower.ts),
// and the largest pass that fits the device: a plan whose buffer or kernel exceeds a limit is refused
// by the generator with KernelLimitError, so the micro-batch (or eval batch) is lowered until one fits.
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import { KernelLimitError, type KernelLimits } from '../../compiler/targets/webgpu/kernel.js';
import type { PlannedTarget } from '../../compiler/targets/webgpu/lower.js';
import { totalmem } from 'node:os';
import { planFor } from './plan-for.js';

export { planFor } from './plan-for.js';

/** The model does not fit the adapter even one image at a time: what to change is in the message. */
export class WebGpuFitError extends Error {}

// ---------------------------------------------------------------------------------------------
// Memory: WebGPU cannot say how much memory an adapter has, and a plan far too large for the machine
// (ViT-L/16 at 224 px, batch 256) used to allocate for minutes, swapping, without finishing a step.
// So the plan's buffers are added up before anything is allocated and compared with a budget: 75% of
// the host's memory (software adapters such as llvmpipe, and integrated GPUs, allocate there; a
// discrete GPU rarely has more), or ATTNC_WEBGPU_MEMORY_GIB when set.

export const MEMORY_BUDGET_ENV = 'ATTNC_WEBGPU_MEMORY_GIB';
const HOST_SHARE = 0.75;

export interface MemoryBudget {
  bytes: number;
  /** Where the figure comes from, for messages. */
  why: string;
}

const GIB = 2 ** 30;
export function gib(bytes: number): string {
  return `${(bytes / GIB).toFixed(bytes < 10 * GIB ? 2 : 1)} GiB`;
}

/** The memory WebGPU buffers may take: ATTNC_WEBGPU_MEMORY_GIB, else 75% of the host's memory. */
export function memoryBudget(env: Record<string, string | undefined> = process.env, hostBytes: number = totalmem()): MemoryBudget {
  const set = env[MEMORY_BUDGET_ENV];
  if (set !== undefined && set !== '') {
    const n = Number(set);
    if (!Number.isFinite(n) || n <= 0) throw new WebGpuFitError(`${MEMORY_BUDGET_ENV}=${set} is not a positive number of GiB (the memory WebGPU buffers may take)`);
    return { bytes: n * GIB, why: `${MEMORY_BUDGET_ENV}=${set}` };
  }
  return { bytes: hostBytes * HOST_SHARE, why: `75% of this machine's ${gib(hostBytes)} of memory; set ${MEMORY_BUDGET_ENV} to the adapter's own` };
}

/** A plan's buffers in bytes: those that live across steps (weights, gradients, optimizer and allocation state) and the rest. */
export function planMemory(p: PlannedTarget): { total: number; persistent: number; perPass: number } {
  let persistent = 0;
  let perPass = 0;
  for (const b of p.plan.buffers) {
    if (b.kind === 'param' || b.kind === 'grad' || b.kind === 'optimizer-state' || b.kind === 'state') persistent += b.bytes;
    else perPass += b.bytes;
  }
  return { total: persistent + perPass, persistent, perPass };
}

/** Why a plan does not fit the budget, with the figures; null when it fits. */
function overBudget(p: PlannedTarget, budget: MemoryBudget, batch: number): string | null {
  const m = planMemory(p);
  if (m.total <= budget.bytes) return null;
  return `${batch} image(s) per pass need about ${gib(m.total)} of WebGPU buffers (weights, gradients and optimizer state ${gib(m.persistent)}, activations and scratch ${gib(m.perPass)}), more than the ${gib(budget.bytes)} budget (${budget.why})`;
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
export function fitMicroBatch(model: ModelIR, run: RunIR, limits: KernelLimits, budget: MemoryBudget = memoryBudget()): Fitted {
  const divisors = Array.from({ length: run.microBatch }, (_, i) => run.microBatch - i).filter((d) => run.batch % d === 0);
  const { batch, why, last } = largestFitting(divisors, (b) => planFor(model, run, b, limits), budget);
  if (batch === null) throw new WebGpuFitError(`model '${model.name}' does not fit this WebGPU adapter even one image per pass: ${last} — use a smaller model, or a device with larger limits`);
  return {
    batch,
    note: batch === run.microBatch ? null
      : `webgpu: micro-batches of ${run.microBatch} exceed the adapter's limits (${why}); training with micro-batches of ${batch} (${run.batch / batch} passes per step; set micro_batch ${batch} in the run to make this explicit)`,
  };
}

/** The eval batch: `wanted`, or the largest smaller one whose eval plan fits. */
export function fitEvalBatch(model: ModelIR, wanted: number, limits: KernelLimits, budget: MemoryBudget = memoryBudget()): Fitted {
  const sizes: number[] = [];
  for (let b = wanted; b >= 1; b = b > 64 ? Math.floor(b / 2) : b - 1) sizes.push(b);
  const { batch, why, last } = largestFitting(sizes, (b) => planFor(model, null, b, limits), budget);
  if (batch === null) throw new WebGpuFitError(`model '${model.name}' does not fit this WebGPU adapter even one image per pass: ${last} — use a smaller model, or a device with larger limits`);
  return { batch, note: batch === wanted ? null : `webgpu: evaluating in batches of ${batch} images rather than ${wanted} (${why})` };
}

/**
 * The first candidate whose plan the generator accepts and whose buffers fit the memory budget, and
 * why the first one was refused. Only plans are made here (JSON descriptions): nothing is allocated.
 */
function largestFitting(candidates: number[], plan: (batch: number) => PlannedTarget, budget: MemoryBudget): { batch: number | null; why: string; last: string } {
  let why = '';
  let last = '';
  for (const b of candidates) {
    try {
      const p = plan(b);
      const over = overBudget(p, budget, b);
      if (over === null) return { batch: b, why, last };
      last = over;
    } catch (e) {
      if (!(e instanceof KernelLimitError)) throw e;
      last = e.message;
    }
    why ||= last;
  }
  return { batch: null, why, last };
}
