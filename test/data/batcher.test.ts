import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import type { AugmentIR } from '../../compiler/ir/types.js';
import { BatchIterator, stepsPerEpoch } from '../../runtime/data/batcher.js';
import type { Batch, Dataset } from '../../runtime/data/types.js';

/** count images of 2x2x1; image i is filled with 10 * i and labelled i. */
function numbered(count: number, height = 2, width = 2): Dataset {
  const per = height * width;
  const images = new Uint8Array(count * per);
  for (let i = 0; i < count; i++) images.fill(10 * i, i * per, (i + 1) * per);
  return { name: 'numbered', images, labels: Int32Array.from({ length: count }, (_, i) => i), count, height, width, channels: 1, classes: count, source: 'test' };
}

const identity = { mean: [0], std: [1] };
const train = (ds: Dataset, seed: number, epoch: number, augment: AugmentIR[] = [], prefetch?: number): BatchIterator =>
  BatchIterator.train(ds, { batchSize: 4, seed, epoch, augment, normalize: identity, ...(prefetch !== undefined ? { prefetch } : {}) });
const flat = (batches: Batch[]): { x: number[]; y: number[] } => ({ x: batches.flatMap((b) => Array.from(b.x)), y: batches.flatMap((b) => Array.from(b.y)) });

describe('stepsPerEpoch', () => {
  it('drops or keeps the last partial batch', () => {
    expect(stepsPerEpoch(10, 4, true)).toBe(2);
    expect(stepsPerEpoch(10, 4, false)).toBe(3);
    expect(stepsPerEpoch(8, 4, false)).toBe(2);
    expect(() => stepsPerEpoch(8, 0, false)).toThrow('batch size must be a positive whole number');
  });
});

describe('evaluation batches', () => {
  it('come in order, normalised, with a short last batch', () => {
    const it = BatchIterator.eval(numbered(10), { batchSize: 4, normalize: { mean: [0.5], std: [0.25] } });
    const batches = [...it];
    expect(batches.map((b) => b.size)).toEqual([4, 4, 2]);
    expect(flat(batches).y).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(batches[2]!.x.length).toBe(2 * 4);
    expect(batches[1]!.x[4]).toBeCloseTo((50 / 255 - 0.5) / 0.25, 5); // image 5, first pixel
  });
});

describe('training batches', () => {
  const ds = numbered(10);

  it('are a shuffled subset of whole batches whose pixels match their labels', () => {
    const batches = [...train(ds, 1, 0)];
    expect(batches.map((b) => b.size)).toEqual([4, 4]);
    const { x, y } = flat(batches);
    expect(new Set(y).size).toBe(8);
    expect(y).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    y.forEach((label, j) => {
      for (let p = 0; p < 4; p++) expect(x[j * 4 + p]).toBeCloseTo((10 * label) / 255, 6);
    });
  });

  it('repeat for a seed and epoch, and differ across seeds and epochs', () => {
    const order = (seed: number, epoch: number): number[] => flat([...train(numbered(50), seed, epoch)]).y;
    expect(order(1, 0)).toEqual(order(1, 0));
    expect(order(1, 0)).not.toEqual(order(1, 1));
    expect(order(1, 0)).not.toEqual(order(2, 0));
  });

  it('augment reproducibly, differently per epoch, whatever order batches are built in', () => {
    const big = numbered(16, 6, 6);
    for (let i = 0; i < big.images.length; i++) big.images[i] = (i * 7) % 256; // asymmetric images
    const augment: AugmentIR[] = [{ kind: 'crop', padding: 2 }, { kind: 'flip', p: 0.5 }, { kind: 'randaugment', n: 2, magnitude: 9 }];
    const a = train(big, 3, 0, augment);
    const forward = [a.batchAt(0), a.batchAt(1), a.batchAt(2), a.batchAt(3)];
    const b = train(big, 3, 0, augment);
    const backward = [b.batchAt(3), b.batchAt(2), b.batchAt(1), b.batchAt(0)].reverse();
    expect(flat(backward)).toEqual(flat(forward));
    const plain = flat([...train(big, 3, 0)]);
    expect(flat(forward).y).toEqual(plain.y); // augmentation does not change the shuffle
    expect(flat(forward).x).not.toEqual(plain.x);
  });

  it('augment the same image differently in each epoch and for each seed', () => {
    const big = numbered(8, 6, 6);
    for (let i = 0; i < big.images.length; i++) big.images[i] = (i * 7) % 256;
    // No shuffle, so only the augmentation can differ between the passes.
    const pass = (seed: number, epoch: number): number[] =>
      flat([...new BatchIterator(big, { batchSize: 4, shuffle: false, dropLast: true, seed, epoch, augment: [{ kind: 'randaugment', n: 2, magnitude: 15 }], normalize: identity })]).x;
    expect(pass(1, 0)).toEqual(pass(1, 0));
    expect(pass(1, 1)).not.toEqual(pass(1, 0));
    expect(pass(2, 0)).not.toEqual(pass(1, 0));
  });

  it('give the same batches through async iteration with any prefetch depth', async () => {
    const augment: AugmentIR[] = [{ kind: 'flip', p: 0.5 }];
    const reference = flat([...train(numbered(40), 7, 2, augment)]);
    for (const prefetch of [0, 1, 3, 20]) {
      const got: Batch[] = [];
      for await (const batch of train(numbered(40), 7, 2, augment, prefetch)) {
        got.push(batch);
        await tick(); // the consumer yields, as a training step awaiting a loss would
      }
      expect(flat(got), `prefetch ${prefetch}`).toEqual(reference);
    }
  });

  it('prepare batches ahead while the consumer waits, and stop cleanly on break', async () => {
    const it = train(numbered(40), 1, 0, [], 2);
    const built = vi.spyOn(it, 'batchAt');
    await it.next();
    await tick();
    await tick();
    expect(built.mock.calls.map((c) => c[0])).toEqual([0, 1, 2]); // batch 0 asked, 1 and 2 prepared
    await it.next();
    await tick();
    expect(built.mock.calls.map((c) => c[0])).toEqual([0, 1, 2, 3]);
    await it.return();
    await tick();
    expect(built).toHaveBeenCalledTimes(4);
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it('refuse a data set smaller than one batch', () => {
    expect(() => train(numbered(3), 1, 0)).toThrow('test: numbered has 3 images, fewer than one batch of 4 — lower the batch size or use more data');
  });
});
