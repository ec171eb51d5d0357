import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CIFAR10_CLASS_NAMES, loadCifar } from '../../runtime/data/cifar.js';
import { ramp, tempDir, writeBytes, writeCifar } from './helpers.js';

const dir = tempDir();

/** A 32x32 RGB image whose pixel p has R = p mod 256, G = seed, B = 255 - p mod 256. */
function known(seed: number): Uint8Array {
  const hwc = new Uint8Array(3072);
  for (let p = 0; p < 1024; p++) hwc.set([p % 256, seed, 255 - (p % 256)], 3 * p);
  return hwc;
}

describe('CIFAR-10 binary', () => {
  const root = join(dir, 'c10');
  const bin = join(root, 'cifar-10-batches-bin'); // the directory the official archive unpacks to
  for (let b = 1; b <= 5; b++) writeCifar(join(bin, `data_batch_${b}.bin`), [{ labels: [b], hwc: known(b) }, { labels: [9], hwc: known(50 + b) }]);
  writeCifar(join(bin, 'test_batch.bin'), [{ labels: [3], hwc: known(99) }]);
  writeBytes(join(bin, 'batches.meta.txt'), CIFAR10_CLASS_NAMES.join('\n') + '\n\n');

  it('reads every training batch in order, planes converted to HWC', async () => {
    const ds = await loadCifar('cifar10', root, 'train');
    expect([ds.count, ds.height, ds.width, ds.channels, ds.classes]).toEqual([10, 32, 32, 3, 10]);
    expect(Array.from(ds.labels)).toEqual([1, 9, 2, 9, 3, 9, 4, 9, 5, 9]);
    expect(Array.from(ds.images.subarray(0, 3072))).toEqual(Array.from(known(1)));
    expect(Array.from(ds.images.subarray(9 * 3072))).toEqual(Array.from(known(55)));
    expect(ds.source).toBe(bin);
    expect(ds.classNames?.[3]).toBe('cat');
  });

  it('reads the test batch from the .bin directory itself', async () => {
    const ds = await loadCifar('cifar10', bin, 'test');
    expect(ds.count).toBe(1);
    expect(ds.labels[0]).toBe(3);
    expect(Array.from(ds.images.subarray(0, 6))).toEqual([0, 99, 255, 1, 99, 254]);
  });

  it('names the missing batch files', async () => {
    const partial = join(dir, 'partial');
    writeCifar(join(partial, 'data_batch_1.bin'), [{ labels: [0], hwc: known(0) }]);
    writeCifar(join(partial, 'test_batch.bin'), [{ labels: [0], hwc: known(0) }]);
    await expect(loadCifar('cifar10', partial, 'train')).rejects.toThrow(/partial: missing data_batch_2\.bin, data_batch_3\.bin, data_batch_4\.bin, data_batch_5\.bin — a cifar10 directory holds/);
    await expect(loadCifar('cifar10', join(dir, 'absent'), 'test')).rejects.toThrow(/absent: cifar10 directory not found/);
  });

  it('rejects a truncated file with expected and found sizes', async () => {
    const cut = join(dir, 'cut');
    writeBytes(join(cut, 'test_batch.bin'), ramp(3073 + 100).map((v, i) => (i === 0 ? 1 : v)));
    await expect(loadCifar('cifar10', cut, 'test')).rejects.toThrow(/test_batch\.bin: 3173 bytes is not a whole number of 3073-byte records \(the official file has 10000 records: expected 30730000 bytes, found 3173\)/);
  });

  it('rejects a label out of range, naming the record', async () => {
    const bad = join(dir, 'badlabel');
    writeCifar(join(bad, 'test_batch.bin'), [{ labels: [0], hwc: known(0) }, { labels: [12], hwc: known(0) }]);
    await expect(loadCifar('cifar10', bad, 'test')).rejects.toThrow(/test_batch\.bin: label 12 of record 1 is out of range 0\.\.9/);
  });

  it('rejects a class-name file with the wrong number of names', async () => {
    const names = join(dir, 'names');
    writeCifar(join(names, 'test_batch.bin'), [{ labels: [0], hwc: known(0) }]);
    writeBytes(join(names, 'batches.meta.txt'), 'cat\ndog\n');
    await expect(loadCifar('cifar10', names, 'test')).rejects.toThrow(/batches\.meta\.txt: 2 class names, expected 10/);
  });
});

describe('CIFAR-100 binary', () => {
  const root = join(dir, 'c100');
  writeCifar(join(root, 'cifar-100-binary', 'train.bin'), [{ labels: [19, 99], hwc: known(7) }, { labels: [0, 42], hwc: known(8) }]);
  writeCifar(join(root, 'cifar-100-binary', 'test.bin'), [{ labels: [4, 57], hwc: known(9) }]);

  it('uses the fine label (second byte) and 100 classes', async () => {
    const ds = await loadCifar('cifar100', root, 'train');
    expect([ds.count, ds.classes]).toEqual([2, 100]);
    expect(Array.from(ds.labels)).toEqual([99, 42]);
    expect(Array.from(ds.images.subarray(3072))).toEqual(Array.from(known(8)));
    expect(ds.classNames).toBeUndefined();
    expect((await loadCifar('cifar100', root, 'test')).labels[0]).toBe(57);
  });

  it('rejects CIFAR-10 records read as CIFAR-100 (coarse label out of range)', async () => {
    const wrong = join(dir, 'wrong');
    writeCifar(join(wrong, 'test.bin'), [{ labels: [0, 5], hwc: known(0) }, { labels: [30, 5], hwc: known(0) }]);
    await expect(loadCifar('cifar100', wrong, 'test')).rejects.toThrow(/test\.bin: label 30 of record 1 is out of range 0\.\.19/);
  });
});
