import { describe, expect, it } from 'vitest';
import { conformDataset, convertChannels, resize } from '../../runtime/data/image.js';
import type { Dataset } from '../../runtime/data/types.js';

const row = (values: number[]): Uint8Array => Uint8Array.from(values);

describe('bilinear resize', () => {
  it('is the identity at the same size', () => {
    const img = row([3, 1, 4, 1, 5, 9]);
    expect(Array.from(resize(img, 2, 3, 1, 2, 3))).toEqual(Array.from(img));
  });

  it('enlarges with half-pixel centres and clamped edges', () => {
    // Output centres 0.25, 0.75, 1.25, 1.75 in input pixels: -0.25 -> 0 (clamped), 0.25, 0.75, 1.25 -> 100.
    expect(Array.from(resize(row([0, 100]), 1, 2, 1, 1, 4))).toEqual([0, 25, 75, 100]);
    expect(Array.from(resize(row([0, 100]), 2, 1, 1, 4, 1))).toEqual([0, 25, 75, 100]);
  });

  it('averages every input pixel when shrinking (antialiased), per channel', () => {
    // Plain bilinear would sample pixels 1-2 and 5-6 and return 0: the 255s would vanish.
    const out = resize(row([0, 0, 0, 255, 0, 0, 0, 255]), 1, 8, 1, 1, 2);
    for (const v of out) expect(Math.abs(v - 64)).toBeLessThan(20);
    const rgb = resize(row([10, 20, 30, 10, 20, 30, 10, 20, 30, 10, 20, 30]), 2, 2, 3, 1, 1);
    expect(Array.from(rgb)).toEqual([10, 20, 30]);
    // The PIL BILINEAR weights for 4 -> 2: (0.75, 0.75, 0.25) / 1.75 at the first output.
    expect(resize(row([0, 100, 200, 255]), 1, 4, 1, 1, 2)[0]).toBe(71);
  });
});

describe('channel conversion', () => {
  it('gray -> RGB -> gray gives back every value', () => {
    const gray = Uint8Array.from({ length: 256 }, (_, i) => i);
    const rgb = convertChannels(gray, 256, 1, 3);
    expect(Array.from(rgb.subarray(3 * 77, 3 * 78))).toEqual([77, 77, 77]);
    expect(Array.from(convertChannels(rgb, 256, 3, 1))).toEqual(Array.from(gray));
  });

  it('uses ITU-R 601 luma and drops alpha', () => {
    expect(Array.from(convertChannels(row([255, 0, 0, 0, 255, 0, 0, 0, 255]), 3, 3, 1))).toEqual([76, 150, 29]);
    expect(Array.from(convertChannels(row([1, 2, 3, 4, 5, 6, 7, 8]), 2, 4, 3))).toEqual([1, 2, 3, 5, 6, 7]);
    expect(Array.from(convertChannels(row([9, 200, 8, 100]), 2, 2, 1))).toEqual([9, 8]);
    expect(() => convertChannels(row([1]), 1, 1, 4)).toThrow('cannot convert images with 1 channels to 4 channels');
  });
});

describe('conformDataset', () => {
  const ds: Dataset = {
    name: 't', images: row([0, 100, 0, 100, 50, 50, 50, 50]), labels: Int32Array.from([0, 1]),
    count: 2, height: 2, width: 2, channels: 1, classes: 2, source: 't',
  };

  it('returns the data set itself when it already fits', () => {
    expect(conformDataset(ds, 2, 2, 1)).toBe(ds);
  });

  it('resizes and converts every image, keeping labels and order', () => {
    const out = conformDataset(ds, 4, 4, 3);
    expect([out.count, out.height, out.width, out.channels, out.images.length]).toEqual([2, 4, 4, 3, 96]);
    expect(out.labels).toBe(ds.labels);
    // First image, first row: 0, 25, 75, 100 in each of the three channels.
    expect(Array.from(out.images.subarray(0, 12))).toEqual([0, 0, 0, 25, 25, 25, 75, 75, 75, 100, 100, 100]);
    expect(out.images.subarray(48).every((v) => v === 50)).toBe(true);
    expect(ds.images.length).toBe(8); // the input is untouched
  });
});
