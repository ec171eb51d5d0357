import { describe, expect, it } from 'vitest';
import { makeAugmenter, randomCrop, randomFlip } from '../../runtime/data/augment.js';
import { autocontrast, brightness, contrast, equalize, posterize, solarize } from '../../runtime/data/color.js';
import { flipHorizontal, padCrop, rotate, shear, translate } from '../../runtime/data/geometry.js';
import { applyOp, RAND_AUGMENT_OPS, randAugment } from '../../runtime/data/randaugment.js';
import { Rng } from '../../runtime/data/rng.js';
import type { Image } from '../../runtime/data/types.js';

const gray = (height: number, width: number, values: number[]): Image => ({ data: Uint8Array.from(values), height, width, channels: 1 });
const px = (img: Image): number[] => Array.from(img.data);
const rng = (seed: number): Rng => Rng.derive(seed, 0);
// 1 2 3 / 4 5 6 / 7 8 9
const nine = gray(3, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9]);

describe('geometry', () => {
  it('flip mirrors each row, keeping a pixel\'s channels together', () => {
    expect(px(flipHorizontal(nine))).toEqual([3, 2, 1, 6, 5, 4, 9, 8, 7]);
    const rgb: Image = { data: Uint8Array.from([1, 2, 3, 4, 5, 6]), height: 1, width: 2, channels: 3 };
    expect(px(flipHorizontal(rgb))).toEqual([4, 5, 6, 1, 2, 3]);
    expect(px(nine)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]); // input untouched
  });

  it('pad-crop pads with zeros and shifts by the offset', () => {
    expect(px(padCrop(nine, 1, 1, 1))).toEqual(px(nine)); // centre offset: identity
    expect(px(padCrop(nine, 1, 0, 0))).toEqual([0, 0, 0, 0, 1, 2, 0, 4, 5]); // content moves right and down
    expect(px(padCrop(nine, 1, 2, 1))).toEqual([2, 3, 0, 5, 6, 0, 8, 9, 0]); // content moves left
    expect(px(padCrop(nine, 3, 0, 6))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0]); // fully outside
  });

  it('random crop takes every offset, each one a pad-crop', () => {
    const seen = new Set<string>();
    const valid = new Set<string>();
    for (let l = 0; l <= 2; l++) for (let t = 0; t <= 2; t++) valid.add(px(padCrop(nine, 1, l, t)).join());
    for (let s = 0; s < 200; s++) {
      const out = px(randomCrop(nine, 1, rng(s))).join();
      expect(valid.has(out)).toBe(true);
      seen.add(out);
    }
    expect(seen.size).toBe(9);
  });

  it('random flip honours p', () => {
    const flips = (p: number): number => Array.from({ length: 1000 }, (_, s) => randomFlip(nine, p, rng(s))).filter((i) => i.data[0] === 3).length;
    expect(flips(0)).toBe(0);
    expect(flips(1)).toBe(1000);
    expect(flips(0.5)).toBeGreaterThan(430);
    expect(flips(0.5)).toBeLessThan(570);
  });

  it('translate, rotate and shear move pixels where they say', () => {
    expect(px(translate(nine, 1, 0))).toEqual([0, 1, 2, 0, 4, 5, 0, 7, 8]);
    expect(px(translate(nine, 0, -1))).toEqual([4, 5, 6, 7, 8, 9, 0, 0, 0]);
    expect(px(rotate(nine, 0))).toEqual(px(nine));
    // 90 degrees counter-clockwise: the right column becomes the top row.
    expect(px(rotate(nine, 90))).toEqual([3, 6, 9, 2, 5, 8, 1, 4, 7]);
    expect(px(rotate(nine, -90))).toEqual([7, 4, 1, 8, 5, 2, 9, 6, 3]);
    // Shear by 1 along x: row y reads input x + (y - 1); the middle row stays.
    expect(px(shear(nine, 1, 'x'))).toEqual([0, 1, 2, 4, 5, 6, 8, 9, 0]);
    expect(px(shear(nine, 1, 'y'))).toEqual([0, 2, 6, 1, 5, 9, 4, 8, 0]); // column x reads input y + (x - 1)
  });
});

describe('colour', () => {
  it('brightness, contrast, solarize, posterize', () => {
    expect(px(brightness(gray(1, 3, [100, 255, 0]), 0.5))).toEqual([50, 128, 0]);
    expect(px(brightness(gray(1, 2, [100, 200]), 1.5))).toEqual([150, 255]);
    expect(px(contrast(gray(1, 2, [100, 200]), 0))).toEqual([150, 150]);
    expect(px(contrast(gray(1, 2, [100, 200]), 2))).toEqual([50, 250]);
    expect(px(solarize(gray(1, 4, [0, 127, 128, 255]), 128))).toEqual([0, 127, 127, 0]);
    expect(px(solarize(gray(1, 2, [0, 255]), 256))).toEqual([0, 255]);
    expect(px(posterize(gray(1, 3, [255, 64, 63]), 2))).toEqual([192, 64, 0]);
    expect(px(posterize(gray(1, 2, [255, 63]), 8))).toEqual([255, 63]);
  });

  it('autocontrast stretches each channel to 0..255', () => {
    expect(px(autocontrast(gray(1, 3, [50, 100, 150])))).toEqual([0, 128, 255]);
    expect(px(autocontrast(gray(1, 2, [7, 7])))).toEqual([7, 7]);
    const rgb: Image = { data: Uint8Array.from([10, 0, 5, 20, 0, 5]), height: 1, width: 2, channels: 3 };
    expect(px(autocontrast(rgb))).toEqual([0, 0, 5, 255, 0, 5]);
  });

  it('equalize follows PIL: four equal bins spread to 0, 85, 171, 255', () => {
    const values = [0, 10, 20, 30].flatMap((v) => Array(256).fill(v) as number[]);
    const out = equalize(gray(32, 32, values));
    expect([out.data[0], out.data[256], out.data[512], out.data[768]]).toEqual([0, 85, 171, 255]);
    expect(px(equalize(gray(1, 3, [5, 5, 9])))).toEqual([5, 5, 9]); // too few pixels: unchanged, as PIL
  });
});

describe('RandAugment', () => {
  // 16x16: PIL's equalize leaves a channel alone unless (pixels - pixels of its top value) >= 255.
  const rgb: Image = { data: Uint8Array.from({ length: 16 * 16 * 3 }, (_, i) => (i * 37) % 251), height: 16, width: 16, channels: 3 };

  it('magnitude 0 leaves the image unchanged for every op with a magnitude', () => {
    for (const [name] of RAND_AUGMENT_OPS) {
      if (name === 'autocontrast' || name === 'equalize') continue;
      expect(px(applyOp(name, rgb, 0, rng(1))), name).toEqual(px(rgb));
    }
  });

  it('magnitude 30 changes the image for every op', () => {
    for (const [name] of RAND_AUGMENT_OPS) expect(px(applyOp(name, rgb, 30, rng(1))), name).not.toEqual(px(rgb));
  });

  it('is a function of the Rng: same seed same image, other seeds other images', () => {
    expect(px(randAugment(rgb, 2, 9, rng(5)))).toEqual(px(randAugment(rgb, 2, 9, rng(5))));
    const outs = new Set(Array.from({ length: 20 }, (_, s) => px(randAugment(rgb, 2, 9, rng(s))).join()));
    expect(outs.size).toBeGreaterThan(15);
    expect(() => randAugment(rgb, 1, 31, rng(0))).toThrow('magnitude must be in 0..30');
  });
});

describe('makeAugmenter', () => {
  it('is null without augmentations and applies them in order', () => {
    expect(makeAugmenter([])).toBeNull();
    const flipAlways = makeAugmenter([{ kind: 'flip', p: 1 }, { kind: 'crop', padding: 0 }])!;
    expect(px(flipAlways(nine, rng(0)))).toEqual([3, 2, 1, 6, 5, 4, 9, 8, 7]);
    // crop then flip vs flip then crop with the same draws differ: order matters.
    const a = makeAugmenter([{ kind: 'crop', padding: 1 }, { kind: 'flip', p: 1 }])!;
    const b = makeAugmenter([{ kind: 'flip', p: 1 }, { kind: 'crop', padding: 1 }])!;
    const differ = Array.from({ length: 20 }, (_, s) => px(a(nine, rng(s))).join() !== px(b(nine, rng(s))).join());
    expect(differ).toContain(true);
  });

  it('rejects invalid parameters', () => {
    expect(() => makeAugmenter([{ kind: 'flip', p: 1.5 }])).toThrow('flip probability must be in [0, 1], got 1.5');
    expect(() => makeAugmenter([{ kind: 'crop', padding: -1 }])).toThrow('crop padding must be a whole number >= 0');
    expect(() => makeAugmenter([{ kind: 'randaugment', n: 2, magnitude: 31 }])).toThrow('randaugment magnitude must be in 0..30, got 31');
  });
});
