// What `attnc train --backend native` and `attnc eval --backend native` share: the addon (or one line
// saying how to build it), the line that says what runs, the passes, and the engine factory.
import { availableParallelism } from 'node:os';
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import type { EngineFactory } from '../train/engine.js';
import { loadNativeAddon, type NativeAddon } from './addon.js';
import { NativeEngine } from './engine.js';

export interface NativeSession {
  /** For the "backend:" line. */
  why: string;
  /** The instruction set oneDNN dispatches to (dnnl_get_effective_cpu_isa: avx2, avx512_core, ...). */
  isa: string;
  threads: number;
  engine: EngineFactory;
  /** The GEMM rate this machine reaches alone through the addon (attnc bench's ceiling). */
  gemmPeak(): GemmPeak;
  close(): void;
}

export interface GemmPeak {
  gflops: number;
  /** The shape timed, M x K x N. */
  shape: string;
}

/** The square GEMM attnc bench takes as the machine's limit: large enough that the library's kernel runs at its best. */
const PEAK_SIZE = 1024;

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
    gemmPeak: () => gemmPeak(addon),
    close: () => {},
  };
}

/** The CPU has no buffer limits: the run's micro-batch and eval batch as they are. */
export function planNativeTraining(_model: ModelIR, run: RunIR): { microBatch: number; evalChunk: number; notes: string[] } {
  return { microBatch: run.microBatch, evalChunk: run.eval.batch, notes: [] };
}

/**
 * C = A B at PEAK_SIZE cubed through the addon's GEMM (oneDNN or OpenBLAS, whichever it times faster
 * for the shape, as every GEMM of a step): the best of 5 timed calls after one that makes the choice.
 */
function gemmPeak(addon: NativeAddon): GemmPeak {
  const n = PEAK_SIZE;
  const a = new Float32Array(n * n).fill(0.5);
  const b = new Float32Array(n * n).fill(0.25);
  const c = new Float32Array(n * n);
  addon.matmul(a, b, c, n, n, n, false, false, false);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    addon.matmul(a, b, c, n, n, n, false, false, false);
    best = Math.min(best, performance.now() - t0);
  }
  return { gflops: (2 * n * n * n) / (best * 1e6), shape: `${n} x ${n} x ${n}` };
}
