// Training in the page: the run of the spec on the page's MNIST through a TrainingEngine (WebGPU or
// TensorFlow.js, backend.ts), for a number of steps the user chooses. The batches, the learning-rate
// schedule and the evaluation are runtime/'s own (data/batcher.ts, train/schedule.ts,
// train/evaluate.ts); what `attnc train` adds on top (checkpoints, metrics files, resume) is left out.
import { equalShareCounts } from '../compiler/alloc.js';
import type { ModelIR, RunIR } from '../compiler/ir/types.js';
import { BatchIterator, stepsPerEpoch } from '../runtime/data/batcher.js';
import { conformDataset } from '../runtime/data/image.js';
import type { Dataset } from '../runtime/data/types.js';
import type { TrainingEngine } from '../runtime/train/engine.js';
import { evaluate } from '../runtime/train/evaluate.js';
import { learningRate } from '../runtime/train/schedule.js';

export interface StepEvent {
  step: number;
  loss: number;
  /** Training accuracy of the step's batch. */
  acc: number;
  lr: number;
  /** Query heads per K/V group of every layer after the step. */
  allocation: number[][];
}

export interface EvalEvent {
  step: number;
  loss: number;
  acc: number;
}

export interface PageTraining {
  model: ModelIR;
  run: RunIR;
  engine: TrainingEngine;
  train: Dataset;
  test: Dataset;
  steps: number;
  /** Evaluate on the test images every this many steps, and after the last. */
  evalEvery: number;
  onStep(e: StepEvent): void;
  onEval(e: EvalEvent): void;
  /** Polled between steps: true stops the run. */
  stopped(): boolean;
}

/** Images per evaluation batch. */
const EVAL_BATCH = 250;

/** The data set at the model's input size, or why the model cannot train on it. */
export function conform(model: ModelIR, ds: Dataset): Dataset {
  if (model.classes !== ds.classes) throw new Error(`model ${model.name} has ${model.classes} classes, but the page trains on MNIST's ${ds.classes}: set classes 10`);
  return conformDataset(ds, model.image.height, model.image.width, model.image.channels);
}

/** Every layer's query heads per K/V group: the engine's counts where it allocates, else the uniform split. */
export function allocationOf(model: ModelIR, allocating: readonly number[], counts: number[][]): number[][] {
  return model.layers.map((layer, i) => {
    const at = allocating.indexOf(i);
    return at >= 0 && counts[at] ? counts[at]! : equalShareCounts(layer.attention.heads, layer.attention.kvHeads);
  });
}

/** Runs the steps; resolves with the last evaluation (null when stopped before the first). */
export async function trainInPage(t: PageTraining): Promise<EvalEvent | null> {
  const { run, engine } = t;
  const perEpoch = stepsPerEpoch(t.train.count, run.batch, true);
  let epoch = -1;
  let batches: BatchIterator | null = null;
  let last: EvalEvent | null = null;
  const evaluateAt = async (step: number) => {
    const r = await evaluate(engine, t.test, run, EVAL_BATCH, { step });
    last = { step, loss: r.loss, acc: r.acc };
    t.onEval(last);
  };
  for (let step = 0; step < t.steps && !t.stopped(); step++) {
    if (Math.floor(step / perEpoch) !== epoch) {
      epoch = Math.floor(step / perEpoch);
      batches = BatchIterator.train(t.train, { batchSize: run.batch, seed: run.seed, epoch, augment: run.augment, normalize: run.normalize, prefetch: 0 });
    }
    const epochStep = step % perEpoch;
    const lr = learningRate(run.schedule, run.optimizer.lr, step, t.steps);
    const batch = batches!.batchAt(epochStep);
    const r = await engine.step(batch, { step, epochStep, lr });
    if (!Number.isFinite(r.loss)) throw new Error(`the loss is ${r.loss} at step ${step + 1}: training stopped (lower the learning rate)`);
    t.onStep({ step, loss: r.loss, acc: r.correct / batch.size, lr, allocation: allocationOf(t.model, engine.allocationLayers, r.counts) });
    if ((step + 1) % t.evalEvery === 0 || step + 1 === t.steps) await evaluateAt(step + 1);
  }
  return last;
}
