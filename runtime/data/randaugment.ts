// RandAugment-lite (Cubuk et al. 2019): apply n operations drawn uniformly (with replacement) from a
// fixed list, each at one global magnitude m. Magnitudes use torchvision's scale (31 bins), as the
// language does: 0 is no change, 30 the strongest setting below, so the default 9 is 30% of it;
// signed operations pick the sign at random.
import { autocontrast, brightness, contrast, equalize, posterize, solarize } from './color.js';
import { rotate, shear, translate } from './geometry.js';
import type { Rng } from './rng.js';
import type { Image } from './types.js';

export const MAX_MAGNITUDE = 30;

/** Strength at magnitude 30 of each operation (torchvision's RandAugment ranges). */
const MAX = {
  enhance: 0.9, // brightness / contrast factor 1 +- 0.9
  translate: 0.45, // fraction of the image side
  rotate: 30, // degrees
  shear: 0.3,
  posterizeBits: 4, // 8 bits down to 4
};

type Op = (img: Image, level: number, rng: Rng) => Image;
const signed = (rng: Rng, v: number): number => (rng.chance(0.5) ? -v : v);

/** The operations, in a fixed order (an index into this list is what the Rng picks). */
export const RAND_AUGMENT_OPS: ReadonlyArray<readonly [string, Op]> = [
  ['autocontrast', (img) => autocontrast(img)],
  ['equalize', (img) => equalize(img)],
  ['brightness', (img, l, rng) => brightness(img, 1 + signed(rng, MAX.enhance * l))],
  ['contrast', (img, l, rng) => contrast(img, 1 + signed(rng, MAX.enhance * l))],
  ['solarize', (img, l) => solarize(img, Math.round(256 - 256 * l))],
  ['posterize', (img, l) => posterize(img, 8 - Math.round(MAX.posterizeBits * l))],
  ['translate_x', (img, l, rng) => translate(img, signed(rng, MAX.translate * l * img.width), 0)],
  ['translate_y', (img, l, rng) => translate(img, 0, signed(rng, MAX.translate * l * img.height))],
  ['rotate', (img, l, rng) => rotate(img, signed(rng, MAX.rotate * l))],
  ['shear_x', (img, l, rng) => shear(img, signed(rng, MAX.shear * l), 'x')],
  ['shear_y', (img, l, rng) => shear(img, signed(rng, MAX.shear * l), 'y')],
];

/** Apply the operation called `name` at magnitude m (0..30): for tests and for previewing ops. */
export function applyOp(name: string, img: Image, magnitude: number, rng: Rng): Image {
  const op = RAND_AUGMENT_OPS.find(([n]) => n === name);
  if (!op) throw new RangeError(`unknown RandAugment op '${name}'`);
  return op[1](img, levelOf(magnitude), rng);
}

function levelOf(magnitude: number): number {
  if (!(magnitude >= 0 && magnitude <= MAX_MAGNITUDE)) throw new RangeError(`RandAugment magnitude must be in 0..${MAX_MAGNITUDE}, got ${magnitude}`);
  return magnitude / MAX_MAGNITUDE;
}

/** n operations chosen by `rng`, each at magnitude m. */
export function randAugment(img: Image, n: number, magnitude: number, rng: Rng): Image {
  const level = levelOf(magnitude);
  let out = img;
  for (let i = 0; i < n; i++) {
    const [, op] = RAND_AUGMENT_OPS[rng.int(RAND_AUGMENT_OPS.length)]!;
    out = op(out, level, rng);
  }
  return out;
}
