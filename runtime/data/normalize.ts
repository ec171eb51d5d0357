// Scaling pixels to [0, 1] and normalising them per channel: x = (v / 255 - mean[c]) / std[c].
// Default constants are the usual per-data-set statistics of the training split (torchvision's);
// the constants live in compiler/datasets.ts, which fills RunIR.normalize when a run does not say.
import type { DataIR } from '../../compiler/ir/types.js';
import { DataError } from './types.js';

export type { Normalization } from '../../compiler/datasets.js';
import type { Normalization } from '../../compiler/datasets.js';
import { datasetNormalization } from '../../compiler/datasets.js';

/** Default mean and std for a data set kind and a model's channel count (compiler/datasets.ts). */
export function defaultNormalization(kind: DataIR['kind'], channels: number): Normalization {
  return datasetNormalization(kind, channels);
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
