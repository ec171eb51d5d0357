// The WebGPU engine against the TensorFlow.js backend, variant by variant: the same tiny ViT from the
// same seeded weights, the same batch, the same counter-based dropout, drop-path and PGQA noise; two
// optimizer steps, each compared on the loss, the hits, the gradient norm, every parameter gradient
// (read from the grad buffers before the optimizer phase), the allocation counts, and every updated
// parameter; then the eval logits and allocations of a full and a short batch. Errors are relative to
// each tensor's largest value and must stay below 1e-4.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { selectModelAndRun } from '../../compiler/graph/lower.js';
import { TfjsEngine } from '../../runtime/tfjs/engine.js';
import { toCheckpointTensors } from '../../runtime/tfjs/params.js';
import { WebGpuEngine } from '../../runtime/webgpu/engine.js';
import { gpuForTests } from '../helpers/webgpu.js';
import { compileText, PARITY_SPEC, PARITY_VARIANTS, randomBatch, relativeError } from './helpers.js';

const { gpu, skipReason } = await gpuForTests();
const TOLERANCE = 1e-4;


beforeAll(async () => {
  await tf.setBackend('cpu');
});


describe.skipIf(!gpu)(`the WebGPU engine against tfjs, one variant at a time ${skipReason ?? ''}`, () => {
  const ir = compileText(PARITY_SPEC);
  for (const variant of PARITY_VARIANTS) {
    it(`${variant}: two training steps from identical weights, then evaluation`, async () => {
      const { model, run } = selectModelAndRun(ir, { run: `${variant}_run` });
      const tfjs = new TfjsEngine(tf, 'cpu', { model, run, seed: run!.seed, microBatch: run!.microBatch });
      const vit = tfjs.vit;
      const engine = await WebGpuEngine.create({ model, run, seed: run!.seed, microBatch: run!.microBatch, gpu: gpu! });
      onTestFinished(() => {
        engine.dispose();
        tfjs.dispose();
      });
      const worst = { loss: 0, grad: 0, weight: 0, logits: 0 };
      const perImage = model.image.height * model.image.width * model.image.channels;
      for (const step of [0, 1]) {
        const batch = randomBatch(run!.batch, perImage, model.classes, 100 + step);
        const at = { step, epochStep: step, lr: run!.optimizer.lr };
        // tfjs: the engine's step, phase by phase as on the other backend.
        tfjs.accumulate(batch, at);
        const gradsWant = await tfjs.gradients();
        tfjs.update(at);
        const { loss: lossWant, correct: correctWant, gradNorm: normWant } = await tfjs.stepStats();

        engine.accumulate(batch, at);
        const grads = await engine.gradients();
        engine.update(at);
        const stats = await engine.stepStats();

        worst.loss = Math.max(worst.loss, Math.abs(stats.loss - lossWant) / Math.abs(lossWant));
        expect(Math.abs(stats.loss - lossWant) / Math.abs(lossWant), `step ${step} loss`).toBeLessThan(TOLERANCE);
        expect(stats.correct, `step ${step} hits`).toBe(correctWant);
        expect(Math.abs(stats.gradNorm - normWant) / normWant, `step ${step} gradient norm`).toBeLessThan(TOLERANCE);
        const problems: string[] = [];
        for (const [name, want] of Object.entries(gradsWant)) {
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
