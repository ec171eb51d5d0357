import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { findIdxFiles, loadIdxPair, parseIdx } from '../../runtime/data/idx.js';
import { DataError } from '../../runtime/data/types.js';
import { idxBytes, ramp, tempDir, writeBytes, writeIdx } from './helpers.js';

const dir = tempDir();

describe('IDX parsing', () => {
  it('reads rank-3 images and rank-1 labels exactly, plain and gzipped', async () => {
    for (const gz of [false, true]) {
      const sub = join(dir, gz ? 'r3gz' : 'r3');
      const pixels = ramp(3 * 4 * 5, 7);
      const images = writeIdx(join(sub, `train-images-idx3-ubyte${gz ? '.gz' : ''}`), [3, 4, 5], pixels, gz);
      const labels = writeIdx(join(sub, `train-labels-idx1-ubyte${gz ? '.gz' : ''}`), [3], [2, 0, 1], gz);
      const ds = await loadIdxPair(images, labels, { name: 't', source: sub });
      expect([ds.count, ds.height, ds.width, ds.channels, ds.classes]).toEqual([3, 4, 5, 1, 3]);
      expect(Array.from(ds.images)).toEqual(Array.from(pixels));
      expect(Array.from(ds.labels)).toEqual([2, 0, 1]);
    }
  });

  it('reads rank-4 images as HWC with C channels', async () => {
    const pixels = ramp(2 * 2 * 3 * 3, 100);
    const images = writeIdx(join(dir, 'r4', 'train-images-idx4-ubyte.gz'), [2, 2, 3, 3], pixels, true);
    const labels = writeIdx(join(dir, 'r4', 'train-labels-idx1-ubyte'), [2], [1, 1]);
    const ds = await loadIdxPair(images, labels, { name: 't', source: dir, classes: 4 });
    expect([ds.count, ds.height, ds.width, ds.channels, ds.classes]).toEqual([2, 2, 3, 3, 4]);
    expect(Array.from(ds.images)).toEqual(Array.from(pixels));
  });

  it('gunzips by magic bytes even without a .gz name, and reads a .gz name holding plain data', async () => {
    const images = writeBytes(join(dir, 'mislabelled', 'a'), gzipSync(idxBytes([1, 2, 2], [1, 2, 3, 4])));
    const labels = writeBytes(join(dir, 'mislabelled', 'b.gz'), idxBytes([1], [0]));
    const ds = await loadIdxPair(images, labels, { name: 't', source: dir });
    expect(Array.from(ds.images)).toEqual([1, 2, 3, 4]);
  });

  it('rejects a wrong magic with the file, the expected and found magic', () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]);
    expect(() => parseIdx(png, 'x.idx', 'images', [3, 4])).toThrow('x.idx: IDX magic 0x00000803 or 0x00000804 expected, found 0x89504e47 — this is not an IDX file');
  });

  it('rejects a labels file given as images, and non-byte element types', () => {
    expect(() => parseIdx(idxBytes([2], [0, 1]), 'l', 'images', [3, 4])).toThrow(/IDX images of rank 1 .*is this a labels file\?/);
    const floats = idxBytes([1], [0]);
    floats[2] = 0x0d;
    expect(() => parseIdx(floats, 'f', 'labels', [1])).toThrow(/float32 elements.*convert the labels to uint8/);
  });

  it('rejects truncated and oversized files with expected and found sizes', () => {
    const full = idxBytes([2, 3, 3], ramp(18));
    expect(() => parseIdx(full.subarray(0, full.length - 5), 'cut', 'images', [3])).toThrow(
      'cut: truncated IDX images [2,3,3]: expected 34 bytes, found 29 — the download is incomplete; download it again',
    );
    expect(() => parseIdx(full.subarray(0, 10), 'hdr', 'images', [3])).toThrow('expected at least 16 bytes, found 10');
    expect(() => parseIdx(new Uint8Array([...full, 0]), 'long', 'images', [3])).toThrow('should be 34 bytes, found 35 (trailing data)');
  });

  it('reports a damaged gzip file by name', async () => {
    const gz = gzipSync(idxBytes([1, 2, 2], [1, 2, 3, 4]));
    const images = writeBytes(join(dir, 'badgz', 'train-images-idx3-ubyte.gz'), gz.subarray(0, gz.length - 8));
    const labels = writeIdx(join(dir, 'badgz', 'train-labels-idx1-ubyte'), [1], [0]);
    await expect(loadIdxPair(images, labels, { name: 't', source: dir })).rejects.toThrow(/train-images-idx3-ubyte\.gz: cannot gunzip IDX images file: .*download it again/);
  });

  it('rejects label count != image count, and labels out of range', async () => {
    const images = writeIdx(join(dir, 'count', 'i'), [3, 1, 1], [1, 2, 3]);
    const labels = writeIdx(join(dir, 'count', 'l'), [2], [0, 1]);
    await expect(loadIdxPair(images, labels, { name: 't', source: dir })).rejects.toThrow(/count\/l: 2 labels for 3 images in .*count\/i/);
    const labels3 = writeIdx(join(dir, 'count', 'l3'), [3], [0, 10, 1]);
    const err = await loadIdxPair(images, labels3, { name: 't', source: dir, classes: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).message).toMatch(/l3: label 10 at index 1 is out of range 0\.\.9/);
    expect((err as DataError).file).toBe(labels3);
  });

  it('reports a missing file by name', async () => {
    const labels = writeIdx(join(dir, 'missing', 'l'), [1], [0]);
    await expect(loadIdxPair(join(dir, 'missing', 'nope'), labels, { name: 't', source: dir })).rejects.toThrow(/missing\/nope: IDX images file not found/);
  });
});

describe('IDX directories', () => {
  it('finds the MNIST names, dotted names, idx4 images and gz variants', async () => {
    const d = join(dir, 'find');
    for (const f of ['train-images.idx3-ubyte', 'train-labels.idx1-ubyte', 't10k-images-idx4-ubyte.gz', 't10k-labels-idx1-ubyte.gz', 'README']) writeBytes(join(d, f), '');
    expect(await findIdxFiles(d, 'train')).toEqual({ images: join(d, 'train-images.idx3-ubyte'), labels: join(d, 'train-labels.idx1-ubyte') });
    expect(await findIdxFiles(d, 'test')).toEqual({ images: join(d, 't10k-images-idx4-ubyte.gz'), labels: join(d, 't10k-labels-idx1-ubyte.gz') });
  });

  it('names the missing file and what it found, and refuses ambiguity', async () => {
    const d = join(dir, 'partial');
    writeIdx(join(d, 'train-images-idx3-ubyte'), [1, 1, 1], [0]);
    writeIdx(join(d, 'train-images-idx3-ubyte.gz'), [1, 1, 1], [0], true);
    await expect(findIdxFiles(d, 'test')).rejects.toThrow(/partial: no test images file: expected t10k-images-idx3-ubyte or t10k-images-idx3-ubyte\.gz, found train-images-idx3-ubyte, train-images-idx3-ubyte\.gz/);
    await expect(findIdxFiles(d, 'train')).rejects.toThrow(/several train images files: train-images-idx3-ubyte, train-images-idx3-ubyte\.gz/);
    await expect(findIdxFiles(join(dir, 'nowhere'), 'train')).rejects.toThrow(/nowhere: IDX data directory not found/);
  });
});
