// What the compiler knows about the named data sets: their shape, classes and normalisation.
// The runtime's loaders (runtime/data/) read the files; these constants let `attnc check` catch a
// model whose classes do not match its data before any file is opened.

export interface DatasetFacts {
  classes: number;
  image: [height: number, width: number, channels: number];
  mean: number[];
  std: number[];
}

export const DATASETS: Record<string, DatasetFacts> = {
  mnist: { classes: 10, image: [28, 28, 1], mean: [0.1307], std: [0.3081] },
  fashion_mnist: { classes: 10, image: [28, 28, 1], mean: [0.286], std: [0.353] },
  cifar10: { classes: 10, image: [32, 32, 3], mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
  cifar100: { classes: 100, image: [32, 32, 3], mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] },
};

export const IMAGENET_NORMALIZATION = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

export interface Normalization { mean: number[]; std: number[] }

/** Fits per-channel constants to a channel count: kept when they match, else averaged (RGB -> gray). */
export function fitNormalization(n: Normalization, channels: number): Normalization {
  const fit = (xs: number[]) => {
    if (xs.length === channels) return xs;
    const avg = xs.reduce((a, b) => a + b, 0) / xs.length;
    return Array.from({ length: channels }, () => Number(avg.toFixed(4)));
  };
  return { mean: fit(n.mean), std: fit(n.std) };
}

/** Per-channel mean and std of a named data set (0.5 / 0.5 for others), fitted to the model's channels. */
export function datasetNormalization(kind: string, channels: number): Normalization {
  return fitNormalization(DATASETS[kind] ?? { mean: [0.5], std: [0.5] }, channels);
}
