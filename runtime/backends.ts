// The backend registry: the one module that turns `--backend NAME` into a backend, and so the one
// module of runtime/ outside a backend folder that imports the backends (test/architecture.test.ts
// enforces it). runtime/train and runtime/eval know only the TrainingEngine interface
// (runtime/train/engine.ts) and the report types of runtime/eval; what differs between backends
// (choosing the device, fitting batches to its memory, evaluating a checkpoint) is answered here.
import type { ModelIR, RunIR } from '../compiler/ir/types.js';
import type { Checkpoint } from './checkpoint/names.js';
import type { Dataset } from './data/types.js';
import type { EvalOptions, EvalReport } from './eval/evaluate.js';
import type { AnalysisOptions } from './eval/analysis.js';
import type { AnalysisReport } from './eval/similarity.js';
import { analyzeAttention } from './tfjs/analyze.js';
import type { EngineFactory } from './train/engine.js';
import { selectBackend, type BackendPreference, type SelectedBackend } from './tfjs/backend.js';
import { tfjsEngineFactory } from './tfjs/engine.js';
import { evaluateModel, fitEvalBatch } from './tfjs/evaluate.js';
import { modelFromCheckpoint } from './tfjs/load-model.js';
import { planMemory } from './tfjs/memory.js';
import { WebGpuUnavailableError } from './webgpu/device.js';
import { evaluateOnWebGpu } from './webgpu/evaluate.js';
import { fitEvalBatch as fitWebGpuEvalBatch, WebGpuFitError } from './webgpu/plans.js';
import { openWebGpuSession, planWebGpuTraining } from './webgpu/session.js';
import { NativeUnavailableError } from './native/addon.js';
import { openNativeSession, planNativeTraining, type GemmPeak } from './native/session.js';

export type { GemmPeak };
import { checkEvalData, evaluateEngine } from './eval/evaluate.js';

/** The values of --backend: auto (native when built, else TensorFlow.js's first that loads), TensorFlow.js's, the WebGPU plan, or the native CPU addon. */
export const BACKEND_NAMES: readonly (BackendPreference | 'webgpu' | 'native')[] = ['auto', 'wasm', 'cpu', 'tfjs-node', 'tfjs-node-gpu', 'webgpu', 'native'];
export type BackendName = (typeof BACKEND_NAMES)[number];

/** The chosen backend is not available here; the message says what to do. */
export class BackendUnavailableError extends Error {}

/** The micro-batch and evaluation chunk a run trains with on a backend, and lines saying why. */
export interface TrainingPlan {
  microBatch: number;
  evalChunk: number;
  notes: string[];
}

export interface Backend {
  /** Recorded in checkpoints (wasm, cpu, tfjs-node, ..., webgpu). */
  name: string;
  /** For the "backend:" line. */
  why: string;
  /** Creates this backend's TrainingEngine. */
  engine: EngineFactory;
  planTraining(model: ModelIR, run: RunIR): TrainingPlan;
  /** The evaluation batch: `wanted`, or the most images that fit, with a note. */
  fitEvalBatch(model: ModelIR, wanted: number): { batch: number; note: string | null };
  /** attnc eval of a checkpoint on this backend. */
  evaluate(c: Checkpoint, data: Dataset, o: EvalOptions): Promise<EvalReport>;
  /** attnc eval --analyze: the PGQA analysis of a checkpoint (TensorFlow.js backends only). */
  analyze(c: Checkpoint, data: Dataset, o: AnalysisOptions): Promise<AnalysisReport>;
  /** attnc bench's ceiling: the GEMM GFLOP/s this backend reaches alone (native only). */
  gemmPeak?(): GemmPeak;
  close(): void;
}

/** How a backend is opened: the native backend's thread count (default: the cores available). */
export interface BackendOptions {
  threads?: number;
  /** For --analyze, which only TensorFlow.js runs: `auto` then passes over the native addon. */
  analysis?: boolean;
}

/**
 * Opens the backend `name`; BackendUnavailableError when it cannot be had. `auto` is the native addon
 * when it is built (this machine's CPU through oneDNN), else TensorFlow.js's first that loads
 * (tfjs-node-gpu, tfjs-node, wasm, cpu), its "backend:" line saying why native was passed over.
 */
export async function openBackend(name: BackendName, o: BackendOptions = {}): Promise<Backend> {
  if (o.threads !== undefined && name !== 'native' && name !== 'auto') {
    throw new BackendUnavailableError(`--threads sets the native backend's threads; --backend ${name} does not take it`);
  }
  if (name === 'auto' && o.analysis && o.threads === undefined) {
    const tfjs = await openTfjs('auto');
    return { ...tfjs, why: `${tfjs.why} (--backend auto: --analyze runs on TensorFlow.js)` };
  }
  if (name === 'auto') return openAuto(o);
  return name === 'webgpu' ? openWebGpu() : name === 'native' ? openNative(o) : openTfjs(name);
}

async function openAuto(o: BackendOptions): Promise<Backend> {
  try {
    const native = openNative(o);
    return { ...native, why: `${native.why} (--backend auto: the native addon is built)` };
  } catch (e) {
    if (!(e instanceof BackendUnavailableError)) throw e;
    if (o.threads !== undefined) throw new BackendUnavailableError(`--threads sets the native backend's threads, and ${e.message.replace(/^--backend native: /, '')}`);
    const tfjs = await openTfjs('auto');
    return { ...tfjs, why: `${tfjs.why} (--backend auto: the native addon is not built: npm run build:native builds it, docs/native.md)` };
  }
}

/** Errors of a backend that are the user's to act on (a model that does not fit the device), printed as they are. */
export function isBackendUserError(e: unknown): e is Error {
  return e instanceof BackendUnavailableError || e instanceof WebGpuFitError;
}

async function openWebGpu(): Promise<Backend> {
  let gpu;
  try {
    gpu = await openWebGpuSession();
  } catch (e) {
    if (e instanceof WebGpuUnavailableError) throw new BackendUnavailableError(`--backend webgpu: ${e.message} (attnc doctor shows what this machine has)`);
    throw e;
  }
  const session = gpu;
  return {
    name: 'webgpu',
    why: session.why,
    engine: session.engine,
    planTraining: (model, run) => planWebGpuTraining(session, model, run),
    fitEvalBatch: (model, wanted) => fitWebGpuEvalBatch(model, wanted, session.limits),
    evaluate: (c, data, o) => evaluateOnWebGpu(session, c, data, o),
    analyze: () => Promise.reject(noAnalysis('webgpu', 'its plan keeps the attention probabilities in device buffers it does not read back')),
    close: () => session.close(),
  };
}

function openNative(o: BackendOptions): Backend {
  let session;
  try {
    session = openNativeSession(o);
  } catch (e) {
    if (e instanceof NativeUnavailableError) throw new BackendUnavailableError(`--backend native: ${e.message}`);
    throw e;
  }
  const { why, engine } = session;
  return {
    name: 'native',
    why,
    engine,
    planTraining: (model, run) => planNativeTraining(model, run),
    fitEvalBatch: (_model, wanted) => ({ batch: wanted, note: null }),
    async evaluate(c, data, o) {
      checkEvalData(c.meta.model, data);
      const e = await engine({ model: c.meta.model, run: null, seed: o.seed, microBatch: o.batch });
      try {
        return await evaluateEngine(e, c, data, o);
      } finally {
        e.dispose();
      }
    },
    analyze: () => Promise.reject(noAnalysis('native', 'the addon does not return the attention probabilities and head outputs of its eval phase')),
    gemmPeak: () => session.gemmPeak(),
    close: () => session.close(),
  };
}

/** --analyze runs the graph's eval taps through the TensorFlow.js executor only. */
function noAnalysis(name: string, why: string): BackendUnavailableError {
  return new BackendUnavailableError(`--analyze is not available with --backend ${name} (${why}); use a TensorFlow.js backend: --backend auto, wasm, cpu, tfjs-node or tfjs-node-gpu`);
}

async function openTfjs(preference: BackendPreference): Promise<Backend> {
  let selected: SelectedBackend;
  try {
    selected = await selectBackend(preference);
  } catch (e) {
    throw new BackendUnavailableError(`${(e as Error).message} — install it, or use --backend auto`);
  }
  const { tf, name } = selected;
  return {
    name,
    why: selected.why,
    engine: tfjsEngineFactory(tf, name),
    planTraining: (model, run) => planMemory(model, run, name),
    fitEvalBatch: (model, wanted) => fitEvalBatch(model, wanted, name),
    async evaluate(c, data, o) {
      const loaded = modelFromCheckpoint(tf, c);
      try {
        return await evaluateModel(loaded, data, o);
      } finally {
        loaded.model.dispose();
      }
    },
    async analyze(c, data, o) {
      const loaded = modelFromCheckpoint(tf, c);
      try {
        return await analyzeAttention(loaded, data, o);
      } finally {
        loaded.model.dispose();
      }
    },
    close: () => {},
  };
}
