import { describe, expect, it } from 'vitest';
import { deriveSeed, Rng } from '../../runtime/data/rng.js';

const take = (rng: Rng, n: number): number[] => Array.from({ length: n }, () => rng.u32());

describe('Rng', () => {
  it('is xoshiro128**: the reference outputs from state (1, 2, 3, 4)', () => {
    expect(take(Rng.fromState([1, 2, 3, 4]), 3)).toEqual([11520, 0, 5927040]);
  });

  it('repeats for a seed and differs across seeds', () => {
    expect(take(new Rng(42), 10)).toEqual(take(new Rng(42), 10));
    expect(take(new Rng(42), 10)).not.toEqual(take(new Rng(43), 10));
  });

  it('derives distinct streams: key order, key values and high seed bits all matter', () => {
    const seeds = new Set([deriveSeed(1), deriveSeed(1, 0), deriveSeed(1, 1), deriveSeed(1, 1, 2), deriveSeed(1, 2, 1), deriveSeed(2 ** 32 + 1, 1), deriveSeed(2, 1)]);
    expect(seeds.size).toBe(7);
    expect(deriveSeed(7, 3, 4)).toBe(deriveSeed(7, 3, 4));
    expect(() => deriveSeed(0.5)).toThrow('seed must be a safe integer');
  });

  it('int(n) stays in range and is roughly uniform', () => {
    const rng = new Rng(9);
    const counts = new Array(6).fill(0) as number[];
    for (let i = 0; i < 60000; i++) counts[rng.int(6)]!++;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(400);
    expect(() => rng.int(0)).toThrow();
  });

  it('float is in [0, 1) and normal has mean 0, std 1', () => {
    const rng = new Rng(3);
    let sum = 0, sq = 0;
    for (let i = 0; i < 20000; i++) {
      const f = rng.float();
      expect(f >= 0 && f < 1).toBe(true);
      const z = rng.normal();
      sum += z;
      sq += z * z;
    }
    expect(Math.abs(sum / 20000)).toBeLessThan(0.03);
    expect(Math.abs(Math.sqrt(sq / 20000) - 1)).toBeLessThan(0.03);
  });

  it('permutation is a permutation, and depends on the seed', () => {
    const p = Rng.derive(5, 1).permutation(1000);
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(p)).not.toEqual(Array.from(Rng.derive(5, 2).permutation(1000)));
    expect(Array.from(p)).toEqual(Array.from(Rng.derive(5, 1).permutation(1000)));
  });
});
