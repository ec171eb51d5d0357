import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MetricsLog, readMetrics } from '../../runtime/train/metrics.js';
import { createProgress, formatDuration, formatStepToFit, type StepProgress } from '../../runtime/train/progress.js';
import { tempDir } from './fixtures.js';

const at = (step: number): StepProgress => ({ step, totalSteps: 25, epoch: 1, totalEpochs: 1, loss: 0.5, acc: 0.75, lr: 1e-3, imagesPerSec: 400, etaSec: 65 });

describe('progress', () => {
  it('plain: a line every N steps and at the last step', () => {
    let out = '';
    const p = createProgress({ mode: 'plain', write: (t) => (out += t), plainEvery: 10 });
    for (let s = 1; s <= 25; s++) p.step(at(s));
    p.line('epoch 1/1: done');
    const lines = out.trimEnd().split('\n');
    expect(lines.map((l) => /step (\d+)\//.exec(l)?.[1] ?? l)).toEqual(['10', '20', '25', 'epoch 1/1: done']);
    expect(lines[0]).toBe('epoch 1/1  step 10/25  loss 0.5000  acc 75.0%  400 img/s  ETA 1:05  lr 1.00e-3');
  });

  it('tty: rewrites one line in place, keeps other lines above it, and clears it at the end', () => {
    let out = '';
    let now = 0;
    const p = createProgress({ mode: 'tty', write: (t) => (out += t), plainEvery: 10, minIntervalMs: 100, now: () => now });
    p.step(at(1));
    now = 50;
    p.step(at(2)); // too soon: not drawn
    now = 200;
    p.step(at(3));
    p.line('eval: 90%');
    p.finish();
    expect(out).not.toContain('step 2/');
    expect(out.split('\r\x1b[2K').filter(Boolean).map((s) => s.slice(0, 20))).toEqual([
      'epoch 1/1  step 1/25',
      'epoch 1/1  step 3/25',
      'eval: 90%\nepoch 1/1 ',
    ]);
    expect(out.endsWith('\r\x1b[2K')).toBe(true);
  });

  it('plain: a heartbeat however few steps a line is due at, and status lines when their topic changes', () => {
    let out = '';
    let now = 0;
    const p = createProgress({ mode: 'plain', write: (t) => (out += t), plainEvery: 100, heartbeatMs: 10_000, now: () => now });
    p.status('starting: building the model');
    p.status('starting: step 1 of 25');
    for (let s = 1; s <= 6; s++) {
      now += 4_000; // 4 s a step: a line at least every 10 s
      p.step(at(s));
    }
    p.status('evaluating: 0/100 test images');
    now += 3_000;
    p.status('evaluating: 50/100 test images'); // too soon
    now += 10_000;
    p.status('evaluating: 100/100 test images');
    const lines = out.trimEnd().split('\n').map((l) => l.replace(/ {2}loss.*/, ''));
    expect(lines).toEqual([
      'starting: building the model',
      'epoch 1/1  step 3/25',
      'epoch 1/1  step 6/25',
      'evaluating: 0/100 test images',
      'evaluating: 100/100 test images',
    ]);
  });

  it('tty: the step line fits the terminal width (60 columns), dropping the least useful fields first', () => {
    const full = formatStepToFit(at(3), 200);
    expect(full).toBe('epoch 1/1  step 3/25  loss 0.5000  acc 75.0%  400 img/s  ETA 1:05  lr 1.00e-3');
    const sixty = formatStepToFit(at(3), 59);
    expect(sixty.length).toBeLessThanOrEqual(59);
    expect(sixty).toContain('step 3/25');
    expect(sixty).toContain('loss 0.5000');
    expect(sixty).toContain('ETA 1:05');
    expect(formatStepToFit(at(3), 30).length).toBeLessThanOrEqual(30);
    let out = '';
    const p = createProgress({ mode: 'tty', write: (t) => (out += t), plainEvery: 1, columns: () => 40 });
    p.step(at(1));
    p.status('evaluating: 1000/10000 test images, and some more words to make it long');
    for (const drawn of out.split('\r\x1b[2K').filter(Boolean)) expect(drawn.length).toBeLessThanOrEqual(39);
  });

  it('quiet: nothing', () => {
    let out = '';
    const p = createProgress({ mode: 'quiet', write: (t) => (out += t), plainEvery: 1 });
    p.step(at(25));
    p.line('x');
    expect(out).toBe('');
  });

  it('formats durations', () => {
    expect(formatDuration(5)).toBe('0:05');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(NaN)).toBe('?');
  });
});

describe('MetricsLog', () => {
  const { dir, cleanup } = tempDir();
  afterAll(cleanup);

  it('appends JSON lines and, for a resume, keeps those up to a step (dropping a torn last line)', async () => {
    const log = new MetricsLog(path.join(dir, 'metrics.jsonl'));
    log.reset();
    for (let s = 1; s <= 4; s++) log.append({ kind: 'step', step: s, epoch: 1, loss: 1 / s, acc: 0.5, lr: 0.1, gradNorm: 1, imagesPerSec: 10 });
    log.append({ kind: 'allocation', step: 2, epoch: 1, layer: 0, counts: [3, 1] });
    fs.appendFileSync(log.path, '{"kind":"step","st');
    await log.truncateAfter(2);
    expect(readMetrics(log.path).map((r) => [r.kind, r.step])).toEqual([['step', 1], ['step', 2], ['allocation', 2]]);
  });
});
