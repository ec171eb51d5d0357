// What the compiler knows about the named data sets: their shape, classes and normalisation.
// The runtime's loaders (runtime/data/) read the files; these constants let `attnc check` catch a
// model whose classes do not match its data before any file is opened.

export interface DatasetFacts {
  classes: number;
  /** Images in the training split. */
  trainImages: number;
  image: [height: number, width: number, channels: number];
  mean: number[];
  std: number[];
}

export const DATASETS: Record<string, DatasetFacts> = {
  mnist: { classes: 10, trainImages: 60000, image: [28, 28, 1], mean: [0.1307], std: [0.3081] },
  fashion_mnist: { classes: 10, trainImages: 60000, image: [28, 28, 1], mean: [0.286], std: [0.353] },
  cifar10: { classes: 10, trainImages: 50000, image: [32, 32, 3], mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
  cifar100: { classes: 100, trainImages: 50000, image: [32, 32, 3], mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] },
  // Photographs of ImageNet's kind: ImageNet's statistics, as the usual recipes for both.
  tiny_imagenet: { classes: 200, trainImages: 100000, image: [64, 64, 3], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  // Images of up to 512 px on the longer side, of varying size.
  food101: { classes: 101, trainImages: 75750, image: [512, 512, 3], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
};

export const IMAGENET_NORMALIZATION = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

export interface Normalization { mean: number[]; std: number[] }

const LUMA = [0.299, 0.587, 0.114];
const round4 = (x: number): number => Math.round(x * 10000) / 10000;

/**
 * Fits per-channel constants to a model's channel count. One-channel statistics are repeated for RGB
 * models; RGB statistics for a grey model are luma-weighted like the pixels themselves (the std is
 * then an approximation, exact if the channels were perfectly correlated, which natural images
 * nearly are).
 */
export function fitNormalization(n: Normalization, channels: number): Normalization {
  const k = n.mean.length;
  if (channels === k) return { mean: [...n.mean], std: [...n.std] };
  if (k === 1) return { mean: Array(channels).fill(n.mean[0]), std: Array(channels).fill(n.std[0]) };
  if (channels === 1 && k === 3) {
    const dot = (v: number[]): number => round4(v.reduce((s, x, i) => s + x * LUMA[i]!, 0));
    return { mean: [dot(n.mean)], std: [dot(n.std)] };
  }
  throw new RangeError(`no normalisation for ${channels} channels from statistics of ${k} channels`);
}

/** Per-channel mean and std of a data set kind (0.5 / 0.5 where unknown), fitted to the model's channels. */
export function datasetNormalization(kind: string, channels: number): Normalization {
  return fitNormalization(DATASETS[kind] ?? { mean: [0.5], std: [0.5] }, channels);
}
