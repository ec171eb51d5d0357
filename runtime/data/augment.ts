// Training-time augmentation: the run's AugmentIR list turned into one function applied to each
// training image, in the order the run lists them. Every random choice comes from the Rng passed in
// (one per image, derived from seed, epoch and position), so augmentation is reproducible.
import type { AugmentIR } from '../../compiler/ir/types.js';
import { flipHorizontal, padCrop } from './geometry.js';
import { MAX_MAGNITUDE, randAugment } from './randaugment.js';
import type { Rng } from './rng.js';
import { DataError, type Image } from './types.js';

export type Augmenter = (img: Image, rng: Rng) => Image;

/** Flip left-right with probability p. */
export function randomFlip(img: Image, p: number, rng: Rng): Image {
  return rng.chance(p) ? flipHorizontal(img) : img;
}

/** Pad by `padding` zeros on each side and crop the original size at a uniformly random offset. */
export function randomCrop(img: Image, padding: number, rng: Rng): Image {
  if (padding === 0) return img;
  const left = rng.int(2 * padding + 1);
  const top = rng.int(2 * padding + 1);
  return padCrop(img, padding, left, top);
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new DataError(null, `invalid augmentation: ${what}`);
}

/** One function applying every augmentation in order, or null when there is none. */
export function makeAugmenter(augments: AugmentIR[]): Augmenter | null {
  if (augments.length === 0) return null;
  const steps: Augmenter[] = augments.map((a) => {
    switch (a.kind) {
      case 'flip':
        check(a.p >= 0 && a.p <= 1, `flip probability must be in [0, 1], got ${a.p}`);
        return (img, rng) => randomFlip(img, a.p, rng);
      case 'crop':
        check(Number.isInteger(a.padding) && a.padding >= 0, `crop padding must be a whole number >= 0, got ${a.padding}`);
        return (img, rng) => randomCrop(img, a.padding, rng);
      case 'randaugment':
        check(Number.isInteger(a.n) && a.n >= 0, `randaugment n must be a whole number >= 0, got ${a.n}`);
        check(a.magnitude >= 0 && a.magnitude <= MAX_MAGNITUDE, `randaugment magnitude must be in 0..${MAX_MAGNITUDE}, got ${a.magnitude}`);
        return (img, rng) => randAugment(img, a.n, a.magnitude, rng);
      default: {
        const never: never = a;
        throw new DataError(null, `unknown augmentation ${JSON.stringify(never)}`);
      }
    }
  });
  return (img, rng) => steps.reduce((out, step) => step(out, rng), img);
}
