// The data pipeline's public surface: loaders, preprocessing and the batcher (no tfjs inside).
export { DataError, type Batch, type Dataset, type Image } from './types.js';
export { loadDataset, type LoadOptions } from './load.js';
export { BatchIterator, stepsPerEpoch, type BatchOptions } from './batcher.js';
export { defaultNormalization, normalizationTable, normalizeInto, type Normalization } from './normalize.js';
export { makeAugmenter, randomCrop, randomFlip, type Augmenter } from './augment.js';
export { Rng, Stream } from './rng.js';
export { conformDataset, convertChannels, resize } from './image.js';
export { parseIdx, loadIdxPair, findIdxFiles } from './idx.js';
export { loadMnist, loadFashionMnist, mnistPackageDir, FASHION_MNIST_DIR } from './mnist.js';
export { loadCifar } from './cifar.js';
export { loadFolder, flatSplitOf } from './folder.js';
export { makeSynthetic } from './synthetic.js';
export { decodeImage } from './decode.js';
