// `attnc eval` on checkpoints the test writes: its numbers against an independent computation from the
// model's own logits, the allocation against key norms computed in float64, and its errors.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocateFromScores } from '../../compiler/alloc.js';
import type { ScoredAllocationIR } from '../../compiler/ir/types.js';
import { readCheckpoint } from '../../runtime/checkpoint/names.js';
import { BatchIterator } from '../../runtime/data/batcher.js';
import { loadDataset } from '../../runtime/data/load.js';
import type { Batch } from '../../runtime/data/types.js';
import { selectBackend, type Tf } from '../../runtime/tfjs/backend.js';
import { loadCheckpointTensors } from '../../runtime/tfjs/params.js';
import { VitModel } from '../../runtime/tfjs/vit.js';
import { runCli } from '../helpers/cli.js';
import { CLASSES, firstBlockKeys, keyNorm, keyNormModel, tempDir, writeTinyCheckpoint, type WrittenCheckpoint } from './fixtures.js';

const BATCH = 16;

interface EvalJson {
  top1: number; top5: number; topK: number; loss: number; count: number;
  perClass: (number | null)[]; confusion: number[][]; allocation: { layer: number; policy: string; meanCounts: number[] }[];
  html: string | null; classNames: string[];
}

/** The test split's batches exactly as eval makes them (synthetic data, the run's normalisation). */
async function batches(w: WrittenCheckpoint): Promise<Batch[]> {
  const m = w.model;
  const data = await loadDataset(w.run.data, 'test', { baseDir: '.', height: m.image.height, width: m.image.width, channels: m.image.channels, classes: m.classes });
  return [...BatchIterator.eval(data, { batchSize: BATCH, normalize: w.run.normalize, prefetch: 0 })];
}

/** Logits of the checkpoint's model, built directly with VitModel (no eval code involved). */
async function referenceLogits(tf: Tf, file: string, bs: Batch[]): Promise<Float32Array[]> {
  const c = await readCheckpoint(file);
  const m = c.meta.model;
  const model = new VitModel(tf, m, { seed: 1, scope: 'reference/' });
  try {
    loadCheckpointTensors(tf, model.params, c.params);
    model.loadStateTensors(c.state);
    return bs.map((b) => tf.tidy(() => {
      const x = tf.tensor4d(b.x, [b.size, m.image.height, m.image.width, m.image.channels]) as Tensor4D;
      return (model.forward(x, { training: false, step: 5, seed: 7 }) as Tensor2D).dataSync() as Float32Array;
    }));
  } finally {
    model.dispose();
  }
}

/** Top-1, top-5, confusion and mean loss computed by sorting each row, independently of runtime/eval. */
function expectedMetrics(logits: Float32Array[], bs: Batch[]) {
  const confusion = Array.from({ length: CLASSES }, () => new Array<number>(CLASSES).fill(0));
  let top1 = 0, top5 = 0, loss = 0, n = 0;
  bs.forEach((b, k) => {
    for (let i = 0; i < b.size; i++) {
      const row = Array.from(logits[k]!.subarray(i * CLASSES, (i + 1) * CLASSES));
      const order = row.map((v, c) => ({ v, c })).sort((a, z) => z.v - a.v || a.c - z.c).map((e) => e.c);
      const label = b.y[i]!;
      confusion[label]![order[0]!]!++;
      if (order[0] === label) top1++;
      if (order.slice(0, 5).includes(label)) top5++;
      const max = Math.max(...row);
      loss += Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0)) + max - row[label]!;
      n++;
    }
  });
  return { top1: top1 / n, top5: top5 / n, loss: loss / n, confusion, count: n };
}

/**
 * Block 0's mean allocation over images: the l2 norms of each group's keys, summed over the batch and
 * shared out once per batch (scope batch), or shared out per image (scope sample).
 */
function expectedRecomputeMeans(w: WrittenCheckpoint, bs: Batch[]): number[] {
  const a = w.model.layers[0]!.attention;
  const policy = a.allocation as ScoredAllocationIR;
  const sums = new Array<number>(a.kvHeads).fill(0);
  let images = 0;
  const pixels = w.model.image.height * w.model.image.width * w.model.image.channels;
  const share = (norms: number[]) => allocateFromScores(norms, { heads: a.heads, scale: policy.scale, rounding: policy.rounding, minPerGroup: policy.min }).counts;
  for (const b of bs) {
    const batchNorms = new Array<number>(a.kvHeads).fill(0);
    for (let i = 0; i < b.size; i++) {
      const keys = firstBlockKeys(w.model, w.params, b.x.subarray(i * pixels, (i + 1) * pixels));
      const norms = Array.from({ length: a.kvHeads }, (_, g) => {
        let sq = 0;
        for (const tok of keys) for (let d = 0; d < a.headDim; d++) sq += tok[g * a.headDim + d]! ** 2;
        return Math.sqrt(sq);
      });
      norms.forEach((n, g) => (batchNorms[g] += n));
      if (policy.scope === 'sample') share(norms).forEach((c, g) => (sums[g] += c));
    }
    if (policy.scope === 'batch') share(batchNorms).forEach((c, g) => (sums[g] += c * b.size));
    images += b.size;
  }
  return sums.map((s) => s / images);
}

describe('attnc eval', () => {
  const { dir, cleanup } = tempDir();
  let tf: Tf;
  let w: WrittenCheckpoint;
  let bs: Batch[];
  beforeAll(async () => {
    tf = (await selectBackend('wasm')).tf;
    w = await writeTinyCheckpoint(dir, keyNormModel(), { counts: { 1: [3, 1] } });
    bs = await batches(w);
  });
  afterAll(cleanup);

  it('reports accuracies, loss, confusion and allocation that match an independent computation', async () => {
    const r = await runCli(['eval', w.file, '--json', '--backend', 'wasm', '--batch', String(BATCH)], dir);
    expect(r.stderr).toContain('backend: wasm');
    expect(r.code, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as EvalJson;
    const want = expectedMetrics(await referenceLogits(tf, w.file, bs), bs);
    // The test is only meaningful when the model predicts several classes, some right and some wrong.
    expect(new Set(want.confusion.flatMap((row) => row.flatMap((n, c) => (n ? [c] : [])))).size).toBeGreaterThanOrEqual(3);
    expect(want.top1).toBeGreaterThan(0);
    expect(want.top1).toBeLessThan(1);
    expect(want.top5).toBeLessThan(1);

    expect(got.count).toBe(40);
    expect(got.topK).toBe(5);
    expect(got.top1).toBe(want.top1);
    expect(got.top5).toBe(want.top5);
    expect(got.confusion).toEqual(want.confusion);
    expect(got.loss).toBeCloseTo(want.loss, 9);
    got.perClass.forEach((acc, c) => {
      const row = want.confusion[c]!;
      const total = row.reduce((s, v) => s + v, 0);
      expect(acc).toBe(total ? row[c]! / total : null);
    });

    expect(got.allocation.map((a) => [a.layer, a.policy])).toEqual([[0, 'key_norm'], [1, 'key_norm']]);
    const recompute = expectedRecomputeMeans(w, bs);
    got.allocation[0]!.meanCounts.forEach((c, g) => expect(c).toBeCloseTo(recompute[g]!, 12));
    // The allocation must vary (else the test cannot tell a recomputed allocation from a fixed one).
    expect(recompute.every((c) => Number.isInteger(c))).toBe(false);
    expect(got.allocation[1]!.meanCounts).toEqual([3, 1]); // frozen: the stored allocation

    expect(got.html).toBe('best.eval-test.html');
    const html = fs.readFileSync(path.join(dir, 'best.eval-test.html'), 'utf8');
    expect(html).toContain('<table class="grid">');
    expect(html).toContain(`${(got.top1 * 100).toFixed(2)}%`);
    expect(html).not.toMatch(/(src|href)=/); // self-contained
  });

  it('prints a readable report with an aligned confusion matrix', async () => {
    const r = await runCli(['eval', 'best.safetensors', '--backend', 'wasm', '--batch', String(BATCH)], dir);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse((await runCli(['eval', 'best.safetensors', '--backend', 'wasm', '--batch', String(BATCH), '--json'], dir)).stdout) as EvalJson;
    expect(r.stdout).toContain(`top-1 ${(json.top1 * 100).toFixed(2)}%   top-5 ${(json.top5 * 100).toFixed(2)}%   loss ${json.loss.toFixed(4)}`);
    const lines = r.stdout.split('\n');
    const header = lines.findIndex((l) => l.startsWith('confusion matrix'));
    const rows = lines.slice(header + 1, header + 2 + CLASSES);
    expect(rows).toHaveLength(CLASSES + 1);
    // Aligned: every row of the table has the same length, and row c ends with its counts.
    expect(new Set(rows.map((l) => l.length)).size).toBe(1);
    rows.slice(1).forEach((l, c) => expect(l.trim().split(/\s+/).map(Number)).toEqual([c, ...json.confusion[c]!]));
    expect(r.stdout).toMatch(/layer 0 +key_norm \(recompute, batch\) +\d\.\d\d \d\.\d\d/);
    expect(r.stdout).toMatch(/layer 1 +key_norm \(frozen, batch\) +3\.00 1\.00/);
    expect(r.stdout).toContain('report: best.eval-test.html');
    // --help names the file that is written.
    expect((await runCli(['eval', '--help'])).stdout).toContain('best.eval-test.html');
  });

  it('reports the mean of per-image allocations for scope sample', async () => {
    const { dir: own, cleanup: done } = tempDir();
    try {
      const base = keyNormModel();
      const model = { ...base, layers: base.layers.map((l, i) => (i === 0 ? { ...l, attention: { ...l.attention, allocation: keyNorm({ scope: 'sample' }) } } : l)) };
      const sample = await writeTinyCheckpoint(own, model, { counts: { 1: [3, 1] } });
      const r = await runCli(['eval', sample.file, '--json', '--backend', 'wasm', '--batch', String(BATCH)], own);
      expect(r.code, r.stderr).toBe(0);
      const want = expectedRecomputeMeans(sample, bs);
      expect(want.every((c) => Number.isInteger(c))).toBe(false);
      (JSON.parse(r.stdout) as EvalJson).allocation[0]!.meanCounts.forEach((c, g) => expect(c).toBeCloseTo(want[g]!, 12));
    } finally {
      done();
    }
  });

  it("evaluates DGQA rule 'paper', whose evaluation batches update the tracker as the reference's", async () => {
    const { dir: own, cleanup: done } = tempDir();
    try {
      const base = keyNormModel();
      const paper = keyNorm({ track: { kind: 'ema', decay: 0.9, rule: 'paper' }, window: 10 });
      const model = { ...base, layers: base.layers.map((l, i) => (i === 1 ? { ...l, attention: { ...l.attention, allocation: paper } } : l)) };
      const w2 = await writeTinyCheckpoint(own, model, { counts: { 0: [2, 2], 1: [3, 1] } });
      const r = await runCli(['eval', w2.file, '--json', '--backend', 'wasm', '--batch', String(BATCH)], own);
      expect(r.code, r.stderr).toBe(0);
      const layer1 = (JSON.parse(r.stdout) as EvalJson).allocation[1]!;
      expect(layer1.policy).toBe('key_norm');
      expect(layer1.meanCounts.reduce((a, b) => a + b, 0)).toBeCloseTo(4, 12);
      expect(layer1.meanCounts).not.toEqual([3, 1]); // recomputed from the batches, not the stored counts
    } finally {
      done();
    }
  });

  it('evaluates the train split when asked', async () => {
    const r = await runCli(['eval', w.file, '--split', 'train', '--json', '--backend', 'wasm'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as EvalJson).count).toBe(16);
    expect(fs.existsSync(path.join(dir, 'best.eval-train.html'))).toBe(true);
  });

  it('refuses a corrupt or missing checkpoint, naming the file', async () => {
    fs.writeFileSync(path.join(dir, 'broken.safetensors'), Buffer.from('this is not a safetensors file at all'));
    const broken = await runCli(['eval', 'broken.safetensors', '--backend', 'wasm'], dir);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/^attnc eval: broken\.safetensors: /);
    expect(broken.stderr).not.toContain('internal error');
    const missing = await runCli(['eval', 'nope.safetensors'], dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nope.safetensors: cannot read the file');
  });

  it('refuses data whose classes do not match the model', async () => {
    const r = await runCli(['eval', w.file, '--data', 'mnist', '--backend', 'wasm'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("model 'tiny' has 8 classes but mnist has 10");
    expect(r.stderr).toContain('evaluate it on data with 8 classes');
  });

  it('evaluates on --data instead of the run data', async () => {
    const r = await runCli(['eval', w.file, '--data', 'synthetic(test: 24)', '--json', '--backend', 'wasm'], dir);
    expect(r.code, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as EvalJson & { data: string };
    expect(got.count).toBe(24);
    expect(got.data).toBe('synthetic(train: 2048, test: 24)');
  });
});

