// IDX files on the disk (the format itself, bytes to Dataset, is idx-format.ts): MNIST's pair of
// images and labels files, plain or gzipped, found in a directory under their usual names.
import { join } from 'node:path';
import { listDir, readMaybeGzip } from './files.js';
import { idxDataset, type IdxMeta } from './idx-format.js';
import { DataError, type Dataset } from './types.js';

export { parseIdx, idxDataset, type IdxArray, type IdxMeta } from './idx-format.js';

/** Read an images file and a labels file (each plain or gzipped) into a Dataset (idxDataset). */
export async function loadIdxPair(imagesFile: string, labelsFile: string, meta: IdxMeta): Promise<Dataset> {
  const [imageBytes, labelBytes] = await Promise.all([
    readMaybeGzip(imagesFile, 'IDX images file'),
    readMaybeGzip(labelsFile, 'IDX labels file'),
  ]);
  return idxDataset(imageBytes, labelBytes, imagesFile, labelsFile, meta);
}

/** The file-name prefixes that name each split in an IDX directory. */
const SPLIT_PREFIXES = { train: ['train'], test: ['t10k', 'test'] } as const;

/**
 * Find a split's images and labels in a directory. Accepts the MNIST names
 * (train-images-idx3-ubyte, t10k-labels-idx1-ubyte), the dotted variant (train-images.idx3-ubyte),
 * rank-4 images (idx4), "test" for "t10k", each optionally ending in .gz.
 */
export async function findIdxFiles(dir: string, split: 'train' | 'test'): Promise<{ images: string; labels: string }> {
  const entries = (await listDir(dir, 'IDX data directory')).filter((e) => e.isFile).map((e) => e.name);
  const prefixes = SPLIT_PREFIXES[split];
  const find = (kind: 'images' | 'labels'): string => {
    const ranks = kind === 'images' ? '[34]' : '1';
    const re = new RegExp(`^(${prefixes.join('|')})-${kind}[-.]idx${ranks}-ubyte(\\.gz)?$`);
    const hits = entries.filter((n) => re.test(n));
    const example = `${prefixes[0]}-${kind}-idx${kind === 'images' ? 3 : 1}-ubyte`;
    if (hits.length === 0) {
      const seen = entries.length ? entries.slice(0, 12).join(', ') + (entries.length > 12 ? ', ...' : '') : 'nothing';
      throw new DataError(dir, `no ${split} ${kind} file: expected ${example} or ${example}.gz, found ${seen}`, 'put the MNIST-format files in this directory under their usual names');
    }
    if (hits.length > 1) {
      throw new DataError(dir, `several ${split} ${kind} files: ${hits.join(', ')}`, 'keep one of them (plain or .gz)');
    }
    return join(dir, hits[0]!);
  };
  return { images: find('images'), labels: find('labels') };
}
