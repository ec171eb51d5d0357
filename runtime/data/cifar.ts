// CIFAR-10 and CIFAR-100 in their binary versions (https://www.cs.toronto.edu/~kriz/cifar.html).
// CIFAR-10: data_batch_1..5.bin and test_batch.bin, records of 1 label byte + 3072 pixel bytes.
// CIFAR-100: train.bin and test.bin, records of a coarse and a fine label byte + 3072 pixel bytes
// (we train on the 100 fine labels). Pixels are 32x32, stored as three planes (all R, all G, all B);
// we convert them to HWC like every other loader.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDirectory, readBytes } from './files.js';
import { DataError, type Dataset } from './types.js';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const PIXELS = 3 * PLANE;

export const CIFAR10_CLASS_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

interface CifarSpec {
  kind: 'cifar10' | 'cifar100';
  /** The directory the official archive unpacks to, accepted as a child of the given path. */
  archiveDir: string;
  files: { train: string[]; test: string[] };
  labelBytes: number;
  /** Which label byte is the class (CIFAR-100: the fine label, the second byte). */
  labelOffset: number;
  classes: number;
  namesFile: string;
}

const SPECS: Record<'cifar10' | 'cifar100', CifarSpec> = {
  cifar10: {
    kind: 'cifar10',
    archiveDir: 'cifar-10-batches-bin',
    files: { train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`), test: ['test_batch.bin'] },
    labelBytes: 1,
    labelOffset: 0,
    classes: 10,
    namesFile: 'batches.meta.txt',
  },
  cifar100: {
    kind: 'cifar100',
    archiveDir: 'cifar-100-binary',
    files: { train: ['train.bin'], test: ['test.bin'] },
    labelBytes: 2,
    labelOffset: 1,
    classes: 100,
    namesFile: 'fine_label_names.txt',
  },
};

/** Load a CIFAR split from `path`: the directory with the .bin files, or the one the archive unpacked into. */
export async function loadCifar(kind: 'cifar10' | 'cifar100', path: string, split: 'train' | 'test'): Promise<Dataset> {
  const spec = SPECS[kind];
  const dir = await resolveDir(spec, path);
  const files = spec.files[split].map((f) => join(dir, f));
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length > 0) {
    const all = [...spec.files.train, ...spec.files.test].join(', ');
    throw new DataError(dir, `missing ${missing.map((f) => f.slice(dir.length + 1)).join(', ')}`, `a ${kind} directory holds ${all} (the binary version of the data set)`);
  }
  const record = spec.labelBytes + PIXELS;
  const parts = await Promise.all(files.map((f) => readBytes(f, `${kind} batch`)));
  parts.forEach((bytes, i) => {
    if (bytes.length === 0 || bytes.length % record !== 0) {
      const official = kind === 'cifar100' && split === 'train' ? 50000 : 10000;
      throw new DataError(files[i]!, `${bytes.length} bytes is not a whole number of ${record}-byte records (the official file has ${official} records: expected ${official * record} bytes, found ${bytes.length})`, `the file is truncated or not the binary ${kind} format (the python version is a pickle); download it again`);
    }
  });
  const count = parts.reduce((n, b) => n + b.length / record, 0);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Int32Array(count);
  let n = 0;
  parts.forEach((bytes, fileIndex) => {
    for (let r = 0; r < bytes.length; r += record, n++) {
      for (let b = 0; b < spec.labelBytes; b++) {
        // Check the coarse label of CIFAR-100 too: a bad one means the file is not what it claims.
        const limit = b === spec.labelOffset ? spec.classes : 20;
        if (bytes[r + b]! >= limit) {
          throw new DataError(files[fileIndex]!, `label ${bytes[r + b]} of record ${r / record} is out of range 0..${limit - 1}`, `the file is not ${kind} binary data (CIFAR-10 records have 1 label byte, CIFAR-100 records 2)`);
        }
      }
      labels[n] = bytes[r + spec.labelOffset]!;
      planarToHwc(bytes, r + spec.labelBytes, images, n * PIXELS);
    }
  });
  const classNames = await readClassNames(join(dir, spec.namesFile), spec);
  return { name: kind, images, labels, count, height: SIDE, width: SIDE, channels: 3, classes: spec.classes, ...(classNames ? { classNames } : {}), source: dir };
}

/** CHW planes (R plane, G plane, B plane) -> interleaved HWC. */
function planarToHwc(src: Uint8Array, at: number, dst: Uint8Array, to: number): void {
  for (let p = 0; p < PLANE; p++) {
    dst[to + 3 * p] = src[at + p]!;
    dst[to + 3 * p + 1] = src[at + PLANE + p]!;
    dst[to + 3 * p + 2] = src[at + 2 * PLANE + p]!;
  }
}

async function resolveDir(spec: CifarSpec, path: string): Promise<string> {
  if (!(await isDirectory(path))) {
    throw new DataError(path, `${spec.kind} directory not found`, `give the directory that holds ${spec.files.test[0]} (unpack the binary archive first)`);
  }
  const nested = join(path, spec.archiveDir);
  if (!existsSync(join(path, spec.files.test[0]!)) && (await isDirectory(nested))) return nested;
  return path;
}

/** Class names, one per line; CIFAR-10 falls back to the well-known list when the file is absent. */
async function readClassNames(file: string, spec: CifarSpec): Promise<string[] | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return spec.kind === 'cifar10' ? CIFAR10_CLASS_NAMES : undefined;
  }
  const names = text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length !== spec.classes) {
    throw new DataError(file, `${names.length} class names, expected ${spec.classes} (one per line)`, 'fix or delete the file');
  }
  return names;
}
