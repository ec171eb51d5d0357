import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../runtime/data/load.js';
import { FASHION_MNIST_DIR } from '../../runtime/data/mnist.js';
import { makeSynthetic } from '../../runtime/data/synthetic.js';
import type { Dataset } from '../../runtime/data/types.js';
import { ramp, solid, tempDir, writeCifar, writeIdx, writePng } from './helpers.js';

const dir = tempDir();
const size = (height: number, width: number, channels: number) => ({ baseDir: dir, height, width, channels });

describe('loadDataset', () => {
  it('loads the built-in MNIST at the model size (28 -> 32, gray -> RGB)', async () => {
    const ds = await loadDataset({ kind: 'mnist', path: null }, 'test', { ...size(32, 32, 3), classes: 10 });
    expect([ds.count, ds.height, ds.width, ds.channels, ds.images.length]).toEqual([10000, 32, 32, 3, 10000 * 3072]);
    expect(ds.labels[0]).toBe(7);
    const first = ds.images.subarray(0, 3072);
    expect(first[3 * 500]).toBe(first[3 * 500 + 1]); // gray replicated into R, G, B
    expect(first.some((v) => v > 200)).toBe(true);
  });

  it('checks the model\'s class count against the data', async () => {
    await expect(loadDataset({ kind: 'mnist', path: null }, 'test', { ...size(28, 28, 1), classes: 100 })).rejects.toThrow(
      /the model has 100 classes but mnist has 10 — set the model's classes to 10/,
    );
  });

  it('resolves relative paths against baseDir (IDX, CIFAR-10, folder)', async () => {
    writeIdx(join(dir, 'digits', 't10k-images-idx3-ubyte.gz'), [2, 2, 2], [0, 100, 0, 100, 9, 9, 9, 9], true);
    writeIdx(join(dir, 'digits', 't10k-labels-idx1-ubyte.gz'), [2], [1, 3], true);
    const idx = await loadDataset({ kind: 'idx', path: 'digits' }, 'test', { ...size(2, 4, 1), classes: 4 });
    expect([idx.name, idx.classes, idx.width]).toEqual(['digits', 4, 4]);
    expect(Array.from(idx.images.subarray(0, 4))).toEqual([0, 25, 75, 100]);
    await expect(loadDataset({ kind: 'idx', path: 'digits' }, 'test', { ...size(2, 2, 1), classes: 3 })).rejects.toThrow(/label 3 at index 1 is out of range 0\.\.2/);
    await expect(loadDataset({ kind: 'idx', path: 'nodigits' }, 'test', size(2, 2, 1))).rejects.toThrow(/nodigits: IDX data directory not found/);

    writeCifar(join(dir, 'c10', 'test_batch.bin'), [{ labels: [4], hwc: solid(32, 32, [255, 0, 0]) }]);
    const cifar = await loadDataset({ kind: 'cifar10', path: 'c10' }, 'test', { ...size(16, 16, 1), classes: 10 });
    expect([cifar.height, cifar.channels, cifar.labels[0]]).toEqual([16, 1, 4]);
    expect(cifar.images.every((v) => v === 76)).toBe(true);

    writePng(join(dir, 'pics', 'train', 'a', '1.png'), ramp(64), 8, 8, 1);
    writePng(join(dir, 'pics', 'train', 'b', '1.png'), ramp(64), 8, 8, 1);
    const folder = await loadDataset({ kind: 'folder', path: 'pics' }, 'train', { ...size(4, 4, 1), classes: 2 });
    expect([folder.count, folder.height, folder.classes]).toEqual([2, 4, 2]);
    await expect(loadDataset({ kind: 'folder', path: 'pics' }, 'train', { ...size(4, 4, 1), classes: 3 })).rejects.toThrow(/model has 3 classes but pics has 2/);
  });

  it('loads Fashion-MNIST from its Debian location, or names the Debian package when it is missing', async () => {
    const load = loadDataset({ kind: 'fashion_mnist', path: null }, 'test', size(28, 28, 1));
    if (existsSync(FASHION_MNIST_DIR)) expect((await load).count).toBe(10000);
    else await expect(load).rejects.toThrow(/apt-get install dataset-fashion-mnist/);
  });

});

describe('synthetic data', () => {
  const shape = { height: 8, width: 8, channels: 3, classes: 5 };

  it('has the asked size and shape, balanced labels, and is deterministic', async () => {
    const ds = await loadDataset({ kind: 'synthetic', train: 100, test: 30 }, 'train', { ...size(8, 8, 3), classes: 5 });
    expect([ds.count, ds.height, ds.width, ds.channels, ds.classes]).toEqual([100, 8, 8, 3, 5]);
    expect(Array.from(ds.labels.subarray(0, 7))).toEqual([0, 1, 2, 3, 4, 0, 1]);
    expect(Array.from(makeSynthetic('train', 100, shape).images)).toEqual(Array.from(ds.images));
    // A prefix of a bigger set is the smaller set.
    expect(Array.from(makeSynthetic('train', 150, shape).images.subarray(0, ds.images.length))).toEqual(Array.from(ds.images));
    expect(Array.from(makeSynthetic('test', 100, shape).images)).not.toEqual(Array.from(ds.images));
    expect((await loadDataset({ kind: 'synthetic', train: 100, test: 30 }, 'test', size(8, 8, 1))).classes).toBe(10);
  });

  it('is learnable: nearest class mean from train classifies test well', () => {
    const trainSet = makeSynthetic('train', 500, shape);
    const testSet = makeSynthetic('test', 200, shape);
    const means = classMeans(trainSet);
    const per = 8 * 8 * 3;
    let correct = 0;
    for (let i = 0; i < testSet.count; i++) {
      let best = -1, bestDist = Infinity;
      means.forEach((m, k) => {
        let d = 0;
        for (let p = 0; p < per; p++) d += (testSet.images[i * per + p]! - m[p]!) ** 2;
        if (d < bestDist) [best, bestDist] = [k, d];
      });
      if (best === testSet.labels[i]) correct++;
    }
    expect(correct / testSet.count).toBeGreaterThan(0.9);
  });
});

function classMeans(ds: Dataset): Float64Array[] {
  const per = ds.height * ds.width * ds.channels;
  const sums = Array.from({ length: ds.classes }, () => new Float64Array(per));
  const counts = new Array(ds.classes).fill(0) as number[];
  for (let i = 0; i < ds.count; i++) {
    counts[ds.labels[i]!]!++;
    for (let p = 0; p < per; p++) sums[ds.labels[i]!]![p]! += ds.images[i * per + p]!;
  }
  return sums.map((s, k) => s.map((v) => v / counts[k]!));
}
