// The emitted data.py against attnc's runtime/data: the same images from every format (the synthetic
// set, IDX plain and gzipped, CIFAR binary), resized and converted the same way, and the same batches
// (the epoch's order, each image's augmentations: flip, crop, RandAugment; normalisation), so the
// emitted train.py sees what `attnc train` sees at every step.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AugmentIR, DataIR } from '../../compiler/ir/types.js';
import { BatchIterator } from '../../runtime/data/batcher.js';
import { loadDataset } from '../../runtime/data/load.js';
import type { Dataset } from '../../runtime/data/types.js';
import { uniformFloats } from '../../core/random.js';
import { writeCifar, writeIdx } from '../data/helpers.js';
import { compileSpec, hasTorch, PYTHON, PYTHON_ENV, runDriver, tempDir, torchGate, writePackage } from './helpers.js';

interface DataResult {
  images: string;
  shape: number[];
  labels: number[];
  classes: number;
  batches: { x: string; y: number[] }[];
  eval: { x: string; y: number[] };
}

interface Case {
  name: string;
  data: DataIR;
  image: [number, number, number];
  classes: number;
  batches: { epoch: number; k: number; positions?: number[] }[];
}

const AUGMENT: AugmentIR[] = [{ kind: 'flip', p: 0.5 }, { kind: 'crop', padding: 3 }, { kind: 'randaugment', n: 2, magnitude: 12 }];
const NORMALIZE = { mean: [0.5, 0.4, 0.3], std: [0.25, 0.2, 0.3] };
const BATCH = 6;
const SEED = 21;

const CASES: Case[] = [
  { name: 'synthetic', data: { kind: 'synthetic', train: 30, test: 7 }, image: [12, 10, 3], classes: 4, batches: [{ epoch: 0, k: 0 }, { epoch: 2, k: 3 }, { epoch: 1, k: 1, positions: [1, 4] }] },
  { name: 'idx-gz', data: { kind: 'idx', path: 'idx' }, image: [16, 16, 3], classes: 10, batches: [{ epoch: 1, k: 1 }] },
  { name: 'cifar10', data: { kind: 'cifar10', path: 'cifar' }, image: [24, 24, 1], classes: 10, batches: [{ epoch: 3, k: 0 }] },
];

let dir: string;
const python = new Map<string, DataResult>();

/** Pixels with structure (gradients and noise), so that resizing and augmentations all show. */
function pixels(n: number, stream: number): Uint8Array {
  const u = uniformFloats(5, stream, n);
  return Uint8Array.from(u, (v, i) => Math.min(255, Math.floor(v * 90 + (i % 97) * 1.7)));
}

function writeFixtures(root: string): void {
  const idx = path.join(root, 'idx');
  writeIdx(path.join(idx, 'train-images-idx3-ubyte.gz'), [18, 28, 28], pixels(18 * 784, 1), true);
  writeIdx(path.join(idx, 'train-labels-idx1-ubyte.gz'), [18], Array.from({ length: 18 }, (_, i) => (i * 7) % 10), true);
  writeIdx(path.join(idx, 't10k-images-idx3-ubyte'), [5, 28, 28], pixels(5 * 784, 2));
  writeIdx(path.join(idx, 't10k-labels-idx1-ubyte'), [5], [1, 2, 3, 4, 5]);
  const record = (i: number, stream: number) => ({ labels: [i % 10], hwc: pixels(3072, stream + i) });
  for (let b = 1; b <= 5; b++) writeCifar(path.join(root, 'cifar', `data_batch_${b}.bin`), [record(b, 100 * b), record(b + 3, 100 * b + 50)]);
  writeCifar(path.join(root, 'cifar', 'test_batch.bin'), [record(0, 900), record(1, 950)]);
}

beforeAll(() => {
  if (!hasTorch) return;
  dir = tempDir('parity-data');
  writeFixtures(dir);
  const pkg = writePackage(compileSpec('training.attn'), dir, { run: 'dgqa_run' });
  const jobs = CASES.map((c) => ({
    kind: 'data', package: pkg, out: path.join(dir, `out-${c.name}`), data: c.data, split: 'train', image: c.image, classes: c.classes, base_dir: dir,
    batch: BATCH, seed: SEED, augment: AUGMENT, normalize: NORMALIZE, batches: c.batches,
  }));
  runDriver<DataResult>(jobs, dir).forEach((r, i) => python.set(CASES[i]!.name, r));
}, 120_000);

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const f32 = (file: string) => new Float32Array(new Uint8Array(fs.readFileSync(file)).buffer);

describe('the emitted data.py is runtime/data', () => {
  torchGate('parity: data');

  for (const c of CASES) {
    it.skipIf(!hasTorch)(`${c.name}: images, labels, training batches (flip, crop, RandAugment), an evaluation batch`, async () => {
      const [height, width, channels] = c.image;
      const ds: Dataset = await loadDataset(c.data, 'train', { baseDir: dir, height, width, channels, classes: c.classes });
      const py = python.get(c.name)!;
      expect(py.shape).toEqual([ds.count, height, width, channels]);
      expect(py.labels).toEqual(Array.from(ds.labels));
      expect(Buffer.from(fs.readFileSync(py.images)).equals(Buffer.from(ds.images)), 'the images, byte for byte').toBe(true);
      const normalize = { mean: NORMALIZE.mean.slice(0, channels), std: NORMALIZE.std.slice(0, channels) };
      c.batches.forEach((b, i) => {
        const want = BatchIterator.train(ds, { batchSize: BATCH, seed: SEED, epoch: b.epoch, augment: AUGMENT, normalize, prefetch: 0 }).batchAt(b.k);
        const per = height * width * channels;
        const positions = b.positions ?? Array.from({ length: BATCH }, (_, j) => j);
        const wantX = Float32Array.from(positions.flatMap((j) => Array.from(want.x.subarray(j * per, (j + 1) * per))));
        expect(py.batches[i]!.y, `batch ${i}: labels`).toEqual(positions.map((j) => want.y[j]));
        expect(Array.from(f32(py.batches[i]!.x)), `batch ${i} (epoch ${b.epoch}, k ${b.k}): normalised augmented images`).toEqual(Array.from(wantX));
      });
      const evalBatch = BatchIterator.eval(ds, { batchSize: BATCH, normalize, prefetch: 0 }).batchAt(0);
      expect(py.eval.y).toEqual(Array.from(evalBatch.y));
      expect(Array.from(f32(py.eval.x))).toEqual(Array.from(evalBatch.x));
    });
  }

  it.skipIf(!hasTorch)('image folders decode with Pillow, or say that it is missing', () => {
    const pil = spawnSync(PYTHON, ['-c', 'import PIL'], { env: PYTHON_ENV }).status === 0;
    const folder = path.join(dir, 'folder', 'cat');
    fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(path.join(folder, 'a.png'), Buffer.from('not a png'));
    const job = { kind: 'data', package: path.join(dir, 'dgqa'), out: path.join(dir, 'out-folder'), data: { kind: 'folder', path: 'folder' }, split: 'train', image: [8, 8, 3], classes: 1, base_dir: dir, batch: 1, seed: 0, augment: [], normalize: NORMALIZE };
    expect(() => runDriver([job], dir)).toThrow(pil ? /cannot decode the image/ : /image folders need Pillow to decode PNG and JPEG/);
  });
});
