// Training checkpoints: what last.safetensors and best.safetensors hold, and putting it back.
// The format is runtime/checkpoint's (docs/checkpoints.md); this file decides the training state that
// goes in its metadata and the checks a resume or a fine-tuning start makes.
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import { writeCheckpoint, type Checkpoint, type OptimizerState, type TrainState } from '../checkpoint/names.js';
import { parameterSpecs, stateSpecs } from '../../compiler/ir/params.js';
import { formatShape, type Tensor } from '../checkpoint/safetensors.js';
import type { TrainingEngine } from './engine.js';
import { TrainError } from './errors.js';

/** The training state in a checkpoint's metadata (attnc.train_state). */
export interface TrainerState extends TrainState {
  /** Optimizer steps done. */
  step: number;
  /** Epochs completed. */
  epoch: number;
  /** Batches done in the current epoch (step = epoch * stepsPerEpoch + position). */
  position: number;
  /**
   * Every random draw (data order, augmentation, dropout, noise) is a pure function of the seed and
   * a position (epoch, image, step, micro-batch): the generator has no state beyond its seed.
   */
  rngState: { generator: 'counter'; seed: number };
  /** The best evaluation top-1 so far (null before the first evaluation). */
  bestMetric: number | null;
  /** Images per forward/backward pass actually used (the backend's memory plan may lower the run's). */
  microBatch: number;
  /** The backend that wrote it: results replay bit for bit on the same backend only. */
  backend: string;
  /**
   * Running sums of the current epoch, so its summary line is the same after a resume. No timing:
   * a checkpoint is a function of the spec, seed, backend and step, byte for byte.
   */
  epochSums: { loss: number; correct: number; images: number; steps: number };
}

/** A checkpoint would hold non-finite weights: training diverged. */
export class NonFiniteWeightsError extends Error {}

/** Writes a checkpoint of the engine's tensors, with its optimizer slots or without (see writeTrainingTensors). */
export async function saveEngineCheckpoint(path: string, engine: TrainingEngine, run: RunIR, withOptimizer: boolean, state: TrainerState): Promise<void> {
  const t = await engine.checkpoint({ optimizer: withOptimizer });
  await writeTrainingTensors(path, engine.model, run, { ...t, optimizer: withOptimizer ? t.optimizer : null }, state);
}

/** Writes a checkpoint atomically; refuses (NonFiniteWeightsError) rather than save NaN or Inf weights. */
export async function writeTrainingTensors(
  path: string,
  model: ModelIR,
  run: RunIR,
  t: { params: Record<string, Tensor>; state: Record<string, Tensor>; optimizer: OptimizerState | null },
  state: TrainerState,
): Promise<void> {
  for (const [name, tensor] of Object.entries(t.params)) {
    if (!(tensor.data as Float32Array).every(Number.isFinite)) throw new NonFiniteWeightsError(`${name} holds NaN or Inf values`);
  }
  await writeCheckpoint(path, { model, run, params: t.params, state: t.state, ...(t.optimizer ? { optimizer: t.optimizer } : {}), trainState: state });
}

/** The training state of a resumable checkpoint, or TrainError saying why it is not one. */
export function trainerStateOf(c: Checkpoint, file: string): TrainerState {
  const s = c.meta.trainState as Partial<TrainerState> | null;
  if (!s || typeof s.position !== 'number' || !s.rngState || !s.epochSums || typeof s.microBatch !== 'number') {
    throw new TrainError(`${file}: not a checkpoint written by attnc train (no training state); start a new run, or use it with --init`);
  }
  return s as TrainerState;
}

/**
 * Loads every parameter of `file` but the head (head.weight, head.bias stay freshly initialised),
 * as fine-tuning after up-training does; with `keepHead` (up-training on the same task) the head too.
 * The allocation state comes along when the file has it for every key_norm layer of this model.
 * Returns a line describing what was loaded.
 */
export async function initEngineFromCheckpoint(engine: TrainingEngine, c: Checkpoint, file: string, keepHead = false): Promise<string> {
  const fresh = (await engine.checkpoint({ optimizer: false })).params;
  const init = initTensors(engine.model, fresh, c, file, keepHead);
  await engine.load({ params: init.params, ...(init.state ? { state: init.state } : {}) });
  return init.line;
}

/** The tensors a fine-tuning start loads: the file's, the head from `fresh`; TrainError when they do not fit. */
export function initTensors(model: ModelIR, fresh: Record<string, Tensor>, c: Checkpoint, file: string, keepHead = false): { params: Record<string, Tensor>; state: Record<string, Tensor> | null; line: string } {
  const isHead = (name: string) => !keepHead && name.startsWith('head.');
  const needed = parameterSpecs(model).filter((s) => !isHead(s.name));
  const problems: string[] = [];
  for (const spec of needed) {
    const t = c.params[spec.name];
    if (!t) problems.push(`missing ${spec.name}`);
    else if (formatShape(t.shape) !== formatShape(spec.shape)) problems.push(`${spec.name} is ${formatShape(t.shape)} in the file, the model '${model.name}' needs ${formatShape(spec.shape)}`);
  }
  const wanted = new Set(needed.map((s) => s.name));
  const extra = Object.keys(c.params).filter((n) => !isHead(n) && !wanted.has(n));
  if (extra.length && !(keepHead && extra.every((n) => n.startsWith('head.')))) problems.push(`the file has parameters the model does not: ${extra.slice(0, 6).join(', ')}${extra.length > 6 ? ` and ${extra.length - 6} more` : ''}`);
  if (problems.length) {
    throw new TrainError(`${file}: cannot initialise model '${model.name}' from this checkpoint (model '${c.meta.model.name}'):\n  ${problems.slice(0, 12).join('\n  ')}`);
  }
  const params: Record<string, Tensor> = {};
  for (const spec of parameterSpecs(model)) params[spec.name] = isHead(spec.name) ? fresh[spec.name]! : c.params[spec.name]!;
  const states = stateSpecs(model);
  const stateFits = states.length > 0 && states.every((s) => c.state[s.name] && formatShape(c.state[s.name]!.shape) === formatShape(s.shape));
  const stateNote = states.length === 0 ? '' : stateFits ? '; allocation state loaded' : '; allocation state starts fresh (the file has none for these layers)';
  return { params, state: stateFits ? c.state : null, line: `init: ${needed.length} tensors from ${file} (model '${c.meta.model.name}'), ${keepHead ? 'head included' : 'head freshly initialised'}${stateNote}` };
}

/**
 * Dotted paths where two IR objects differ, source spans ignored (a spec may move or gain comments
 * and still describe the same run). At most `limit` paths.
 */
export function irDifferences(a: unknown, b: unknown, limit = 8): string[] {
  const out: string[] = [];
  const walk = (x: unknown, y: unknown, path: string): void => {
    if (out.length >= limit) return;
    if (typeof x === 'object' && x !== null && typeof y === 'object' && y !== null && Array.isArray(x) === Array.isArray(y)) {
      const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
      for (const k of keys) {
        if (k === 'span') continue;
        walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
      }
      return;
    }
    if (JSON.stringify(x) !== JSON.stringify(y)) out.push(`${path} (${JSON.stringify(x)} vs ${JSON.stringify(y)})`);
  };
  walk(a, b, '');
  return out;
}

/** TrainError unless the checkpoint's model and run are those being trained (epochs/steps may grow). */
export function checkResumable(c: Checkpoint, file: string, model: ModelIR, run: RunIR): void {
  const modelDiff = irDifferences(c.meta.model, model);
  if (modelDiff.length) {
    throw new TrainError(`${file}: the checkpoint's model differs from the spec's '${model.name}' (checkpoint vs spec): ${modelDiff.join('; ')} — resume with the spec it was trained with, or start a new run (--out elsewhere, or --init to fine-tune from it)`);
  }
  if (!c.meta.run) throw new TrainError(`${file}: the checkpoint has no run; it was not written by attnc train`);
  const { epochs: _e, steps: _s, ...saved } = c.meta.run;
  const { epochs: _e2, steps: _s2, ...current } = run;
  const runDiff = irDifferences(saved, current);
  if (runDiff.length) {
    throw new TrainError(`${file}: the checkpoint's run differs from run '${run.name}' (checkpoint vs now): ${runDiff.join('; ')} — resume with the same settings, or start a new run`);
  }
}

/** The optimizer slots a run's optimizer keeps (AdamW: m and v; SGD with momentum: m; plain SGD: none). */
export function optimizerSlots(run: RunIR): string[] {
  const o = run.optimizer;
  return o.kind === 'adamw' ? ['m', 'v'] : o.momentum > 0 ? ['m'] : [];
}

/**
 * TrainError unless the checkpoint holds exactly the optimizer slots the run needs. With `allowFresh`
 * (--fresh-optimizer), a checkpoint without any optimizer state resumes with fresh slots: returns the
 * line that says so (null when the state is complete).
 */
export function checkOptimizerState(c: Checkpoint, run: RunIR, file: string, allowFresh: boolean): string | null {
  const want = optimizerSlots(run);
  const have = Object.keys(c.optimizer).sort();
  if (have.join() === [...want].sort().join()) return null;
  const wanted = want.map((s) => `optimizer.${s}.*`).join(' and ');
  if (have.length === 0 && want.length > 0) {
    if (allowFresh) {
      return `resume: ${file} has no optimizer state; continuing with fresh ${wanted} (--fresh-optimizer): the run will not match an unbroken one`;
    }
    throw new TrainError(
      `${file}: has no optimizer state (${wanted}), which ${run.optimizer.kind} needs to continue exactly: it is a best.safetensors or a converted checkpoint. ` +
        'Fine-tune from it with --init (a new run, fresh head), or continue it with fresh optimizer state with --resume --fresh-optimizer',
    );
  }
  throw new TrainError(`${file}: holds optimizer slots ${have.length ? have.join(', ') : 'none'}, but ${run.optimizer.kind} uses ${want.length ? want.join(', ') : 'none'}; the checkpoint does not belong to this run`);
}

/**
 * TrainError unless the training state is one attnc train can have written for this run: whole
 * numbers in range, a micro-batch dividing the batch, sums that are finite and not negative.
 */
export function checkTrainerState(s: TrainerState, run: RunIR, file: string): void {
  const count = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  const problems: string[] = [];
  if (!count(s.step)) problems.push(`step ${JSON.stringify(s.step)} is not a whole number >= 0`);
  if (!count(s.epoch)) problems.push(`epoch ${JSON.stringify(s.epoch)} is not a whole number >= 0`);
  if (!count(s.position)) problems.push(`position ${JSON.stringify(s.position)} is not a whole number >= 0`);
  if (!Number.isSafeInteger(s.microBatch) || s.microBatch < 1) problems.push(`microBatch ${JSON.stringify(s.microBatch)} is not a whole number >= 1`);
  else if (run.batch % s.microBatch !== 0) problems.push(`microBatch ${s.microBatch} does not divide the batch ${run.batch}`);
  const rng = s.rngState as { generator?: unknown; seed?: unknown } | undefined;
  if (typeof rng !== 'object' || rng === null || rng.generator !== 'counter' || !count(rng.seed)) problems.push(`rngState ${JSON.stringify(rng ?? null)} is not {"generator":"counter","seed":N}`);
  if (s.bestMetric !== null && !(typeof s.bestMetric === 'number' && s.bestMetric >= 0 && s.bestMetric <= 1)) problems.push(`bestMetric ${JSON.stringify(s.bestMetric)} is neither null nor a top-1 between 0 and 1`);
  const sums = s.epochSums as Record<string, unknown> | undefined;
  if (typeof sums !== 'object' || sums === null || !['loss', 'correct', 'images', 'steps'].every((k) => typeof sums[k] === 'number' && Number.isFinite(sums[k]) && (sums[k] as number) >= 0)) {
    problems.push(`epochSums ${JSON.stringify(sums ?? null)} needs finite loss, correct, images and steps >= 0`);
  }
  if (typeof s.backend !== 'string') problems.push(`backend ${JSON.stringify(s.backend ?? null)} is not a backend name`);
  if (problems.length) {
    throw new TrainError(`${file}: the training state (metadata 'attnc.train_state') is not one attnc train writes: ${problems.slice(0, 4).join('; ')}. The file is damaged or hand-made; resume from a checkpoint written by attnc train, or start from its weights with --init`);
  }
}
