// Determinism and resumption: the same spec and seed give the same numbers; a run stopped by a signal,
// or killed after a checkpoint, and resumed ends with exactly the bytes of a run that never stopped.
// The model is DGQA (tracked allocation state, re-allocated every 2 steps) with dropout, drop path,
// micro-batches, label smoothing and clipping, so every kind of training state has to come back.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import type { Io } from '../../cli/io.js';
import { loadDataset } from '../../runtime/data/load.js';
import { selectBackend } from '../../runtime/tfjs/backend.js';
import { createProgress } from '../../runtime/train/progress.js';
import { train } from '../../runtime/tfjs/train.js';
import { runCli } from '../helpers/cli.js';
import { irDocument, keyNormModel, metricsWithoutTiming, tempDir, tinyRun, writeSpec } from './fixtures.js';

const { dir, cleanup } = tempDir();
afterAll(cleanup);

const model = { ...keyNormModel({ window: 2, track: { kind: 'diff', rule: 'attnc' }, dropout: 0.1 }), attnDropout: 0.1 };
model.layers = model.layers.map((l) => ({ ...l, dropPath: 0.1 }));
// 96 images in batches of 16: 6 steps per epoch, 3 epochs, evaluation every epoch.
const run = tinyRun({ epochs: 3, microBatch: 8, labelSmoothing: 0.1, clipGrad: 1 });
let spec: string;

const bytes = (run: string, file: string) => fs.readFileSync(path.join(dir, run, file));

beforeAll(async () => {
  spec = writeSpec(dir, irDocument([model], [run]), 'dgqa');
  const r = await runCli(['train', spec, '--backend', 'wasm', '--out', 'straight', '--quiet'], dir);
  expect(r.code).toBe(0);
});

describe('determinism', () => {
  it('gives identical metrics and checkpoint bytes for the same spec and seed', async () => {
    const again = await runCli(['train', spec, '--backend', 'wasm', '--out', 'again', '--quiet'], dir);
    expect(again.code).toBe(0);
    expect(metricsWithoutTiming(path.join(dir, 'again', 'metrics.jsonl'))).toEqual(metricsWithoutTiming(path.join(dir, 'straight', 'metrics.jsonl')));
    expect(bytes('again', 'last.safetensors').equals(bytes('straight', 'last.safetensors'))).toBe(true);
    expect(bytes('again', 'best.safetensors').equals(bytes('straight', 'best.safetensors'))).toBe(true);
  });

  it('gives other numbers for another seed', async () => {
    const other = await runCli(['train', spec, '--backend', 'wasm', '--out', 'seed8', '--seed', '8', '--quiet'], dir);
    expect(other.code).toBe(0);
    const a = metricsWithoutTiming(path.join(dir, 'seed8', 'metrics.jsonl')).find((r) => r.kind === 'step');
    const b = metricsWithoutTiming(path.join(dir, 'straight', 'metrics.jsonl')).find((r) => r.kind === 'step');
    expect(a!.loss).not.toBe(b!.loss);
  });
});

describe('resume', () => {
  it('after SIGINT (finish the step, save, exit 130) continues to the same bytes as a run never stopped', async () => {
    let stdout = '';
    const io: Io = {
      out: (t) => {
        stdout += t + '\n';
        // Plain progress prints every step here; interrupt in the middle of epoch 2.
        if (t.includes('step 8/18')) process.emit('SIGINT');
      },
      err: (t) => void (stdout += t),
      cwd: dir,
    };
    const code = await main(['train', spec, '--backend', 'wasm', '--out', 'interrupted'], io);
    expect(code).toBe(130);
    expect(stdout).toMatch(/stopped by SIGINT after step 8 of 18; .*last.safetensors holds it: continue with --resume/);
    expect(process.listenerCount('SIGINT')).toBe(0);
    const resumed = await runCli(['train', spec, '--backend', 'wasm', '--out', 'interrupted', '--resume', '--quiet'], dir);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/resume: interrupted\/last.safetensors at step 8 of 18 \(epoch 2, batch 3 of 6\)/);
    expect(bytes('interrupted', 'last.safetensors').equals(bytes('straight', 'last.safetensors'))).toBe(true);
    expect(bytes('interrupted', 'best.safetensors').equals(bytes('straight', 'best.safetensors'))).toBe(true);
    expect(metricsWithoutTiming(path.join(dir, 'interrupted', 'metrics.jsonl'))).toEqual(metricsWithoutTiming(path.join(dir, 'straight', 'metrics.jsonl')));
  });

  it('after a crash loses only the steps since the last checkpoint, and still ends with the same bytes', async () => {
    const { tf } = await selectBackend('wasm');
    const out = path.join(dir, 'crashed');
    fs.mkdirSync(out);
    const opts = { baseDir: dir, height: 8, width: 8, channels: 1, classes: 4 };
    const crash = train({
      tf, backend: 'wasm', model, run, train: await loadDataset(run.data, 'train', opts), test: await loadDataset(run.data, 'test', opts),
      outDir: out, microBatch: 8, evalChunk: run.eval.batch, saveEvery: 4,
      progress: createProgress({ mode: 'quiet', write: () => {}, plainEvery: 1 }), info: () => {},
      afterStep: (step) => {
        if (step === 11) throw new Error('simulated kill -9');
      },
    });
    await expect(crash).rejects.toThrow('simulated kill -9');
    // Saved at step 4 (--save-every), 6 (epoch end) and 8; steps 9-11 are lost, as with SIGKILL.
    const resumed = await runCli(['train', spec, '--backend', 'wasm', '--out', 'crashed', '--resume', '--quiet'], dir);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/resume: crashed\/last.safetensors at step 8 of 18/);
    expect(bytes('crashed', 'last.safetensors').equals(bytes('straight', 'last.safetensors'))).toBe(true);
    expect(metricsWithoutTiming(path.join(out, 'metrics.jsonl'))).toEqual(metricsWithoutTiming(path.join(dir, 'straight', 'metrics.jsonl')));
  });

  it('can extend a finished run with more epochs', async () => {
    const r = await runCli(['train', spec, '--backend', 'wasm', '--out', 'again', '--resume', '--epochs', '4', '--quiet'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/resume: again\/last.safetensors at step 18 of 24/);
    expect(r.stdout).toMatch(/done: 24 steps/);
  });
});
