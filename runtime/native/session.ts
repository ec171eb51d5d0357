// What `attnc train --backend native` and `attnc eval --backend native` share: the addon (or one line
// saying how to build it), the line that says what runs, the passes, and the engine factory.
import { availableParallelism } from 'node:os';
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import type { EngineFactory } from '../train/engine.js';
import { loadNativeAddon } from './addon.js';
import { NativeEngine } from './engine.js';

export interface NativeSession {
  /** For the "backend:" line. */
  why: string;
  /** The instruction set oneDNN dispatches to (dnnl_get_effective_cpu_isa: avx2, avx512_core, ...). */
  isa: string;
  threads: number;
  engine: EngineFactory;
  close(): void;
}

/** Threads the native backend runs with unless told: the cores this process may use (OMP_NUM_THREADS when set). */
export function defaultNativeThreads(): number {
  const set = Number(process.env.OMP_NUM_THREADS);
  return Number.isSafeInteger(set) && set >= 1 ? set : availableParallelism();
}

/**
 * Loads the addon (throws addon.ts NativeUnavailableError, whose message says how to build it) and
 * sets its thread count (oneDNN's and the hand-written kernels' OpenMP threads, and OpenBLAS's).
 */
export function openNativeSession(o: { threads?: number } = {}): NativeSession {
  const addon = loadNativeAddon();
  const c = addon.configure(o.threads ?? defaultNativeThreads());
  const env = ['OMP_NUM_THREADS', 'OMP_WAIT_POLICY', 'OPENBLAS_NUM_THREADS', 'OPENBLAS_CORETYPE'].filter((k) => process.env[k] !== undefined).map((k) => `${k}=${process.env[k]}`);
  return {
    why: `native: CPU, ${c.threads} thread(s), oneDNN ${c.onednn} (${c.isa}), ${c.openblas.trim()}${env.length ? ` (${env.join(', ')})` : ''}`,
    isa: c.isa,
    threads: c.threads,
    engine: (e) => NativeEngine.create(e),
    close: () => {},
  };
}

/** The CPU has no buffer limits: the run's micro-batch and eval batch as they are. */
export function planNativeTraining(_model: ModelIR, run: RunIR): { microBatch: number; evalChunk: number; notes: string[] } {
  return { microBatch: run.microBatch, evalChunk: run.eval.batch, notes: [] };
}
