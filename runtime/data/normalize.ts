// Scaling pixels to [0, 1] and normalising them per channel: x = (v / 255 - mean[c]) / std[c].
// Default constants are the usual per-data-set statistics of the training split (torchvision's);
// the compiler fills RunIR.normalize from defaultNormalization when a run does not say.
import type { DataIR } from '../../compiler/ir/types.js';
import { DataError } from './types.js';

export interface Normalization {
  mean: number[];
  std: number[];
}

/** Statistics in each data set's own channel count. */
const NATIVE: Record<DataIR['kind'], Normalization> = {
  mnist: { mean: [0.1307], std: [0.3081] },
  fashion_mnist: { mean: [0.286], std: [0.353] },
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
  cifar100: { mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] },
  // Unknown statistics: map [0, 1] to [-1, 1].
  idx: { mean: [0.5], std: [0.5] },
  folder: { mean: [0.5], std: [0.5] },
  synthetic: { mean: [0.5], std: [0.5] },
};

const LUMA = [0.299, 0.587, 0.114];
const round4 = (x: number): number => Math.round(x * 10000) / 10000;

/**
 * Default mean and std for a data set kind, for a model with `channels` channels. One-channel
 * statistics are repeated for RGB models. RGB statistics for a gray model are luma-weighted; the std
 * is then an approximation (exact if the channels were perfectly correlated, which natural images
 * nearly are).
 */
export function defaultNormalization(kind: DataIR['kind'], channels: number): Normalization {
  const native = NATIVE[kind];
  if (!native) throw new RangeError(`no default normalisation for data kind '${kind}'`);
  const n = native.mean.length;
  if (channels === n) return { mean: [...native.mean], std: [...native.std] };
  if (n === 1) return { mean: Array(channels).fill(native.mean[0]), std: Array(channels).fill(native.std[0]) };
  if (channels === 1) {
    const dot = (v: number[]): number => round4(v.reduce((s, x, i) => s + x * LUMA[i]!, 0));
    return { mean: [dot(native.mean)], std: [dot(native.std)] };
  }
  throw new RangeError(`no default normalisation for ${kind} with ${channels} channels (it has ${n})`);
}

/**
 * A lookup table lut[c * 256 + v] = (v / 255 - mean[c]) / std[c]: normalising a pixel is then one
 * load. A single mean/std value applies to every channel.
 */
export function normalizationTable(norm: Normalization, channels: number): Float32Array {
  const pick = (xs: number[], c: number, what: string): number => {
    if (xs.length !== 1 && xs.length !== channels) {
      throw new DataError(null, `normalize ${what} has ${xs.length} values for a ${channels}-channel model`, `give 1 or ${channels} values`);
    }
    return xs.length === 1 ? xs[0]! : xs[c]!;
  };
  const lut = new Float32Array(channels * 256);
  for (let c = 0; c < channels; c++) {
    const mean = pick(norm.mean, c, 'mean');
    const std = pick(norm.std, c, 'std');
    if (!(std > 0) || !Number.isFinite(mean)) {
      throw new DataError(null, `normalize needs finite means and positive stds, got mean ${mean}, std ${std}`);
    }
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255 - mean) / std;
  }
  return lut;
}

/** Write `pixels` HWC pixels from src[srcAt..] into dst[dstAt..] as normalised floats. */
export function normalizeInto(src: Uint8Array, srcAt: number, pixels: number, channels: number, lut: Float32Array, dst: Float32Array, dstAt: number): void {
  for (let p = 0, i = 0; p < pixels; p++) {
    for (let c = 0; c < channels; c++, i++) dst[dstAt + i] = lut[c * 256 + src[srcAt + i]!]!;
  }
}
