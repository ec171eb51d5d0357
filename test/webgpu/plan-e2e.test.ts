// Whole plans on the device against the TensorFlow.js backend (runtime/tfjs, runtime/train): the
// golden specs of test/golden-targets/webgpu are planned, run by a literal executor
// (test/helpers/plan-runner.ts) for two optimizer steps of gradient-accumulated passes, and every
// gradient, the loss statistics, the updated parameters, the allocation state and the eval logits are
// compared with the same step in tfjs (same weights, same counter-based masks and noise).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import type { IRDocument } from '../../compiler/ir/types.js';
import { selectModelAndRun } from '../../compiler/graph/lower.js';
import { planWebGpu } from '../../compiler/targets/webgpu/lower.js';
import { toGraphLayout } from '../../runtime/checkpoint/graph-layout.js';
import { TfjsEngine } from '../../runtime/tfjs/engine.js';
import { runtimeValues } from '../../runtime/webgpu/runtime-values.js';
import { PlanRunner } from '../helpers/plan-runner.js';
import { gpuForTests, rng } from '../helpers/webgpu.js';

const { gpu, skipReason } = await gpuForTests();
const ROOT = path.join(import.meta.dirname, '..', 'golden-targets', 'webgpu');

/** The IR of a golden case (paths relative to the cases' folder, as the golden test compiles them). */
function compileCase(name: string): IRDocument {
  const result = compileFile(`${name}.attn`, { displayBase: ROOT });
  if (!result.ir) throw new Error(result.diagnostics.map((d) => d.message).join('; '));
  return result.ir;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** max |got - want| <= rel * max |want| + 1e-6, per tensor (the scale of a gradient varies by tensor). */
function expectTensorClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, rel: number): void {
  expect(got.length, what).toBe(want.length);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]!));
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  }
  expect(worst, `${what}: worst difference ${worst} at scale ${scale}`).toBeLessThanOrEqual(rel * scale + 1e-6);
}

const cases = fs.readdirSync(ROOT).filter((f) => f.endsWith('.attn')).map((f) => path.basename(f, '.attn'));

describe.skipIf(!gpu)(`plans on the device against tfjs ${skipReason ?? ''}`, () => {
  for (const name of cases) {
    it(`${name}: two training steps and an evaluation`, async () => {
      const ir = compileCase(name);
      const { model, run } = selectModelAndRun(ir, {});
      const { plan, wgsl } = planWebGpu(ir);
      const runner = await PlanRunner.create(gpu!.device, plan, wgsl);
      const tfjs = new TfjsEngine(tf, 'cpu', { model, run, seed: run?.seed ?? 0, microBatch: plan.batch });
      const vit = tfjs.vit;
      onTestFinished(() => tfjs.dispose());
      for (const p of plan.params) runner.write(p.buffer, vit.params.byName.get(p.name)!.variable.dataSync() as Float32Array);
      const perImage = model.image.height * model.image.width * model.image.channels;
      const images = run ? run.batch : plan.batch;
      const random = rng(11);
      const x = Float32Array.from({ length: images * perImage }, () => 2 * random() - 1);
      const y = Int32Array.from({ length: images }, () => Math.floor(random() * model.classes));
      if (run) {
        const t = plan.training!;
        for (const step of [0, 1]) {
          for (let i = 0; i < t.accumulate; i++) {
            runner.write('input:images', x.subarray(i * plan.batch * perImage, (i + 1) * plan.batch * perImage));
            runner.write('input:labels', Uint32Array.from(y.subarray(i * plan.batch, (i + 1) * plan.batch)));
            const values = runtimeValues(plan, { step, microBatch: i });
            await runner.run('forward', values);
            await runner.run('backward', values);
          }
          const at = { step, epochStep: step, lr: run.optimizer.lr };
          tfjs.accumulate({ x, y, size: images }, at);
          const grads = await tfjs.gradients();
          const problems: string[] = [];
          for (const p of plan.params) {
            try {
              expectTensorClose(`step ${step} grad ${p.name}`, await runner.read(p.grad), toGraphLayout(p, grads[p.name]!), 2e-3);
            } catch (e) {
              problems.push((e as Error).message.split('\n')[0]!);
            }
          }
          expect(problems).toEqual([]);
          await runner.run('optimizer', runtimeValues(plan, { step }));
          const stats = await runner.read(t.stats);
          tfjs.update(at);
          const want = await tfjs.stepStats();
          expect(stats[0]).toBeCloseTo(want.loss, 4);
          expect(stats[1]).toBe(want.correct);
          expect(stats[2]).toBeCloseTo(want.gradNorm, 4);
          for (const p of plan.params) {
            // Adam's m / sqrt(v) turns a gradient that is zero up to rounding (the key bias: softmax
            // ignores a constant per row) into a full-size step of either sign.
            const loose = t.optimizer === 'adamw' && p.name.endsWith('attn.qkv.bias');
            expectTensorClose(`step ${step} ${p.name}`, await runner.read(p.buffer), vit.params.byName.get(p.name)!.variable.dataSync(), loose ? 0.1 : 1e-4);
            expect(Array.from(await runner.read(p.grad)).every((v) => v === 0), `${p.name} gradient zeroed`).toBe(true);
          }
          for (const s of plan.allocationState) {
            const state = await runner.read(s.buffer);
            const counts = vit.state[model.layers.findIndex((l) => l.index === s.layer)]!.counts.dataSync();
            expect(Array.from(state.slice(0, s.groups)), `layer ${s.layer} counts at step ${step}`).toEqual(Array.from(counts));
          }
        }
      }
      runner.write('input:images', x.subarray(0, plan.batch * perImage));
      runner.write('input:labels', Uint32Array.from(y.subarray(0, plan.batch)));
      const seconds = await runner.run('eval', runtimeValues(plan, { step: 2 }));
      const xs = tf.tensor4d(x.subarray(0, plan.batch * perImage), [plan.batch, model.image.height, model.image.width, model.image.channels]);
      const logits = vit.forward(xs, { training: false, step: 2, seed: run?.seed ?? 0 });
      expectTensorClose('eval logits', await runner.read(plan.outputs.logits), logits.dataSync(), 1e-4);
      const correct = tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.tensor1d(y.subarray(0, plan.batch), 'int32')), 'float32')).dataSync()[0]);
      expect((await runner.read(plan.outputs.evalStats))[1]).toBe(correct);
      console.log(`${name}: ${plan.kernels.length} kernels, ${plan.phases.eval.length} eval dispatches in ${(seconds * 1000).toFixed(1)} ms`);
      tf.dispose([xs, logits]);
      runner.destroy();
    }, 300_000);
  }
});
