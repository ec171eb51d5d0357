// What `attnc train --backend native` and `attnc eval --backend native` share: the addon (or one line
// saying how to build it), the line that says what runs, the passes, and the engine factory.
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import type { EngineFactory } from '../train/engine.js';
import { loadNativeAddon } from './addon.js';
import { NativeEngine } from './engine.js';

export interface NativeSession {
  /** For the "backend:" line. */
  why: string;
  engine: EngineFactory;
  close(): void;
}

/** Loads the addon (throws addon.ts NativeUnavailableError, whose message says how to build it). */
export function openNativeSession(): NativeSession {
  const addon = loadNativeAddon();
  const c = addon.configure();
  const env = ['OMP_NUM_THREADS', 'OMP_WAIT_POLICY', 'OPENBLAS_NUM_THREADS', 'OPENBLAS_CORETYPE'].filter((k) => process.env[k] !== undefined).map((k) => `${k}=${process.env[k]}`);
  return {
    why: `native: CPU, ${c.threads} thread(s), oneDNN ${c.onednn}, ${c.openblas.trim()}${env.length ? ` (${env.join(', ')})` : ''}`,
    engine: (o) => NativeEngine.create(o),
    close: () => {},
  };
}

/** The CPU has no buffer limits: the run's micro-batch and eval batch as they are. */
export function planNativeTraining(_model: ModelIR, run: RunIR): { microBatch: number; evalChunk: number; notes: string[] } {
  return { microBatch: run.microBatch, evalChunk: run.eval.batch, notes: [] };
}
