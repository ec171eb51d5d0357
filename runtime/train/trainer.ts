// The training loop: batches in the seeded order, the learning-rate schedule, metrics, progress,
// evaluation, checkpoints, resume and the NaN stop (docs/training.md). The step itself (gradients
// over micro-batches, clipping, the optimizer) is a TrainingEngine's (engine.ts), made by the `engine`
// factory runtime/backends.ts chooses (runtime/tfjs/engine.ts, runtime/webgpu/engine.ts).
//
// Everything that decides a number is a function of (spec, seed, backend, step): the data order is
// keyed by (seed, epoch), every random mask by (seed, step, micro-batch), the learning rate by the
// step. So a run resumed from last.safetensors continues exactly as if it had never stopped.
import { join } from 'node:path';
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import type { Checkpoint } from '../checkpoint/names.js';
import { BatchIterator, stepsPerEpoch } from '../data/batcher.js';
import type { Dataset } from '../data/types.js';
import { AllocationLog } from './allocation-log.js';
import { initEngineFromCheckpoint, NonFiniteWeightsError, saveEngineCheckpoint, type TrainerState } from './checkpoints.js';
import type { EngineFactory, TrainingEngine } from './engine.js';
import { TrainError } from './errors.js';
import { evaluate, type EvalResult } from './evaluate.js';
import { MetricsLog } from './metrics.js';
import { RecentPace, type Progress } from './progress.js';
import { learningRate } from './schedule.js';

export interface TrainerOptions {
  /** Creates the backend's engine (train() disposes it); runtime/backends.ts chooses it. */
  engine: EngineFactory;
  /** The backend's name, recorded in checkpoints. */
  backend: string;
  model: ModelIR;
  /** The run as it is trained (command-line overrides applied). */
  run: RunIR;
  train: Dataset;
  test: Dataset;
  outDir: string;
  /** Images per forward/backward pass (the backend's planTraining, runtime/backends.ts). */
  microBatch: number;
  evalChunk: number;
  /** Also write last.safetensors every this many steps (besides every epoch end). */
  saveEvery?: number | null;
  /** Continue from this checkpoint (last.safetensors, already read and checked). */
  resume?: { file: string; checkpoint: Checkpoint; state: TrainerState } | null;
  /** Start from these weights, the head excluded (fine-tuning) unless keepHead (up-training). */
  init?: { file: string; checkpoint: Checkpoint; keepHead?: boolean } | null;
  progress: Progress;
  /** Lines that are always shown (what was loaded, where things go). */
  info: (line: string) => void;
  /** Polled after every step: a reason (e.g. 'SIGINT') stops training as soon as the step is done. */
  stopRequested?: () => string | null;
  /** Called after every completed step, before checkpoints (tests use it to simulate a crash). */
  afterStep?: (step: number) => void;
  /** How a path appears in messages (the command line shows them relative to its folder). */
  show?: (path: string) => string;
}

export type TrainStatus = 'done' | 'stopped' | 'diverged';

export interface TrainResult {
  status: TrainStatus;
  step: number;
  totalSteps: number;
  /** The last evaluation (at the end for 'done'). */
  lastEval: EvalResult | null;
  bestMetric: number | null;
  /** Training images per second over this process's steps. */
  imagesPerSec: number;
  /** Seconds spent in training steps in this process. */
  trainSeconds: number;
  /** For 'stopped' and 'diverged': what happened, what was kept, what to do. */
  message: string | null;
}

export async function train(o: TrainerOptions): Promise<TrainResult> {
  const { run } = o;
  const options = { model: o.model, run, seed: run.seed, microBatch: o.microBatch };
  o.progress.status('starting: building the model, its optimizer and the first batches');
  const engine: TrainingEngine = await o.engine(options);
  try {
    return await new Loop(o, engine).run();
  } finally {
    engine.dispose();
  }
}

class Loop {
  private readonly spe: number;
  private readonly totalSteps: number;
  private readonly totalEpochs: number;
  private readonly metrics: MetricsLog;
  private readonly lastPath: string;
  private readonly bestPath: string;
  private state: TrainerState;
  /** The step of the newest last.safetensors (null: none written or resumed from). */
  private lastSaved: number | null = null;
  private lastEval: EvalResult | null = null;
  private lastEvalStep = -1;
  private readonly allocation: AllocationLog;
  private readonly pace = new RecentPace();
  private trainSeconds = 0;
  private imagesTrained = 0;
  /** Images and seconds of the current epoch in this process (a resumed epoch's pace is its own). */
  private epochPace = { images: 0, seconds: 0 };

  constructor(
    private readonly o: TrainerOptions,
    private readonly engine: TrainingEngine,
  ) {
    const { run } = o;
    this.spe = stepsPerEpoch(o.train.count, run.batch, true);
    if (this.spe === 0) throw new TrainError(`the training set has ${o.train.count} images, fewer than one batch of ${run.batch}: lower the batch size or use more data`);
    this.totalSteps = run.steps ?? run.epochs! * this.spe;
    this.totalEpochs = Math.ceil(this.totalSteps / this.spe);
    this.metrics = new MetricsLog(join(o.outDir, 'metrics.jsonl'));
    this.lastPath = join(o.outDir, 'last.safetensors');
    this.bestPath = join(o.outDir, 'best.safetensors');
    this.allocation = new AllocationLog(engine, this.metrics);
    this.state = {
      step: 0, epoch: 0, position: 0,
      rngState: { generator: 'counter', seed: run.seed },
      bestMetric: null, microBatch: o.microBatch, backend: o.backend,
      epochSums: { loss: 0, correct: 0, images: 0, steps: 0 },
    };
  }

  async run(): Promise<TrainResult> {
    try {
      return await this.loop();
    } catch (e) {
      // A checkpoint was refused because the weights overflowed although the loss was still finite.
      if (e instanceof NonFiniteWeightsError) return this.diverged(`the weights hold NaN or Inf (${e.message}) after the update`, NaN, 0);
      throw e;
    }
  }

  private async loop(): Promise<TrainResult> {
    await this.start();
    if (this.o.resume && this.state.step >= this.totalSteps) {
      return this.result('done', `nothing to do: ${this.show(this.lastPath)} is at step ${this.state.step} of ${this.totalSteps} (give --epochs or --steps to train longer)`);
    }
    this.o.progress.status(`starting: step ${this.state.step + 1} of ${this.totalSteps} (the first step also prepares the kernels)`);
    while (this.state.step < this.totalSteps) {
      const outcome = await this.step();
      if (outcome) return outcome;
      const stop = this.o.stopRequested?.();
      if (stop) {
        if (this.lastSaved !== this.state.step) await this.saveLast();
        return this.result('stopped', `stopped by ${stop} after step ${this.state.step} of ${this.totalSteps}; ${this.show(this.lastPath)} holds it: continue with --resume`);
      }
    }
    if (this.lastEvalStep !== this.state.step) await this.evaluateNow();
    if (this.lastSaved !== this.state.step) await this.saveLast();
    return this.result('done', null);
  }

  private async start(): Promise<void> {
    const { o, engine } = this;
    if (o.resume) {
      const saved = o.resume.state;
      if (Math.floor(saved.step / this.spe) !== saved.epoch || saved.step % this.spe !== saved.position) {
        throw new TrainError(
          `${this.show(o.resume.file)}: step ${saved.step} is batch ${saved.position} of epoch ${saved.epoch + 1} in the checkpoint, which does not fit ` +
            `${this.spe} steps per epoch: the training data changed size since; resume with the same data, or start a new run`,
        );
      }
      const c = o.resume.checkpoint;
      // No slots: resumed with fresh optimizer state (--fresh-optimizer; the command line checked the rest).
      await engine.load({ params: c.params, state: c.state, ...(Object.keys(c.optimizer).length ? { optimizer: c.optimizer } : {}) });
      this.state = { ...saved, microBatch: o.microBatch, backend: o.backend };
      this.lastSaved = this.state.step;
      await this.metrics.truncateAfter(this.state.step);
      o.info(`resume: ${o.resume.file} at step ${this.state.step} of ${this.totalSteps} (epoch ${this.state.epoch + 1}, batch ${this.state.position + 1} of ${this.spe})`);
      await this.allocation.readState(this.state.step, this.epochOfStep(this.state.step), false);
      return;
    }
    this.metrics.reset();
    if (o.init) o.info(await initEngineFromCheckpoint(engine, o.init.checkpoint, o.init.file, o.init.keepHead));
    await this.allocation.readState(0, 1, true);
  }

  /** One optimizer step; a result when training must end here (divergence). */
  private async step(): Promise<TrainResult | null> {
    const { o, state } = this;
    const { run } = o;
    const epochIndex = Math.floor(state.step / this.spe);
    const position = state.step % this.spe;
    const started = performance.now();
    const batch = this.batches(epochIndex).batchAt(position);
    const lr = learningRate(run.schedule, run.optimizer.lr, state.step, this.totalSteps);
    // The engine reads back the loss (for the NaN check and the log), the hits, the gradient norm and
    // the allocation of every key_norm layer in one download, and skips the update when they are not finite.
    const r = await this.engine.step(batch, { step: state.step, epochStep: position, lr });
    const { loss, correct, gradNorm } = r;
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) return this.diverged(Number.isFinite(loss) ? `the gradient norm is ${gradNorm}` : `the loss is ${loss}`, lr, 1);
    const seconds = (performance.now() - started) / 1000;

    state.step += 1;
    state.position = position + 1;
    const sums = state.epochSums;
    sums.loss += loss;
    sums.correct += correct;
    sums.images += batch.size;
    sums.steps += 1;
    this.epochPace.images += batch.size;
    this.epochPace.seconds += seconds;
    this.trainSeconds += seconds;
    this.imagesTrained += batch.size;
    this.pace.add(seconds);
    const acc = correct / batch.size;
    this.metrics.append({ kind: 'step', step: state.step, epoch: epochIndex + 1, loss, acc, lr, gradNorm, imagesPerSec: batch.size / seconds });
    this.allocation.record(r.counts, state.step, epochIndex + 1);
    const perStep = this.pace.secondsPerStep();
    o.progress.step({
      step: state.step, totalSteps: this.totalSteps, epoch: epochIndex + 1, totalEpochs: this.totalEpochs,
      loss, acc, lr, imagesPerSec: run.batch / perStep, etaSec: (this.totalSteps - state.step) * perStep,
    });
    o.afterStep?.(state.step);
    // Let signal handlers and the batch prefetch run: a wasm step never yields on its own.
    await new Promise((resolve) => setImmediate(resolve));

    if (state.position === this.spe) {
      await this.endEpoch(lr);
      return null;
    }
    if (o.saveEvery && state.step % o.saveEvery === 0 && state.step < this.totalSteps) await this.saveLast();
    return null;
  }

  private async endEpoch(lr: number): Promise<void> {
    const { state, o } = this;
    const sums = state.epochSums;
    const pace = this.epochPace;
    state.epoch += 1;
    state.position = 0;
    this.metrics.append({
      kind: 'epoch', step: state.step, epoch: state.epoch, loss: sums.loss / sums.steps, acc: sums.correct / sums.images, lr,
      imagesPerSec: pace.images / pace.seconds, elapsedSec: pace.seconds,
    });
    o.progress.line(`epoch ${state.epoch}/${this.totalEpochs}: train loss ${(sums.loss / sums.steps).toFixed(4)}, acc ${pct(sums.correct / sums.images)}, ${(pace.images / pace.seconds).toFixed(0)} img/s`);
    state.epochSums = { loss: 0, correct: 0, images: 0, steps: 0 };
    this.epochPace = { images: 0, seconds: 0 };
    if (state.epoch % o.run.eval.everyEpochs === 0 || state.step === this.totalSteps) await this.evaluateNow();
    await this.saveLast();
  }

  private async evaluateNow(): Promise<void> {
    const { o, state } = this;
    o.progress.status(`evaluating: 0/${o.test.count} test images`);
    const r = await evaluate(this.engine, o.test, o.run, o.evalChunk, { step: state.step }, (images, total) => o.progress.status(`evaluating: ${images}/${total} test images`));
    this.lastEval = r;
    this.lastEvalStep = state.step;
    this.metrics.append({ kind: 'eval', step: state.step, epoch: state.epoch, loss: r.loss, acc: r.acc, images: r.images, imagesPerSec: r.images / r.seconds });
    const better = state.bestMetric === null || r.acc > state.bestMetric;
    o.progress.line(`eval at step ${state.step}: test top-1 ${pct(r.acc)}, loss ${r.loss.toFixed(4)} (${r.images} images)${better ? ', best so far' : ''}`);
    if (better) {
      state.bestMetric = r.acc;
      await this.save(this.bestPath, false);
    }
  }

  private async saveLast(): Promise<void> {
    await this.save(this.lastPath, true);
    this.lastSaved = this.state.step;
  }

  private async save(path: string, withOptimizer: boolean): Promise<void> {
    await saveEngineCheckpoint(path, this.engine, this.o.run, withOptimizer, structuredClone(this.state));
  }

  private batchCache: { epoch: number; it: BatchIterator } | null = null;

  /** The epoch's batches; batch k is a pure function of (data, seed, epoch, k), so a resume skips to it. */
  private batches(epoch: number): BatchIterator {
    if (this.batchCache?.epoch !== epoch) {
      const { run } = this.o;
      this.batchCache = { epoch, it: BatchIterator.train(this.o.train, { batchSize: run.batch, seed: run.seed, epoch, augment: run.augment, normalize: run.normalize, prefetch: 0 }) };
    }
    return this.batchCache.it;
  }

  /** The 1-based epoch that step `step` (1-based; 0 before training) belongs to. */
  private epochOfStep(step: number): number {
    return Math.floor(Math.max(0, step - 1) / this.spe) + 1;
  }

  /** `ahead`: 1 when the failing step is the one not yet counted in state.step, 0 when it is. */
  private diverged(what: string, lr: number, ahead: 0 | 1): TrainResult {
    const { state, o } = this;
    const failing = state.step + ahead;
    const epochIndex = Math.floor((failing - 1) / this.spe);
    const kept = this.lastSaved === null
      ? 'no checkpoint had been written yet'
      : `the last good checkpoint, ${this.show(this.lastPath)} (step ${this.lastSaved}), is kept unchanged`;
    const clip = o.run.clipGrad === null ? 'clip the gradients (clip_grad 1.0)' : `clip harder (clip_grad is ${o.run.clipGrad})`;
    return this.result(
      'diverged',
      `training diverged: ${what} at step ${failing} (epoch ${epochIndex + 1}, batch ${((failing - 1) % this.spe) + 1} of ${this.spe}` +
        `${Number.isFinite(lr) ? `, learning rate ${lr.toExponential(3)}` : ''}); stopped without saving; ${kept}. ` +
        `Lower the learning rate (optimizer lr, now ${o.run.optimizer.lr}) or ${clip}, then start again.`,
    );
  }

  private show(path: string): string {
    return this.o.show ? this.o.show(path) : path;
  }

  private result(status: TrainStatus, message: string | null): TrainResult {
    return {
      status, step: this.state.step, totalSteps: this.totalSteps, lastEval: this.lastEval, bestMetric: this.state.bestMetric,
      imagesPerSec: this.trainSeconds > 0 ? this.imagesTrained / this.trainSeconds : 0, trainSeconds: this.trainSeconds, message,
    };
  }
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}
