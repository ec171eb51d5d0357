// The native CPU engine against the TensorFlow.js backend, variant by variant (the structure of
// test/webgpu-runtime/parity.test.ts): the same tiny ViT from the
// same seeded weights, the same batch, the same counter-based dropout, drop-path and PGQA noise; two
// optimizer steps, each compared on the loss, the hits, the gradient norm, every parameter gradient
// (read from the grad buffers before the optimizer phase), the allocation counts, and every updated
// parameter; then the eval logits and allocations of a full and a short batch. Errors are relative to
// each tensor's largest value and must stay below 1e-4.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { selectModelAndRun } from '../../compiler/graph/lower.js';
import { toCheckpointData, toCheckpointTensors } from '../../runtime/tfjs/params.js';
import { VitModel } from '../../runtime/tfjs/vit.js';
import { createOptimizer } from '../../runtime/tfjs/optimizer.js';
import { batchGradients, clipByGlobalNorm } from '../../runtime/tfjs/step.js';
import { nativeUnavailableReason } from '../../runtime/native/addon.js';
import { NativeEngine } from '../../runtime/native/engine.js';
import { compileText, randomBatch, relativeError } from '../webgpu-runtime/helpers.js';

const skipReason = nativeUnavailableReason();
if (skipReason) console.log(`skipping the native parity tests: ${skipReason}`);
const TOLERANCE = 1e-4;

// AdamW's eps is 1e-3 here: with the default 1e-8, m / sqrt(v) turns a gradient that is zero up to
// rounding (the key bias: softmax ignores a constant per row) into a full step of either sign, and
// the weights could not be compared. SGD runs compare with any settings.
const SPEC = `
model mha {
  image   8 x 8 x 3
  patch   4
  dim     16
  depth   2
  mlp     2x
  classes 5
  attention { heads 4 }
}
model mqa extends mha { attention { kv_heads 1 } }
model gqa extends mha {
  dropout      0.1
  attn_dropout 0.2
  drop_path    0.1
  attention { kv_heads 2 }
}
model kdgqa extends mha {
  dim 24
  pool mean
  attention {
    heads    6
    kv_heads 3
    allocate key_norm(norm: l1, scope: sample, min: 1)
  }
}
model dgqa_ema extends kdgqa {
  pool cls
  attention { allocate key_norm(track: ema(decay: 0.8), window: 1 steps, init: first_batch) }
}
model dgqa_diff extends kdgqa {
  pool cls
  attention { allocate key_norm(track: diff, window: 1 steps, init: first_batch, min: 0) }
}
model variance extends kdgqa {
  attention { allocate key_variance(scale: minmax, min: 1) }
}
model control extends kdgqa {
  pool cls
  attention { allocate random(scope: sample, min: 0) }
}
model pgqa extends mha {
  attention { kv_heads 2 perturb gaussian(scale: 0.5) }
  layers 1 { attention { perturb uniform(scale: 0.3, at: scores, during: always) } }
}
train mha_run       { model mha        data synthetic(train: 8, test: 8) batch 4 seed 1 optimizer sgd(lr: 0.1, momentum: 0.9, weight_decay: 1e-4) }
train mqa_run       { model mqa        data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 2 optimizer adamw(lr: 1e-2, eps: 1e-3) clip_grad 0.5 }
train gqa_run       { model gqa        data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 3 optimizer adamw(lr: 1e-2, weight_decay: 0.05, eps: 1e-3) label_smoothing 0.1 }
train kdgqa_run     { model kdgqa      data synthetic(train: 8, test: 8) batch 3 seed 4 optimizer sgd(lr: 0.05, momentum: 0.9) }
train dgqa_ema_run  { model dgqa_ema   data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 5 optimizer sgd(lr: 0.05) }
train dgqa_diff_run { model dgqa_diff  data synthetic(train: 8, test: 8) batch 4 seed 6 optimizer adamw(lr: 1e-2, eps: 1e-3) }
train variance_run  { model variance   data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 8 optimizer sgd(lr: 0.05, momentum: 0.9) }
train control_run   { model control    data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 9 optimizer adamw(lr: 1e-2, eps: 1e-3) }
train pgqa_run      { model pgqa       data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 7 optimizer sgd(lr: 0.1, momentum: 0.5) clip_grad 1.0 }
`;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const VARIANTS = ['mha', 'mqa', 'gqa', 'kdgqa', 'dgqa_ema', 'dgqa_diff', 'variance', 'control', 'pgqa'];

describe.skipIf(skipReason !== null)('the native engine against tfjs, one variant at a time', () => {
  const ir = compileText(SPEC);
  for (const variant of VARIANTS) {
    it(`${variant}: two training steps from identical weights, then evaluation`, async () => {
      const { model, run } = selectModelAndRun(ir, { run: `${variant}_run` });
      const vit = new VitModel(tf, model, { seed: run!.seed });
      const opt = createOptimizer(tf, vit.params.list, run!.optimizer);
      const engine = await NativeEngine.create({ model, run, seed: run!.seed, microBatch: run!.microBatch });
      onTestFinished(() => {
        engine.dispose();
        opt.dispose();
        vit.dispose();
      });
      const worst = { loss: 0, grad: 0, weight: 0, logits: 0 };
      const perImage = model.image.height * model.image.width * model.image.channels;
      for (const step of [0, 1]) {
        const batch = randomBatch(run!.batch, perImage, model.classes, 100 + step);
        const at = { step, epochStep: step, lr: run!.optimizer.lr };
        // tfjs: the trainer's step, op for op (runtime/train/tfjs-engine.ts).
        const g = batchGradients(vit, batch, { run: run!, microBatch: run!.microBatch, step, epochStep: step, seed: run!.seed });
        // Before clipping, which disposes the gradients it scales: the grad buffers hold them unclipped.
        const gradsWant = new Map(vit.params.list.map((p, i) => [p.name, toCheckpointData(p, g.grads[i]!.dataSync() as Float32Array)]));
        const clipped = clipByGlobalNorm(vit, g.grads, run!.clipGrad);
        const [lossWant, correctWant, normWant] = [g.loss.dataSync()[0]!, g.correct.dataSync()[0]!, clipped.norm.dataSync()[0]!];
        opt.apply(clipped.grads, at.lr, step + 1);
        tf.dispose([...clipped.grads, g.loss, g.correct, clipped.norm]);

        engine.accumulate(batch, at);
        const grads = await engine.gradients();
        engine.update(at);
        const stats = await engine.stepStats();

        worst.loss = Math.max(worst.loss, Math.abs(stats.loss - lossWant) / Math.abs(lossWant));
        expect(Math.abs(stats.loss - lossWant) / Math.abs(lossWant), `step ${step} loss`).toBeLessThan(TOLERANCE);
        expect(stats.correct, `step ${step} hits`).toBe(correctWant);
        expect(Math.abs(stats.gradNorm - normWant) / normWant, `step ${step} gradient norm`).toBeLessThan(TOLERANCE);
        const problems: string[] = [];
        for (const [name, want] of gradsWant) {
          const e = relativeError(grads[name]!, want);
          worst.grad = Math.max(worst.grad, e);
          if (!(e < TOLERANCE)) problems.push(`step ${step} grad ${name}: ${e.toExponential(2)}`);
        }
        const after = (await engine.checkpoint({ optimizer: false })).params;
        for (const [name, want] of Object.entries(toCheckpointTensors(vit.params))) {
          const e = relativeError(after[name]!.data as Float32Array, want.data);
          worst.weight = Math.max(worst.weight, e);
          if (!(e < TOLERANCE)) problems.push(`step ${step} weight ${name}: ${e.toExponential(2)}`);
        }
        expect(problems).toEqual([]);
        const countsWant = vit.state.flatMap((s) => (s ? [Array.from(s.counts.dataSync(), Math.round)] : []));
        expect(stats.counts, `step ${step} allocation`).toEqual(countsWant);
      }
      // Evaluation after the steps: a batch of 5 and a short one of 2 (each has its own eval plan).
      for (const size of [5, 2]) {
        const batch = randomBatch(size, perImage, model.classes, 200 + size);
        const got = await engine.evaluate(batch, { step: 2, logits: true });
        const counts: tf.Tensor[] = [];
        const x = tf.tensor4d(batch.x, [size, model.image.height, model.image.width, model.image.channels]);
        const logits = vit.forward(x, { training: false, step: 2, seed: run!.seed, onCounts: (_l, c) => void counts.push(c) });
        const e = relativeError(got.logits!, logits.dataSync());
        worst.logits = Math.max(worst.logits, e);
        expect(e, `eval logits of ${size} images`).toBeLessThan(TOLERANCE);
        expect(got.counts, `eval allocation of ${size} images`).toEqual(counts.map((c) => Array.from(c.dataSync(), Math.round)));
        tf.dispose([x, logits, ...counts]);
      }
      console.log(`${variant}: worst relative error over 2 steps: loss ${worst.loss.toExponential(2)}, gradients ${worst.grad.toExponential(2)}, updated weights ${worst.weight.toExponential(2)}, eval logits ${worst.logits.toExponential(2)}`);
    }, 120_000);
  }
});
