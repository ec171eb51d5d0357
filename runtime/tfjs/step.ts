// One optimizer step's gradients: the batch split into micro-batches, each a pass of the model's
// graph (forward, loss, backward; compiler/graph) whose parameter gradients add up (gradient
// accumulation). The graph's optimizer phase (VitModel.optimize) then clips and applies them. Nothing
// here reads a value back to the host; the engine reads the step's statistics in one download.
import type { Scalar, Tensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs';
import type { RunIR } from '../../compiler/ir/types.js';
import type { Batch } from '../data/types.js';
import type { VitModel } from './vit.js';

export interface StepOptions {
  /** The run: its label smoothing and batch (the loss gradient is that of the mean over the batch). */
  run: RunIR;
  /** Images per forward/backward pass; must divide the batch. */
  microBatch: number;
  /** The optimizer step (0-based): keys the dropout, drop-path and noise streams. */
  step: number;
  /** The batch index within the epoch (0-based): times DGQA re-allocations under rule 'paper'; default `step`. */
  epochStep?: number;
  seed: number;
}

export interface StepGradients {
  /** One gradient per model.params.list entry, in that order. */
  grads: Tensor[];
  /** The mean loss over the whole batch (label smoothing included). */
  loss: Scalar;
  /** How many images of the batch the model classified right (top-1, training mode). */
  correct: Scalar;
}

/**
 * Gradients of the batch's mean loss. Each pass's loss gradient is scaled by 1 / the batch size, so
 * the summed gradients are those of one pass over the whole batch up to float rounding. Each
 * micro-batch draws its own dropout masks (microBatch = i), so changing the micro-batch size changes
 * the masks, not their distribution.
 */
export function batchGradients(model: VitModel, batch: Batch, o: StepOptions): StepGradients {
  const { tf, model: m } = model;
  const { size } = batch;
  if (!Number.isInteger(o.microBatch) || o.microBatch < 1 || size % o.microBatch !== 0) {
    throw new Error(`micro-batch ${o.microBatch} does not divide the batch of ${size}`);
  }
  if (size !== o.run.batch) throw new Error(`run '${o.run.name}' trains batches of ${o.run.batch}, given ${size} images`);
  const perImage = m.image.height * m.image.width * m.image.channels;
  const grads = new Map<string, Tensor>();
  let stats: Tensor | null = null;
  for (let i = 0; i < size / o.microBatch; i++) {
    const from = i * o.microBatch;
    const x = tf.tensor4d(batch.x.subarray(from * perImage, (from + o.microBatch) * perImage), [o.microBatch, m.image.height, m.image.width, m.image.channels]) as Tensor4D;
    const y = tf.tensor1d(batch.y.subarray(from, from + o.microBatch), 'int32') as Tensor1D;
    stats = model.gradients(x, y, o.run, { training: true, step: o.step, epochStep: o.epochStep, seed: o.seed, microBatch: i }, grads, stats);
    tf.dispose([x, y]);
  }
  const ordered = model.params.list.map((p) => grads.get(p.name) ?? tf.zerosLike(p.variable));
  const [loss, correct] = tf.unstack(stats!) as [Scalar, Scalar];
  stats!.dispose();
  return { grads: ordered, loss, correct };
}
