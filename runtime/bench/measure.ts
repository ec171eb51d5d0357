// One measurement of attnc bench: a backend's engine trains a model for the warm-up and the timed
// steps on synthetic batches, then evaluates as many batches; the figures are wall time of the timed
// part only, the engine's own phase times (forward, backward, optimizer) and the bytes of its tensors.
// The process's memory is child.ts's to add: it runs this in a process of its own.
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import { makeSynthetic } from '../data/synthetic.js';
import type { Batch, Dataset } from '../data/types.js';
import type { EngineFactory, EngineProfile } from '../train/engine.js';
import { WARMUP_STEPS } from './variants.js';

export interface Figures {
  trainImagesPerSec: number;
  evalImagesPerSec: number | null;
  /** Milliseconds per timed step of each phase the engine times (null: it does not time phases). */
  phaseMs: Record<string, number> | null;
  /** Milliseconds per timed step of each op kind (null: the engine does not time its ops). */
  opMs: Record<string, number> | null;
  /** Milliseconds per timed training step, all of it. */
  stepMs: number;
  /** The peak resident memory of the process that ran only this measurement (child.ts). */
  peakRssBytes: number | null;
  /** Its resident memory once the backend had loaded, before the model was built. */
  baselineRssBytes: number | null;
  /** The bytes of tensors the backend held at the end (native: its typed arrays; tfjs: tf.memory()). */
  backendBytes: number | null;
}

/** The batches of a synthetic set as the trainer would hand them over: pixels scaled with the run's normalisation. */
export function syntheticBatches(model: ModelIR, run: RunIR, split: 'train' | 'test'): Batch[] {
  if (run.data.kind !== 'synthetic') throw new Error('a bench run trains on synthetic data');
  const shape = { height: model.image.height, width: model.image.width, channels: model.image.channels, classes: model.classes };
  const ds: Dataset = makeSynthetic(split, split === 'train' ? run.data.train : run.data.test, shape);
  const per = ds.height * ds.width * ds.channels;
  const { mean, std } = run.normalize;
  const out: Batch[] = [];
  for (let from = 0; from + run.batch <= ds.count; from += run.batch) {
    const x = new Float32Array(run.batch * per);
    for (let i = 0; i < x.length; i++) {
      const c = i % ds.channels;
      x[i] = (ds.images[from * per + i]! / 255 - (mean[c] ?? 0)) / (std[c] ?? 1);
    }
    out.push({ x, y: ds.labels.slice(from, from + run.batch), size: run.batch });
  }
  return out;
}

/** Trains WARMUP_STEPS + steps steps and evaluates `evalBatches` batches (after one untimed), timing the part after the warm-up. */
export async function measureEngine(factory: EngineFactory, model: ModelIR, run: RunIR, o: { evalBatches: number }): Promise<Figures> {
  const train = syntheticBatches(model, run, 'train');
  const test = syntheticBatches(model, run, 'test');
  const total = run.steps!;
  const engine = await factory({ model, run, seed: run.seed, microBatch: run.microBatch });
  try {
    let before: EngineProfile | null = null;
    let t0 = 0;
    for (let step = 0; step < total; step++) {
      if (step === WARMUP_STEPS) {
        before = engine.profile?.() ?? null;
        t0 = performance.now();
      }
      const r = await engine.step(train[step % train.length]!, { step, epochStep: step, lr: run.optimizer.lr });
      if (!Number.isFinite(r.loss)) throw new Error(`${model.name}: the loss is ${r.loss} at step ${step + 1}`);
    }
    const timed = total - WARMUP_STEPS;
    const trainMs = performance.now() - t0;
    const after = engine.profile?.() ?? null;
    await engine.evaluate(test[0]!, { step: total });
    const e0 = performance.now();
    for (let i = 0; i < o.evalBatches; i++) await engine.evaluate(test[i % test.length]!, { step: total });
    const evalMs = performance.now() - e0;
    const perStep = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(Object.entries(a).map(([k, v]) => [k, (v - (b[k] ?? 0)) / timed]));
    const phaseMs = before && after ? perStep(after.phaseMs, before.phaseMs) : null;
    const opMs = before?.opMs && after?.opMs ? perStep(after.opMs, before.opMs) : null;
    return {
      trainImagesPerSec: (timed * run.batch * 1000) / trainMs,
      evalImagesPerSec: o.evalBatches > 0 ? (o.evalBatches * run.batch * 1000) / evalMs : null,
      phaseMs,
      opMs,
      stepMs: trainMs / timed,
      peakRssBytes: null,
      baselineRssBytes: null,
      backendBytes: engine.profile?.().bytes ?? null,
    };
  } finally {
    engine.dispose();
  }
}
