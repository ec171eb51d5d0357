// loadDataset: one entry point from a run's DataIR to a Dataset at the model's input size.
// Resizing and channel conversion happen here, once per image, rather than in every batch.
import { basename, resolve } from 'node:path';
import type { DataIR } from '../../compiler/ir/types.js';
import { loadCifar } from './cifar.js';
import { isDirectory } from './files.js';
import { loadFolder } from './folder.js';
import { findIdxFiles, loadIdxPair } from './idx.js';
import { loadFood101, loadTinyImageNet } from './listed.js';
import { conformDataset } from './image.js';
import { loadFashionMnist, loadMnist } from './mnist.js';
import { makeSynthetic } from './synthetic.js';
import { DataError, type Dataset } from './types.js';

export interface LoadOptions {
  /** Relative data paths are resolved against this directory (the .attn file's, normally). */
  baseDir: string;
  /** The model's input size: every image comes back at this size. */
  height: number;
  width: number;
  channels: number;
  /** The model's class count: checked against the data's (synthetic data uses it, default 10). */
  classes?: number;
}

export async function loadDataset(data: DataIR, split: 'train' | 'test', opts: LoadOptions): Promise<Dataset> {
  const { height, width, channels } = opts;
  for (const [name, v] of [['height', height], ['width', width], ['channels', channels]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`loadDataset: ${name} must be a positive whole number, got ${v}`);
  }
  const at = (p: string): string => resolve(opts.baseDir, p);
  let ds: Dataset;
  switch (data.kind) {
    case 'mnist':
      ds = await loadMnist(data.path === null ? null : at(data.path), split);
      break;
    case 'fashion_mnist':
      ds = await loadFashionMnist(data.path === null ? null : at(data.path), split);
      break;
    case 'idx': {
      const dir = at(data.path);
      if (!(await isDirectory(dir))) {
        throw new DataError(dir, 'IDX data directory not found', 'give the directory holding train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (.gz allowed)');
      }
      const files = await findIdxFiles(dir, split);
      ds = await loadIdxPair(files.images, files.labels, { name: basename(dir), source: dir, ...(opts.classes !== undefined ? { classes: opts.classes } : {}) });
      break;
    }
    case 'cifar10':
    case 'cifar100':
      ds = await loadCifar(data.kind, at(data.path), split);
      break;
    case 'folder':
      ds = await loadFolder(at(data.path), split, { height, width, channels });
      break;
    case 'tiny_imagenet':
      ds = await loadTinyImageNet(at(data.path), split, { height, width, channels });
      break;
    case 'food101':
      ds = await loadFood101(at(data.path), split, { height, width, channels });
      break;
    case 'synthetic':
      ds = makeSynthetic(split, split === 'train' ? data.train : data.test, { height, width, channels, classes: opts.classes ?? 10 });
      break;
    default: {
      const never: never = data;
      throw new DataError(null, `unknown data kind ${JSON.stringify(never)}`);
    }
  }
  if (opts.classes !== undefined && ds.classes !== opts.classes) {
    throw new DataError(ds.source, `the model has ${opts.classes} classes but ${ds.name} has ${ds.classes}`, `set the model's classes to ${ds.classes}`);
  }
  return conformDataset(ds, height, width, channels);
}
