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
 * as fine-tuning after up-training does. The allocation state comes along when the file has it for
 * every key_norm layer of this model. Returns a line describing what was loaded.
 */
export async function initEngineFromCheckpoint(engine: TrainingEngine, c: Checkpoint, file: string): Promise<string> {
  const fresh = (await engine.checkpoint({ optimizer: false })).params;
  const init = initTensors(engine.model, fresh, c, file);
  await engine.load({ params: init.params, ...(init.state ? { state: init.state } : {}) });
  return init.line;
}

/** The tensors a fine-tuning start loads: the file's, the head from `fresh`; TrainError when they do not fit. */
export function initTensors(model: ModelIR, fresh: Record<string, Tensor>, c: Checkpoint, file: string): { params: Record<string, Tensor>; state: Record<string, Tensor> | null; line: string } {
  const isHead = (name: string) => name.startsWith('head.');
  const needed = parameterSpecs(model).filter((s) => !isHead(s.name));
  const problems: string[] = [];
  for (const spec of needed) {
    const t = c.params[spec.name];
    if (!t) problems.push(`missing ${spec.name}`);
    else if (formatShape(t.shape) !== formatShape(spec.shape)) problems.push(`${spec.name} is ${formatShape(t.shape)} in the file, the model '${model.name}' needs ${formatShape(spec.shape)}`);
  }
  const wanted = new Set(needed.map((s) => s.name));
  const extra = Object.keys(c.params).filter((n) => !isHead(n) && !wanted.has(n));
  if (extra.length) problems.push(`the file has parameters the model does not: ${extra.slice(0, 6).join(', ')}${extra.length > 6 ? ` and ${extra.length - 6} more` : ''}`);
  if (problems.length) {
    throw new TrainError(`${file}: cannot initialise model '${model.name}' from this checkpoint (model '${c.meta.model.name}'):\n  ${problems.slice(0, 12).join('\n  ')}`);
  }
  const params: Record<string, Tensor> = {};
  for (const spec of parameterSpecs(model)) params[spec.name] = isHead(spec.name) ? fresh[spec.name]! : c.params[spec.name]!;
  const states = stateSpecs(model);
  const stateFits = states.length > 0 && states.every((s) => c.state[s.name] && formatShape(c.state[s.name]!.shape) === formatShape(s.shape));
  const stateNote = states.length === 0 ? '' : stateFits ? '; allocation state loaded' : '; allocation state starts fresh (the file has none for these layers)';
  return { params, state: stateFits ? c.state : null, line: `init: ${needed.length} tensors from ${file} (model '${c.meta.model.name}'), head freshly initialised${stateNote}` };
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
