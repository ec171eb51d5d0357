// A synthetic, learnable data set for smoke tests: each class has a smooth random prototype (a 4x4
// grid of random values per channel, enlarged bilinearly to the image size); each image is its class's
// prototype plus a random brightness offset and per-pixel Gaussian noise (std 40). Prototypes depend only on the
// image shape and class count (not on the run seed or the split sizes), so train and test share them
// and a model that learns the prototypes generalises; the first k images of a split are the same
// whatever the split's size.
import { resize } from './image.js';
import { Rng, Stream } from './rng.js';
import { DataError, type Dataset } from './types.js';

/** A fixed seed: the data set is part of the benchmark, not of the run's randomness. */
const SYNTHETIC_SEED = 0x5eed;
const NOISE_STD = 40;
const BRIGHTNESS = 20;

export interface SyntheticShape {
  height: number;
  width: number;
  channels: number;
  classes: number;
}

/**
 * 65536 sorted normal samples (times the noise std, rounded): indexing them with 16 random bits draws from (a fine quantisation of)
 * the normal distribution at a fraction of Box-Muller's cost, two draws per 32-bit random number.
 * Data sets of 50000 32x32 RGB images need 150 million draws.
 */
let noiseTable: Int16Array | null = null;
function noise(): Int16Array {
  if (noiseTable) return noiseTable;
  const rng = Rng.derive(SYNTHETIC_SEED, Stream.synthetic, 3);
  const z = new Float64Array(65536);
  for (let i = 0; i < z.length; i++) z[i] = rng.normal();
  z.sort();
  noiseTable = Int16Array.from(z, (v) => Math.round(NOISE_STD * v));
  return noiseTable;
}

function prototypes(shape: SyntheticShape): Uint8Array[] {
  const { height, width, channels, classes } = shape;
  const gh = Math.min(4, height);
  const gw = Math.min(4, width);
  const rng = Rng.derive(SYNTHETIC_SEED, Stream.synthetic, 0, height, width, channels, classes);
  const out: Uint8Array[] = [];
  for (let k = 0; k < classes; k++) {
    const grid = new Uint8Array(gh * gw * channels);
    for (let i = 0; i < grid.length; i++) grid[i] = rng.int(256);
    out.push(resize(grid, gh, gw, channels, height, width));
  }
  return out;
}

/** `count` images of the given split; labels cycle 0, 1, ..., classes-1 so classes are balanced. */
export function makeSynthetic(split: 'train' | 'test', count: number, shape: SyntheticShape): Dataset {
  const { height, width, channels, classes } = shape;
  if (!Number.isInteger(count) || count <= 0) throw new DataError(null, `synthetic ${split} size must be a positive whole number, got ${count}`);
  if (!Number.isInteger(classes) || classes < 2) throw new DataError(null, `synthetic data needs at least 2 classes, got ${classes}`);
  const protos = prototypes(shape);
  const table = noise();
  const per = height * width * channels;
  const images = new Uint8Array(count * per);
  const labels = new Int32Array(count);
  const rng = Rng.derive(SYNTHETIC_SEED, Stream.synthetic, split === 'train' ? 1 : 2, height, width, channels, classes);
  for (let i = 0; i < count; i++) {
    const label = i % classes;
    labels[i] = label;
    const proto = protos[label]!;
    const offset = Math.round(rng.uniform(-BRIGHTNESS, BRIGHTNESS));
    const at = i * per;
    for (let p = 0; p < per; p += 2) {
      const bits = rng.u32();
      const a = proto[p]! + offset + table[bits & 0xffff]!;
      images[at + p] = a < 0 ? 0 : a > 255 ? 255 : a;
      if (p + 1 < per) {
        const b = proto[p + 1]! + offset + table[bits >>> 16]!;
        images[at + p + 1] = b < 0 ? 0 : b > 255 ? 255 : b;
      }
    }
  }
  return { name: 'synthetic', images, labels, count, height, width, channels, classes, source: 'synthetic' };
}
