// What `attnc train --backend native` and `attnc eval --backend native` share: the addon (or one line
// saying how to build it), the line that says what runs, the passes, and the engine factory.
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import { stateSpecs, type Checkpoint } from '../checkpoint/names.js';
import { BatchIterator } from '../data/batcher.js';
import type { Dataset } from '../data/types.js';
import { AllocationMeans } from '../eval/allocation-tap.js';
import { checkEvalData, type EvalOptions, type EvalReport } from '../eval/evaluate.js';
import { MetricsAccumulator } from '../eval/metrics.js';
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

/** `attnc eval --backend native`: runtime/webgpu/evaluate.ts with the native engine. */
export async function evaluateOnNative(session: NativeSession, c: Checkpoint, data: Dataset, o: EvalOptions): Promise<EvalReport> {
  const m = c.meta.model;
  checkEvalData(m, data);
  const engine = await session.engine({ model: m, run: null, seed: o.seed, microBatch: o.batch });
  try {
    await engine.load({ params: c.params, ...(stateSpecs(m).length ? { state: c.state } : {}) });
    const started = performance.now();
    const metrics = new MetricsAccumulator(m.classes);
    const allocation = new AllocationMeans(m);
    let batches = 0;
    for await (const batch of BatchIterator.eval(data, { batchSize: o.batch, normalize: o.normalize, prefetch: 1 })) {
      const r = await engine.evaluate(batch, { step: o.step, logits: true });
      metrics.add(r.logits!, batch.y);
      allocation.add(r.counts!, batch.size);
      batches++;
    }
    return { ...metrics.result(), allocation: allocation.result(), batches, seconds: (performance.now() - started) / 1000 };
  } finally {
    engine.dispose();
  }
}
