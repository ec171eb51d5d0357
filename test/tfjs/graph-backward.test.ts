// The graph's backward (compiler/graph/differentiate.ts: one vector-Jacobian rule per op), executed
// by the TensorFlow.js backend, against TensorFlow.js autodiff of the graph's own forward: every
// parameter gradient of two training steps, variant by variant, with dropout, attention dropout,
// drop path, label smoothing, micro-batches, KDGQA per image, DGQA (ema, diff, rule 'paper') and PGQA
// at the output and at the scores. Errors are relative to each tensor's largest value.
import * as tf from '@tensorflow/tfjs';
import type { Scalar, Tensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectModelAndRun } from '../../compiler/graph/lower.js';
import { crossEntropy } from '../../runtime/tfjs/ops.js';
import { VitModel } from '../../runtime/tfjs/vit.js';
import { batchGradients } from '../../runtime/tfjs/step.js';
import { compileText, randomBatch, relativeError } from '../webgpu-runtime/helpers.js';

const TOLERANCE = 2e-5;

const SPEC = `
model mha { image 8 x 8 x 3  patch 4  dim 16  depth 2  mlp 2x  classes 5  attention { heads 4 } }
model gqa extends mha { dropout 0.1  attn_dropout 0.2  drop_path 0.1  attention { kv_heads 2 } }
model kdgqa extends mha {
  dim 24  pool mean
  attention { heads 6  kv_heads 3  allocate key_norm(norm: l1, scope: sample, min: 1) }
}
model dgqa_ema extends kdgqa { pool cls  attention { allocate key_norm(track: ema(decay: 0.8), window: 1 steps, init: first_batch) } }
model dgqa_diff extends kdgqa { pool cls  attention { allocate key_norm(track: diff, window: 1 steps, init: first_batch, min: 0) } }
model dgqa_paper extends kdgqa { pool cls  attention { allocate key_norm(track: ema(decay: 0.9), window: 2 steps)  compat paper } }
model variance extends kdgqa { attention { allocate key_variance(scale: minmax) } }
model control_ema extends kdgqa { pool cls  attention { allocate random(track: ema(decay: 0.5), window: 1 steps, init: first_batch) } }
model pgqa extends mha {
  attention { kv_heads 2  perturb gaussian(scale: 0.5) }
  layers 1 { attention { perturb uniform(scale: 0.3, at: scores, during: always) } }
}
model pgqa_paper extends mha { attention { kv_heads 2  perturb uniform(scale: 0.4)  compat paper } }
train mha_run        { model mha        data synthetic(train: 8, test: 8) batch 4 seed 1 optimizer sgd(lr: 0.1) }
train gqa_run        { model gqa        data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 3 optimizer sgd(lr: 0.1) label_smoothing 0.1 }
train kdgqa_run      { model kdgqa      data synthetic(train: 8, test: 8) batch 3 seed 4 optimizer sgd(lr: 0.05) }
train dgqa_ema_run   { model dgqa_ema   data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 5 optimizer sgd(lr: 0.05) }
train dgqa_diff_run  { model dgqa_diff  data synthetic(train: 8, test: 8) batch 4 seed 6 optimizer sgd(lr: 0.05) }
train dgqa_paper_run { model dgqa_paper data synthetic(train: 8, test: 8) batch 4 seed 8 optimizer sgd(lr: 0.05) }
train variance_run    { model variance    data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 10 optimizer sgd(lr: 0.05) }
train control_ema_run { model control_ema data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 11 optimizer sgd(lr: 0.05) }
train pgqa_run       { model pgqa       data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 7 optimizer sgd(lr: 0.1) }
train pgqa_paper_run { model pgqa_paper data synthetic(train: 8, test: 8) batch 4 seed 9 optimizer sgd(lr: 0.1) }
`;

const VARIANTS = ['mha', 'gqa', 'kdgqa', 'dgqa_ema', 'dgqa_diff', 'dgqa_paper', 'variance', 'control_ema', 'pgqa', 'pgqa_paper'];

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Autodiff of the graph's training forward, pass by pass, as the trainer computed gradients before the graph had a backward. */
function autodiffGradients(vit: VitModel, x: Float32Array, y: Int32Array, o: { micro: number; size: number; step: number; seed: number; smoothing: number }): Tensor[] {
  const m = vit.model;
  const perImage = m.image.height * m.image.width * m.image.channels;
  let sums: Tensor[] | null = null;
  for (let i = 0; i < o.size / o.micro; i++) {
    const xs = tf.tensor4d(x.subarray(i * o.micro * perImage, (i + 1) * o.micro * perImage), [o.micro, m.image.height, m.image.width, m.image.channels]) as Tensor4D;
    const ys = tf.tensor1d(y.subarray(i * o.micro, (i + 1) * o.micro), 'int32') as Tensor1D;
    const { grads } = tf.variableGrads(() => {
      const logits = vit.forward(xs, { training: true, step: o.step, epochStep: o.step, seed: o.seed, microBatch: i });
      return tf.mul(crossEntropy(tf, logits, ys, o.smoothing), o.micro / o.size) as Scalar;
    }, vit.variables);
    const ordered = vit.variables.map((v) => grads[v.name]!);
    sums = sums === null ? ordered : sums.map((s, j) => tf.add(s, ordered[j]!));
    tf.dispose([xs, ys]);
  }
  return sums!;
}

describe('the graph\'s backward against TensorFlow.js autodiff of its forward', () => {
  const ir = compileText(SPEC);
  for (const variant of VARIANTS) {
    it(`${variant}: every parameter gradient of two training steps`, () => {
      const { model, run } = selectModelAndRun(ir, { run: `${variant}_run` });
      const vit = new VitModel(tf, model, { seed: run!.seed });
      try {
        for (const step of [0, 1]) {
          const batch = randomBatch(run!.batch, model.image.height * model.image.width * model.image.channels, model.classes, 100 + step);
          // Autodiff first: a DGQA layer's tracker sees the step once, the second pass reuses its allocation.
          const expected = autodiffGradients(vit, batch.x, batch.y, { micro: run!.microBatch, size: run!.batch, step, seed: run!.seed, smoothing: run!.labelSmoothing });
          const got = batchGradients(vit, batch, { run: run!, microBatch: run!.microBatch, step, epochStep: step, seed: run!.seed });
          vit.params.list.forEach((p, j) => {
            const err = relativeError(got.grads[j]!.dataSync() as Float32Array, expected[j]!.dataSync() as Float32Array);
            expect(err, `${variant} step ${step} ${p.name}`).toBeLessThan(TOLERANCE);
          });
          tf.dispose([...expected, ...got.grads, got.loss, got.correct]);
        }
      } finally {
        vit.dispose();
      }
    });
  }
});
