// `attnc train` in-process on tiny synthetic runs: learning, outputs, and the user's mistakes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../runtime/checkpoint/names.js';
import { readMetrics, type MetricsRecord } from '../../runtime/train/metrics.js';
import { runCli } from '../helpers/cli.js';
import { irDocument, tempDir, tinyModel, tinyRun, writeSpec } from './fixtures.js';

const { dir, cleanup } = tempDir();
afterAll(cleanup);

function steps(records: MetricsRecord[]): Extract<MetricsRecord, { kind: 'step' }>[] {
  return records.filter((r): r is Extract<MetricsRecord, { kind: 'step' }> => r.kind === 'step');
}

describe('attnc train', () => {
  it('trains: the loss falls, test accuracy beats chance, metrics and checkpoints are written', async () => {
    const spec = writeSpec(dir, irDocument([tinyModel()], [tinyRun({ epochs: 5, optimizer: { kind: 'adamw', lr: 1e-2, weightDecay: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8 } })]), 'learn');
    const r = await runCli(['train', spec, '--out', 'learn', '--backend', 'wasm'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^backend: wasm: @tensorflow\/tfjs-backend-wasm [\d.]+ \(SIMD (on|off), 1 thread\)/);
    expect(r.stdout).toMatch(/done: 30 steps .*; test top-1 \d+\.\d\d%/);
    const records = readMetrics(path.join(dir, 'learn', 'metrics.jsonl'));
    const losses = steps(records).map((s) => s.loss);
    expect(losses).toHaveLength(30);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-6))).toBeLessThan(0.6 * mean(losses.slice(0, 6)));
    const evals = records.filter((x) => x.kind === 'eval');
    expect(evals.map((e) => e.step)).toEqual([6, 12, 18, 24, 30]);
    expect(evals.at(-1)!.acc).toBeGreaterThan(0.6); // 4 classes: chance is 0.25
    expect(records.filter((x) => x.kind === 'epoch').map((e) => e.epoch)).toEqual([1, 2, 3, 4, 5]);
    expect(Object.keys(steps(records)[0]!).sort()).toEqual(['acc', 'epoch', 'gradNorm', 'imagesPerSec', 'kind', 'loss', 'lr', 'step']);
    const last = await readCheckpoint(path.join(dir, 'learn', 'last.safetensors'));
    expect(last.meta.trainState).toMatchObject({ step: 30, epoch: 5, position: 0, rngState: { generator: 'counter', seed: 7 }, microBatch: 16, backend: 'wasm' });
    expect(Object.keys(last.optimizer).sort()).toEqual(['m', 'v']);
    expect(last.meta.run!.name).toBe('smoke');
    const best = await readCheckpoint(path.join(dir, 'learn', 'best.safetensors'));
    expect(best.meta.trainState!.bestMetric).toBe(Math.max(...evals.map((e) => e.acc)));
    expect(best.optimizer).toEqual({});
  });

  it('prints plain progress lines off a terminal, and none with --quiet', async () => {
    const spec = writeSpec(dir, irDocument([tinyModel()], [tinyRun({ epochs: 1 })]), 'plain');
    const loud = await runCli(['train', spec, '--out', 'plain'], dir);
    expect(loud.stdout).toMatch(/epoch 1\/1 {2}step 6\/6 {2}loss \d\.\d{4} {2}acc [\d.]+% {2}\d+ img\/s {2}ETA \d+:\d\d {2}lr [\d.]+e-\d/);
    expect(loud.stdout).toMatch(/eval at step 6: test top-1/);
    // Start-up and evaluation are not silent.
    expect(loud.stdout).toMatch(/^starting: building the model/m);
    expect(loud.stdout).toMatch(/^evaluating: 0\/\d+ test images/m);
    const quiet = await runCli(['train', spec, '--out', 'quiet', '--quiet'], dir);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).not.toMatch(/step \d+\/6/);
    expect(quiet.stdout).toMatch(/^done: 6 steps/m);
  });

  it('--json ends with a JSON summary on stdout, everything else on stderr', async () => {
    const spec = writeSpec(dir, irDocument([tinyModel()], [tinyRun({ epochs: 1 })]), 'json');
    const r = await runCli(['train', spec, '--out', 'json', '--json'], dir);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ run: 'smoke', model: 'tiny', status: 'done', step: 6, totalSteps: 6, out: 'json', files: { last: 'json/last.safetensors', best: 'json/best.safetensors', metrics: 'json/metrics.jsonl', report: 'json/report.html' } });
    expect(summary.lastEval.acc).toBeGreaterThanOrEqual(0);
    expect(summary.lastEval.acc).toBeLessThanOrEqual(1);
    expect(summary.bestAcc).toBe(summary.lastEval.acc);
    expect(summary.imagesPerSec).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/^backend: /);
    expect(r.stderr).toMatch(/^done: 6 steps/m);
  });

  it('takes --steps, --epochs and --seed from the command line', async () => {
    const spec = writeSpec(dir, irDocument([tinyModel()], [tinyRun()]), 'override');
    const r = await runCli(['train', spec, '--out', 'override', '--steps', '4', '--seed', '3', '--quiet'], dir);
    expect(r.code).toBe(0);
    const last = await readCheckpoint(path.join(dir, 'override', 'last.safetensors'));
    expect(last.meta.run).toMatchObject({ steps: 4, epochs: null, seed: 3 });
    expect(last.meta.trainState).toMatchObject({ step: 4, epoch: 0, position: 4 });
  });

  it('evaluates every eval.every epochs and at the end, and says when a resumed run has nothing left to do', async () => {
    const spec = writeSpec(dir, irDocument([tinyModel()], [tinyRun({ epochs: 3, eval: { everyEpochs: 2, batch: 7 } })]), 'every2');
    expect((await runCli(['train', spec, '--out', 'every2', '--quiet'], dir)).code).toBe(0);
    const evals = readMetrics(path.join(dir, 'every2', 'metrics.jsonl')).filter((x) => x.kind === 'eval');
    expect(evals.map((e) => [e.step, e.epoch])).toEqual([[12, 2], [18, 3]]);
    expect(evals.every((e) => e.kind === 'eval' && e.images === 40)).toBe(true); // 40 test images in passes of 7
    const again = await runCli(['train', spec, '--out', 'every2', '--resume'], dir);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/nothing to do: every2\/last.safetensors is at step 18 of 18 \(give --epochs or --steps to train longer\)/);
    expect(readMetrics(path.join(dir, 'every2', 'metrics.jsonl')).filter((x) => x.kind === 'eval')).toHaveLength(2);
  });

  describe('refuses, naming the fix', () => {
    const twoRuns = () => writeSpec(dir, irDocument([tinyModel()], [tinyRun({ name: 'a' }), tinyRun({ name: 'b' })]), 'two');

    it('an unknown run, or no --run when the spec has several', async () => {
      const unknown = await runCli(['train', twoRuns(), '--run', 'c'], dir);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/has no run 'c'; its runs: a, b — pass one of those to --run/);
      const which = await runCli(['train', twoRuns()], dir);
      expect(which.code).toBe(1);
      expect(which.stderr).toMatch(/has 2 runs: a, b — choose one with --run NAME/);
    });

    it('a data path that does not exist (relative to the spec)', async () => {
      const spec = writeSpec(dir, irDocument([tinyModel()], [tinyRun({ data: { kind: 'idx', path: 'no-such-data' } })]), 'nodata');
      const r = await runCli(['train', spec, '--out', 'nodata'], dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`${path.join(dir, 'no-such-data')}: IDX data directory not found — give the directory holding train-images-idx3-ubyte`);
      expect(fs.existsSync(path.join(dir, 'nodata', 'last.safetensors'))).toBe(false);
    });

    it('--epochs with --steps, --resume with --init, a bad number or backend', async () => {
      const spec = writeSpec(dir, irDocument([tinyModel()], [tinyRun()]), 'flags');
      const both = await runCli(['train', spec, '--epochs', '2', '--steps', '10'], dir);
      expect(both.code).toBe(1);
      expect(both.stderr).toMatch(/give --epochs or --steps, not both/);
      expect((await runCli(['train', spec, '--resume', '--init', 'x.safetensors'], dir)).stderr).toMatch(/give one of them/);
      expect((await runCli(['train', spec, '--steps', '0'], dir)).stderr).toMatch(/--steps needs a whole number >= 1, got '0'/);
      expect((await runCli(['train', spec, '--backend', 'gpu'], dir)).stderr).toMatch(/unknown --backend 'gpu'; use one of auto, wasm, cpu, tfjs-node, tfjs-node-gpu/);
      const missing = await runCli(['train', spec, '--backend', 'tfjs-node-gpu', '--out', 'gpu'], dir);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/@tensorflow\/tfjs-node-gpu is not installed.*use --backend auto/);
    });

    it('--resume without a checkpoint, and a fresh start over an existing run', async () => {
      const spec = writeSpec(dir, irDocument([tinyModel()], [tinyRun({ steps: 2, epochs: null })]), 'again');
      const nothing = await runCli(['train', spec, '--out', 'again', '--resume'], dir);
      expect(nothing.code).toBe(1);
      expect(nothing.stderr).toMatch(/nothing to resume: again\/last.safetensors does not exist/);
      expect((await runCli(['train', spec, '--out', 'again', '--quiet'], dir)).code).toBe(0);
      const twice = await runCli(['train', spec, '--out', 'again'], dir);
      expect(twice.code).toBe(1);
      expect(twice.stderr).toMatch(/again already holds a run \(again\/last.safetensors\): continue it with --resume, or choose another folder with --out/);
    });

    it('resuming with a changed run', async () => {
      const spec = writeSpec(dir, irDocument([tinyModel()], [tinyRun({ steps: 2, epochs: null })]), 'changed');
      expect((await runCli(['train', spec, '--out', 'changed', '--quiet'], dir)).code).toBe(0);
      const edited = writeSpec(dir, irDocument([tinyModel()], [tinyRun({ steps: 2, epochs: null, batch: 8, microBatch: 8 })]), 'changed');
      const r = await runCli(['train', edited, '--out', 'changed', '--resume', '--steps', '4'], dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/the checkpoint's run differs from run 'smoke' \(checkpoint vs now\): batch \(16 vs 8\); microBatch \(16 vs 8\)/);
    });
  });
});
