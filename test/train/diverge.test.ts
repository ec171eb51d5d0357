// A run whose loss becomes NaN or Inf stops at once with a message that says where and what to do,
// exit 1, and the last good checkpoint stays as it was.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../runtime/checkpoint/names.js';
import { selectBackend } from '../../runtime/tfjs/backend.js';
import { VitModel } from '../../runtime/tfjs/vit.js';
import { saveTrainingCheckpoint } from '../../runtime/tfjs/checkpoints.js';
import { NonFiniteWeightsError, type TrainerState } from '../../runtime/train/checkpoints.js';
import { readMetrics } from '../../runtime/train/metrics.js';
import { runCli } from '../helpers/cli.js';
import { irDocument, tempDir, tinyModel, tinyRun, writeSpec } from './fixtures.js';

const { dir, cleanup } = tempDir();
afterAll(cleanup);

describe('divergence', () => {
  it('stops at the first NaN loss (lr 1e30), keeps the last checkpoint and says what to change', async () => {
    const run = tinyRun({ optimizer: { kind: 'adamw', lr: 1e30, weightDecay: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8 }, schedule: { kind: 'constant', warmupSteps: 0, minLr: 0 } });
    const spec = writeSpec(dir, irDocument([tinyModel()], [run]), 'nan');
    const r = await runCli(['train', spec, '--out', 'nan', '--save-every', '1', '--quiet'], dir);
    expect(r.code).toBe(1);
    const m = /training diverged: the loss is (NaN|Infinity) at step (\d+) \(epoch 1, batch (\d+) of 6, learning rate 1\.000e\+30\); stopped without saving; the last good checkpoint, (\S+) \(step (\d+)\), is kept unchanged\. Lower the learning rate \(optimizer lr, now 1e\+30\) or clip the gradients \(clip_grad 1\.0\), then start again\./.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const failing = Number(m![2]);
    expect(failing).toBeGreaterThan(1); // the first step starts from finite weights
    expect(m![3]).toBe(String(failing));
    expect(m![4]).toBe(path.join('nan', 'last.safetensors'));
    expect(Number(m![5])).toBe(failing - 1);
    const kept = await readCheckpoint(path.join(dir, 'nan', 'last.safetensors'));
    expect(kept.meta.trainState!.step).toBe(failing - 1);
    for (const t of Object.values(kept.params)) expect((t.data as Float32Array).every(Number.isFinite)).toBe(true);
    // The failing step is not logged as a step; the steps before it are.
    const logged = readMetrics(path.join(dir, 'nan', 'metrics.jsonl')).filter((x) => x.kind === 'step').map((x) => x.step);
    expect(logged).toEqual(Array.from({ length: failing - 1 }, (_, i) => i + 1));
    expect(fs.readdirSync(path.join(dir, 'nan')).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('says so when no checkpoint was written yet, and suggests clipping harder when clipping', async () => {
    const run = tinyRun({ clipGrad: 5, optimizer: { kind: 'sgd', lr: 1e30, momentum: 0.9, weightDecay: 0 }, schedule: { kind: 'constant', warmupSteps: 0, minLr: 0 } });
    const spec = writeSpec(dir, irDocument([tinyModel()], [run]), 'nan2');
    const r = await runCli(['train', spec, '--out', 'nan2', '--quiet'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/training diverged: .* no checkpoint had been written yet\. Lower the learning rate \(optimizer lr, now 1e\+30\) or clip harder \(clip_grad is 5\)/);
    expect(fs.existsSync(path.join(dir, 'nan2', 'last.safetensors'))).toBe(false);
  });

  it('never writes a checkpoint of non-finite weights over a good one', async () => {
    const { tf } = await selectBackend('wasm');
    const model = new VitModel(tf, tinyModel(), { seed: 1 });
    const file = path.join(dir, 'guard.safetensors');
    const state: TrainerState = {
      step: 1, epoch: 0, position: 1, rngState: { generator: 'counter', seed: 1 }, bestMetric: null, microBatch: 16, backend: 'wasm',
      epochSums: { loss: 1, correct: 0, images: 16, steps: 1 },
    };
    await saveTrainingCheckpoint(file, { model, run: tinyRun(), optimizer: null, state });
    const good = fs.readFileSync(file);
    const head = model.params.byName.get('head.bias')!.variable;
    head.assign(tf.fill(head.shape, NaN));
    await expect(saveTrainingCheckpoint(file, { model, run: tinyRun(), optimizer: null, state: { ...state, step: 2 } })).rejects.toThrow(NonFiniteWeightsError);
    expect(fs.readFileSync(file).equals(good)).toBe(true);
    model.dispose();
  });
});
