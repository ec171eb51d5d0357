import { describe, expect, it } from 'vitest';
import { defaultNormalization, normalizationTable, normalizeInto } from '../../runtime/data/normalize.js';

describe('defaultNormalization', () => {
  it('gives each data set its statistics', () => {
    expect(defaultNormalization('mnist', 1)).toEqual({ mean: [0.1307], std: [0.3081] });
    expect(defaultNormalization('fashion_mnist', 1)).toEqual({ mean: [0.286], std: [0.353] });
    expect(defaultNormalization('cifar10', 3)).toEqual({ mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] });
    expect(defaultNormalization('cifar100', 3)).toEqual({ mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] });
    for (const kind of ['folder', 'synthetic', 'idx'] as const) expect(defaultNormalization(kind, 3)).toEqual({ mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
  });

  it('repeats gray statistics for RGB models and luma-weights RGB ones for gray models', () => {
    expect(defaultNormalization('mnist', 3)).toEqual({ mean: [0.1307, 0.1307, 0.1307], std: [0.3081, 0.3081, 0.3081] });
    const g = defaultNormalization('cifar10', 1);
    expect(g.mean[0]).toBeCloseTo(0.299 * 0.4914 + 0.587 * 0.4822 + 0.114 * 0.4465, 4);
    expect(g.std[0]).toBeCloseTo(0.299 * 0.247 + 0.587 * 0.2435 + 0.114 * 0.2616, 4);
    expect(() => defaultNormalization('cifar10', 2)).toThrow('no normalisation for 2 channels from statistics of 3 channels');
  });
});

describe('normalisation', () => {
  it('computes (v / 255 - mean) / std per channel', () => {
    const lut = normalizationTable({ mean: [0.5, 0.1307], std: [0.5, 0.3081] }, 2);
    expect(lut[0]).toBe(-1);
    expect(lut[255]).toBe(1);
    expect(lut[256 + 0]).toBeCloseTo(-0.1307 / 0.3081, 6);
    expect(lut[256 + 200]).toBeCloseTo((200 / 255 - 0.1307) / 0.3081, 6);
    const out = new Float32Array(6);
    normalizeInto(Uint8Array.from([9, 255, 0, 0, 255, 51]), 2, 2, 2, lut, out, 2);
    expect(Array.from(out.subarray(0, 2))).toEqual([0, 0]);
    expect(out[2]).toBeCloseTo(-1, 6); // pixel 0, channel 0: value 0
    expect(out[3]).toBeCloseTo(-0.1307 / 0.3081, 6); // pixel 0, channel 1: value 0
    expect(out[4]).toBeCloseTo(1, 6);
    expect(out[5]).toBeCloseTo((0.2 - 0.1307) / 0.3081, 6);
  });

  it('broadcasts a single value and rejects bad statistics', () => {
    const lut = normalizationTable({ mean: [0], std: [1] }, 3);
    expect([lut[51], lut[256 + 51], lut[512 + 51]].map((v) => v!.toFixed(6))).toEqual(['0.200000', '0.200000', '0.200000']);
    expect(() => normalizationTable({ mean: [0, 0], std: [1] }, 3)).toThrow('normalize mean has 2 values for a 3-channel model — give 1 or 3 values');
    expect(() => normalizationTable({ mean: [0], std: [0] }, 1)).toThrow('positive stds');
  });
});
