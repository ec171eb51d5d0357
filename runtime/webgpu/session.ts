// What `attnc train --backend webgpu` and `attnc eval --backend webgpu` share: the device, the line
// that says which adapter runs, the passes that fit its limits, and the engine factory.
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import type { KernelLimits } from '../../compiler/targets/webgpu/kernel.js';
import type { EngineFactory } from '../train/engine.js';
import { acquireEngineDevice, deviceLimits, type WebGpu } from './device.js';
import { WebGpuEngine } from './engine.js';
import { fitEvalBatch, fitMicroBatch } from './plans.js';

export interface WebGpuSession {
  gpu: WebGpu;
  /** For the "backend:" line: the adapter, the backend, its limits, and what was set in the environment. */
  why: string;
  limits: KernelLimits;
  /** Engines on this device (EngineOptions as the trainer gives them). */
  engine: EngineFactory;
  close(): void;
}

/** Acquires the device (throws device.ts WebGpuUnavailableError when there is none). */
export async function openWebGpuSession(): Promise<WebGpuSession> {
  const gpu = await acquireEngineDevice();
  const set = gpu.envSet.length ? ` (set ${gpu.envSet.join(', ')})` : '';
  return {
    gpu,
    why: `webgpu: ${gpu.description}${set}`,
    limits: deviceLimits(gpu.device),
    engine: (o) => WebGpuEngine.create({ ...o, gpu }),
    close: () => gpu.device.destroy(),
  };
}

/** The micro-batch and eval batch that fit the device, as runtime/tfjs/memory.ts planMemory for tfjs. */
export function planWebGpuTraining(s: WebGpuSession, model: ModelIR, run: RunIR): { microBatch: number; evalChunk: number; notes: string[] } {
  const micro = fitMicroBatch(model, run, s.limits);
  const evalChunk = fitEvalBatch(model, run.eval.batch, s.limits);
  return { microBatch: micro.batch, evalChunk: evalChunk.batch, notes: [micro.note, evalChunk.note].filter((n): n is string => n !== null) };
}
