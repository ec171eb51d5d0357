// The counter-based generator: pinned test vectors (the WebGPU and PyTorch backends copy them from
// docs/attention.md), an independent BigInt version of the hash, and the documented counter layout.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gaussianFloats, lowbias32, randomBits, seed32, streamId, uniform, uniformFloats } from '../core/random.js';

/** lowbias32 in exact integer arithmetic, sharing nothing with the Math.imul version. */
function lowbias32Big(x: number): number {
  const mask = 0xffffffffn;
  let v = BigInt(x) & mask;
  v ^= v >> 16n;
  v = (v * 0x7feb352dn) & mask;
  v ^= v >> 15n;
  v = (v * 0x846ca68bn) & mask;
  v ^= v >> 16n;
  return Number(v);
}

describe('pinned test vectors (docs/attention.md)', () => {
  it('lowbias32', () => {
    expect([0, 1, 2, 0xdeadbeef, 0xffffffff].map(lowbias32)).toEqual([0x00000000, 0x688990c0, 0xd1132181, 0xe628c683, 0x6768824a]);
  });

  it('streamId', () => {
    expect([streamId(0), streamId(1), streamId(1, 2), streamId(1, 2, 0), streamId(1, 0, 0, 0), streamId(2, 3, 100, 0)]).toEqual([
      0x9f505634, 0x079f4ece, 0xbc4f45c9, 0xc162c132, 0xd41ed87f, 0xcc4e0399,
    ]);
  });

  it('randomBits, uniform and gaussian for seed 42, stream 7', () => {
    expect([0, 1, 2, 3].map((c) => randomBits(42, 7, c))).toEqual([0xbe6075ee, 0x08f242a9, 0x9ccafdbb, 0xb82729cb]);
    expect(Array.from(uniformFloats(42, 7, 4))).toEqual([0.7436593174934387, 0.034946560859680176, 0.6124723553657532, 0.7193475365638733]);
    expect(Array.from(gaussianFloats(42, 7, 4))).toEqual([1.6103821992874146, -0.26355355978012085, 0.09807759523391724, 0.29222121834754944]);
  });

  it('seed32 keeps ordinary seeds and folds the high word of large ones', () => {
    expect(seed32(5)).toBe(5);
    expect(seed32(2 ** 32 + 1)).toBe(0x688990c1);
    expect(() => seed32(-1)).toThrow(RangeError);
    expect(() => seed32(0.5)).toThrow(RangeError);
  });
});

describe('the algorithm as documented', () => {
  it('lowbias32 equals exact integer arithmetic on any u32', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (x) => lowbias32(x) === lowbias32Big(x)), { numRuns: 2000 });
  });

  it('randomBits is the documented composition, uniform its top 24 bits over 2^24', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), (s, st, c) => {
        const bits = lowbias32Big((lowbias32Big((lowbias32Big(s) ^ st) >>> 0) ^ c) >>> 0);
        expect(randomBits(s, st, c)).toBe(bits);
        const u = uniform(s, st, c);
        expect(u).toBe(Math.floor(bits / 256) / 2 ** 24);
        expect(Math.fround(u)).toBe(u); // exactly representable in float32
      }),
      { numRuns: 500 },
    );
  });

  it('uniformFloats(count, offset)[i] is uniform(offset + i), counters wrapping modulo 2^32', () => {
    const xs = uniformFloats(9, 1234, 5, 100);
    xs.forEach((x, i) => expect(x).toBe(uniform(9, 1234, 100 + i)));
    const wrapped = uniformFloats(9, 1234, 3, 0xffffffff);
    expect(Array.from(wrapped)).toEqual([uniform(9, 1234, 0xffffffff), uniform(9, 1234, 0), uniform(9, 1234, 1)]);
  });

  it('gaussianFloats value i uses counters 2(offset + i) and 2(offset + i) + 1', () => {
    const zs = gaussianFloats(3, 77, 6, 10);
    zs.forEach((z, i) => {
      const u1 = uniform(3, 77, 2 * (10 + i));
      const u2 = uniform(3, 77, 2 * (10 + i) + 1);
      expect(z).toBe(Math.fround(Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2)));
    });
  });

  it('has the moments of its distributions and no log(0)', () => {
    const n = 200_000;
    const u = uniformFloats(1, streamId(5), n);
    const z = gaussianFloats(1, streamId(5), n);
    const mean = (a: Float32Array) => a.reduce((s, x) => s + x, 0) / a.length;
    const variance = (a: Float32Array) => { const m = mean(a); return a.reduce((s, x) => s + (x - m) ** 2, 0) / a.length; };
    expect(Math.abs(mean(u) - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(variance(u) - 1 / 12)).toBeLessThan(0.002);
    expect(Math.abs(mean(z))).toBeLessThan(0.01);
    expect(Math.abs(variance(z) - 1)).toBeLessThan(0.02);
    expect(u.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(z.every(Number.isFinite)).toBe(true);
  });

  it('streamId separates orders and lengths, and rejects what is not a u32', () => {
    const ids = [streamId(1, 2), streamId(2, 1), streamId(1, 2, 0), streamId(1, 2, 0, 0), streamId(0, 1, 2)];
    expect(new Set(ids).size).toBe(ids.length);
    expect(() => streamId(-1)).toThrow(RangeError);
    expect(() => streamId(2 ** 32)).toThrow(RangeError);
    expect(() => streamId(1.5)).toThrow(RangeError);
  });
});
