// `--backend webgpu` through the command line: attnc train writes the metrics and checkpoints the tfjs
// backend writes; attnc eval gives the same accuracy and allocation on tfjs and on WebGPU for that
// checkpoint, and --init fine-tunes from it; a run that crashed and resumed ends byte for byte where an uninterrupted one does;
// attnc doctor names the adapter.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { selectModelAndRun } from '../../compiler/graph/lower.js';
import { readCheckpoint } from '../../runtime/checkpoint/names.js';
import { loadDataset } from '../../runtime/data/load.js';
import { readMetrics } from '../../runtime/train/metrics.js';
import { createProgress } from '../../runtime/train/progress.js';
import { train } from '../../runtime/train/trainer.js';
import { WebGpuEngine } from '../../runtime/webgpu/engine.js';
import { runCli } from '../helpers/cli.js';
import { gpuForTests } from '../helpers/webgpu.js';
import { metricsWithoutTiming, tempDir } from '../train/fixtures.js';
import { compileText } from './helpers.js';

const { gpu, skipReason } = await gpuForTests();
const { dir, cleanup } = tempDir('attnc-webgpu-cli-');
afterAll(cleanup);

// A DGQA layer (the allocation is logged and saved) beside a GQA one; 48 / 8 = 6 steps an epoch.
const SPEC = `
model small {
  image   8 x 8 x 1
  patch   4
  dim     24
  depth   2
  mlp     2x
  classes 4
  dropout 0.1
  attention { heads 6 kv_heads 3 }
  layers 1 {
    attention { allocate key_norm(track: ema(decay: 0.8), window: 2 steps, init: first_batch, scale: minmax) }
  }
}
train small_run {
  model     small
  data      synthetic(train: 48, test: 36)
  batch     8
  micro_batch 4
  epochs    2
  seed      9
  optimizer adamw(lr: 1e-2, weight_decay: 0.05)
  eval      { batch 16 }
}
`;

describe.skipIf(!gpu)(`attnc train and eval --backend webgpu ${skipReason ?? ''}`, () => {
  const spec = path.join(dir, 'small.attn');
  fs.writeFileSync(spec, SPEC);

  it('trains, writes metrics.jsonl and checkpoints; tfjs and WebGPU evaluate the checkpoint alike', async () => {
    const r = await runCli(['train', spec, '--backend', 'webgpu', '--steps', '9', '--out', 'run'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^backend: webgpu: .+ via Dawn/m);
    expect(r.stdout).toMatch(/in micro-batches of 4/);
    expect(r.stdout).toMatch(/done: 9 steps/);
    const records = readMetrics(path.join(dir, 'run', 'metrics.jsonl'));
    expect(records.filter((m) => m.kind === 'step')).toHaveLength(9);
    expect(records.filter((m) => m.kind === 'eval').length).toBeGreaterThanOrEqual(2);
    expect(records.some((m) => m.kind === 'allocation' && m.layer === 1 && m.step > 0)).toBe(true);
    const last = await readCheckpoint(path.join(dir, 'run', 'last.safetensors'));
    expect(last.meta.trainState?.backend).toBe('webgpu');
    expect(Object.keys(last.optimizer).sort()).toEqual(['m', 'v']);
    const finalEval = records.filter((m) => m.kind === 'eval').at(-1) as { acc: number };

    const viaTfjs = await runCli(['eval', 'run/last.safetensors', '--backend', 'wasm', '--json'], dir);
    const viaGpu = await runCli(['eval', 'run/last.safetensors', '--backend', 'webgpu', '--json'], dir);
    expect(viaGpu.code).toBe(0);
    expect(viaGpu.stderr).toMatch(/^backend: webgpu: /m);
    const a = JSON.parse(viaTfjs.stdout) as { top1: number; loss: number; allocation: { meanCounts: number[] }[]; confusion: number[][] };
    const b = JSON.parse(viaGpu.stdout) as typeof a;
    expect(b.top1).toBe(a.top1);
    expect(b.confusion).toEqual(a.confusion);
    expect(b.allocation).toEqual(a.allocation);
    expect(Math.abs(b.loss - a.loss)).toBeLessThan(1e-4 * a.loss);
    // The trainer's last evaluation (same data, eval batch 16) said the same.
    expect(b.top1).toBeCloseTo(finalEval.acc, 10);

    // Fine-tuning from it: every tensor but the head, and the allocation state.
    const ft = await runCli(['train', spec, '--backend', 'webgpu', '--init', 'run/best.safetensors', '--steps', '2', '--out', 'ft', '--quiet'], dir);
    expect(ft.code).toBe(0);
    expect(ft.stdout).toMatch(/^init: \d+ tensors from run\/best.safetensors \(model 'small'\), head freshly initialised; allocation state loaded$/m);
  }, 240_000);

  it('resumes after a crash exactly where an uninterrupted run ends', async () => {
    expect((await runCli(['train', spec, '--backend', 'webgpu', '--out', 'straight', '--quiet'], dir)).code).toBe(0);
    const { model, run } = selectModelAndRun(compileText(SPEC), {});
    const out = path.join(dir, 'crashed');
    fs.mkdirSync(out);
    const opts = { baseDir: dir, height: 8, width: 8, channels: 1, classes: 4 };
    const crash = train({
      backend: 'webgpu', engine: (o) => WebGpuEngine.create({ ...o, gpu: gpu! }), model, run: run!,
      train: await loadDataset(run!.data, 'train', opts), test: await loadDataset(run!.data, 'test', opts),
      outDir: out, microBatch: 4, evalChunk: run!.eval.batch, saveEvery: 4,
      progress: createProgress({ mode: 'quiet', write: () => {}, plainEvery: 1 }), info: () => {},
      afterStep: (step) => {
        if (step === 10) throw new Error('simulated kill -9');
      },
    });
    await expect(crash).rejects.toThrow('simulated kill -9');
    // Saved at step 4 (--save-every), 6 (epoch end) and 8; steps 9 and 10 are lost.
    const resumed = await runCli(['train', spec, '--backend', 'webgpu', '--out', 'crashed', '--resume', '--quiet'], dir);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/resume: crashed\/last.safetensors at step 8 of 12/);
    const bytes = (run: string, file: string) => fs.readFileSync(path.join(dir, run, file));
    expect(bytes('crashed', 'last.safetensors').equals(bytes('straight', 'last.safetensors'))).toBe(true);
    expect(bytes('crashed', 'best.safetensors').equals(bytes('straight', 'best.safetensors'))).toBe(true);
    expect(metricsWithoutTiming(path.join(out, 'metrics.jsonl'))).toEqual(metricsWithoutTiming(path.join(dir, 'straight', 'metrics.jsonl')));
  }, 240_000);

  it('attnc doctor names the adapter', async () => {
    const r = await runCli(['doctor', '--json'], dir);
    const report = JSON.parse(r.stdout) as { webgpu: { ok: boolean; detail: string } };
    expect(report.webgpu.ok).toBe(true);
    expect(report.webgpu.detail).toMatch(/via Dawn/);
  }, 60_000);
});
