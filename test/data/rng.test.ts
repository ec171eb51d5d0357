import { describe, expect, it } from 'vitest';
import { Purpose, randomBits, seed32, streamId } from '../../core/random.js';
import { Rng, Stream } from '../../runtime/data/rng.js';

const take = (rng: Rng, n: number): number[] => Array.from({ length: n }, () => rng.u32());

describe('Rng', () => {
  it('draws the project generator in sequence: draw i = randomBits(seed32(seed), streamId(keys), i)', () => {
    const seed = 2 ** 32 + 12345; // a seed whose high word matters
    const keys = [Stream.augment, 3, 17];
    const expected = Array.from({ length: 5 }, (_, i) => randomBits(seed32(seed), streamId(...keys), i));
    expect(take(Rng.derive(seed, ...keys), 5)).toEqual(expected);
  });

  it('draws for purposes registered once in runtime/random.ts, none shared', () => {
    const all = Object.values(Purpose);
    expect(new Set(all).size).toBe(all.length);
    for (const p of Object.values(Stream)) expect(all).toContain(p);
    expect(new Set(Object.values(Stream)).size).toBe(Object.values(Stream).length);
  });

  it('repeats for a seed and stream, and differs across seeds, key values and key order', () => {
    expect(take(Rng.derive(42, 1, 2), 10)).toEqual(take(Rng.derive(42, 1, 2), 10));
    const firsts = new Set([[42, 1, 2], [43, 1, 2], [42, 2, 1], [42, 1], [42, 1, 2, 0], [2 ** 32 + 42, 1, 2]].map(([s, ...k]) => Rng.derive(s!, ...k).u32()));
    expect(firsts.size).toBe(6);
    expect(() => Rng.derive(0.5, 1)).toThrow('seed must be a safe integer');
  });

  it('int(n) stays in range and is roughly uniform', () => {
    const rng = Rng.derive(9, 0);
    const counts = new Array(6).fill(0) as number[];
    for (let i = 0; i < 60000; i++) counts[rng.int(6)]!++;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(400);
    expect(() => rng.int(0)).toThrow();
  });

  it('float is in [0, 1) and normal has mean 0, std 1', () => {
    const rng = Rng.derive(3, 0);
    let sum = 0, sq = 0, outside = 0;
    for (let i = 0; i < 20000; i++) {
      const f = rng.float();
      if (!(f >= 0 && f < 1)) outside++;
      const z = rng.normal();
      sum += z;
      sq += z * z;
    }
    expect(outside).toBe(0);
    expect(Math.abs(sum / 20000)).toBeLessThan(0.03);
    expect(Math.abs(Math.sqrt(sq / 20000) - 1)).toBeLessThan(0.03);
  });

  it('permutation is a permutation, and depends on the stream', () => {
    const p = Rng.derive(5, 1).permutation(1000);
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(p)).not.toEqual(Array.from(Rng.derive(5, 2).permutation(1000)));
    expect(Array.from(p)).toEqual(Array.from(Rng.derive(5, 1).permutation(1000)));
  });

  it('permutation follows the documented Fisher-Yates (so other backends can reproduce it)', () => {
    const reference = Rng.derive(8, Stream.shuffle, 0);
    const p = [0, 1, 2, 3, 4, 5, 6];
    for (let i = p.length - 1; i > 0; i--) {
      const j = reference.int(i + 1);
      [p[i], p[j]] = [p[j]!, p[i]!];
    }
    expect(Array.from(Rng.derive(8, Stream.shuffle, 0).permutation(7))).toEqual(p);
  });
});
