// What `attnc train --backend native` and `attnc eval --backend native` share: the addon (or one line
// saying how to build it), the line that says what runs, the passes, and the engine factory.
import { availableParallelism } from 'node:os';
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import type { EngineFactory } from '../train/engine.js';
import { loadNativeAddon, NativeUnavailableError, type NativeAddon } from './addon.js';
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

/**
 * The GEMMs attnc bench times for the machine's limit: square ones and the tall, thin products of a ViT's
 * linear layers (rows = images x tokens), which oneDNN runs fastest here (1024 cubed reached 180
 * GFLOP/s where 4160 x 192 x 768 reached 330 on this project's machine).
 */
const PEAK_SHAPES: readonly [number, number, number][] = [[1024, 1024, 1024], [2048, 2048, 2048], [8192, 384, 1536], [8192, 1536, 384]];

/**
 * Which library runs each matrix product. `rule` (the default): OpenBLAS when a dimension is under 16,
 * oneDNN otherwise, the same choice in every process, so a run's numbers repeat (the two round
 * differently). `fastest` times both per shape and keeps the faster: a little quicker, but close calls
 * go either way from one process to the next, and so do the last bits of the results.
 */
const GEMM_MODES = { rule: 2, fastest: -1, onednn: 0, openblas: 1 } as const;
type GemmMode = keyof typeof GEMM_MODES;

/** ATTNC_NATIVE_GEMM, else `rule`; an unknown value is refused with the choices. */
function gemmMode(): GemmMode {
  const v = process.env.ATTNC_NATIVE_GEMM;
  if (v === undefined || v === '') return 'rule';
  if (!(v in GEMM_MODES)) throw new NativeUnavailableError(`ATTNC_NATIVE_GEMM=${v} is not one of ${Object.keys(GEMM_MODES).join(', ')}`);
  return v as GemmMode;
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
  const gemm = gemmMode();
  const c = addon.configure(o.threads ?? defaultNativeThreads(), GEMM_MODES[gemm]);
  const env = ['OMP_NUM_THREADS', 'OMP_WAIT_POLICY', 'OPENBLAS_NUM_THREADS', 'OPENBLAS_CORETYPE', 'ATTNC_NATIVE_GEMM'].filter((k) => process.env[k] !== undefined).map((k) => `${k}=${process.env[k]}`);
  const gemmWhy = gemm === 'rule' ? '' : gemm === 'fastest' ? ', GEMM library timed per shape (not bit-reproducible)' : `, GEMM: ${gemm} only`;
  return {
    why: `native: CPU, ${c.threads} thread(s), oneDNN ${c.onednn} (${c.isa}), ${c.openblas.trim()}${gemmWhy}${env.length ? ` (${env.join(', ')})` : ''}`,
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
 * C = A B through the addon's GEMM (the library the session's ATTNC_NATIVE_GEMM mode picks, as for
 * every GEMM of a step) at each of PEAK_SHAPES: the best of 3 timed calls after an untimed one; the
 * fastest shape's rate is the limit.
 */
function gemmPeak(addon: NativeAddon): GemmPeak {
  let best: GemmPeak = { gflops: 0, shape: '' };
  for (const [m, k, n] of PEAK_SHAPES) {
    const a = new Float32Array(m * k).fill(0.5);
    const b = new Float32Array(k * n).fill(0.25);
    const c = new Float32Array(m * n);
    addon.matmul(a, b, c, m, k, n, false, false, false);
    let ms = Infinity;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      addon.matmul(a, b, c, m, k, n, false, false, false);
      ms = Math.min(ms, performance.now() - t0);
    }
    const gflops = (2 * m * k * n) / (ms * 1e6);
    if (gflops > best.gflops) best = { gflops, shape: `${m} x ${k} x ${n}` };
  }
  return best;
}
