// Gradient accumulation on a tiny ViT (clipping is the optimizer phase: test/train/optimizer.test.ts).
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '@tensorflow/tfjs';
import type { Batch } from '../../runtime/data/types.js';
import { uniformFloats } from '../../core/random.js';
import { selectBackend, type Tf } from '../../runtime/tfjs/backend.js';
import { VitModel } from '../../runtime/tfjs/vit.js';
import { batchGradients } from '../../runtime/tfjs/step.js';
import { tinyModel, tinyRun } from './fixtures.js';

let tf: Tf;
beforeAll(async () => {
  tf = (await selectBackend('wasm')).tf;
});
const live: VitModel[] = [];
afterEach(() => {
  while (live.length) live.pop()!.dispose();
});

function batchOf(size: number, seed = 5): Batch {
  const x = uniformFloats(seed, 1, size * 64).map((u) => 2 * u - 1);
  const y = Int32Array.from({ length: size }, (_, i) => i % 4);
  return { x, y, size };
}

function flat(ts: Tensor[]): Float32Array[] {
  return ts.map((t) => t.dataSync() as Float32Array);
}

function maxRelDiff(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((x, i) => {
    let num = 0;
    let den = 0;
    x.forEach((v, j) => {
      num = Math.max(num, Math.abs(v - b[i]![j]!));
      den = Math.max(den, Math.abs(b[i]![j]!));
    });
    worst = Math.max(worst, den > 0 ? num / den : num);
  });
  return worst;
}

describe('batchGradients', () => {
  it('gives the gradients and loss of one pass over the batch when split into micro-batches', () => {
    const model = new VitModel(tf, tinyModel(), { seed: 3 });
    live.push(model);
    const batch = batchOf(16);
    const opts = { step: 0, seed: 1, run: tinyRun({ batch: 16, labelSmoothing: 0.1 }) };
    const whole = batchGradients(model, batch, { ...opts, microBatch: 16 });
    const split = batchGradients(model, batch, { ...opts, microBatch: 4 });
    expect(split.loss.dataSync()[0]).toBeCloseTo(whole.loss.dataSync()[0]!, 5);
    expect(split.correct.dataSync()[0]).toBe(whole.correct.dataSync()[0]);
    expect(maxRelDiff(flat(split.grads), flat(whole.grads))).toBeLessThan(1e-4);
    // Not trivially equal: the micro-batches really are different passes.
    const firstQuarter = batchGradients(model, { x: batch.x.subarray(0, 4 * 64), y: batch.y.subarray(0, 4), size: 4 }, { ...opts, run: tinyRun({ batch: 4, labelSmoothing: 0.1 }), microBatch: 4 });
    expect(maxRelDiff(flat(firstQuarter.grads), flat(whole.grads))).toBeGreaterThan(0.05);
    tf.dispose([...whole.grads, whole.loss, whole.correct, ...split.grads, split.loss, split.correct, ...firstQuarter.grads, firstQuarter.loss, firstQuarter.correct]);
  });

  it('refuses a micro-batch that does not divide the batch', () => {
    const model = new VitModel(tf, tinyModel(), { seed: 3 });
    live.push(model);
    expect(() => batchGradients(model, batchOf(16), { step: 0, seed: 1, run: tinyRun({ batch: 16 }), microBatch: 5 })).toThrow(/does not divide/);
  });

  it('draws other dropout masks in each micro-batch, the same ones on a replay', () => {
    const model = new VitModel(tf, tinyModel({ dropout: 0.3 }), { seed: 3 });
    live.push(model);
    const batch = batchOf(8);
    const run = (step: number) => {
      const r = batchGradients(model, batch, { step, seed: 1, run: tinyRun({ batch: 8 }), microBatch: 4 });
      const loss = r.loss.dataSync()[0]!;
      tf.dispose([...r.grads, r.loss, r.correct]);
      return loss;
    };
    expect(run(3)).toBe(run(3));
    expect(run(3)).not.toBe(run(4));
  });
});
