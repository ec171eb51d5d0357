// A small seeded PRNG (xoshiro128**) with hash-based stream splitting. Every random choice in the data
// pipeline comes from an Rng derived from (run seed, stream, epoch, position), never from shared
// state, so a batch is a pure function of its coordinates: prefetching, skipping ahead or computing
// batches in another order cannot change what any batch contains.

/** Named streams, so that shuffling and augmenting never draw from the same sequence. */
export const Stream = {
  shuffle: 1,
  augment: 2,
  synthetic: 3,
} as const;

/** Murmur3's 32-bit finaliser: a bijective mix in which every input bit affects every output bit. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * Hash a seed and a path of integer keys into a 32-bit seed. Seeds above 2^32 keep their high bits
 * (they are folded in, not truncated), so seeds 1 and 2^32 + 1 differ.
 */
export function deriveSeed(seed: number, ...keys: number[]): number {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 0x100000000) >>> 0;
  let h = mix32(lo ^ 0x9e3779b9);
  h = mix32(h ^ mix32(hi + 0x7f4a7c15));
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (!Number.isInteger(k)) throw new RangeError(`stream keys must be integers, got ${k}`);
    // Position-dependent constant, so (a, b) and (b, a) give different seeds.
    h = mix32((h + Math.imul(i + 1, 0x632be5ab)) ^ mix32(k >>> 0) ^ mix32(Math.floor(k / 0x100000000) >>> 0));
  }
  return h;
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    // splitmix32 fills the state, so similar seeds start far apart and the state is never all zero.
    let z = seed >>> 0;
    const next = (): number => {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x21f0aaad);
      t = Math.imul(t ^ (t >>> 15), 0x735a2d97);
      return (t ^ (t >>> 15)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** A generator in a given xoshiro128** state (not all zero): for checking against reference outputs. */
  static fromState(state: [number, number, number, number]): Rng {
    if (state.every((x) => x === 0)) throw new RangeError('xoshiro128** state must not be all zero');
    const rng = new Rng(0);
    [rng.s0, rng.s1, rng.s2, rng.s3] = state.map((x) => x >>> 0) as [number, number, number, number];
    return rng;
  }

  /** An Rng for (seed, ...keys): the way the pipeline gets every generator. */
  static derive(seed: number, ...keys: number[]): Rng {
    return new Rng(deriveSeed(seed, ...keys));
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A float in [0, 1) with 32 bits of resolution. */
  float(): number {
    return this.u32() / 0x100000000;
  }

  /** A float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }

  /** An integer in [0, n), without modulo bias (rejection sampling). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) throw new RangeError(`int(n) needs 1 <= n <= 2^32, got ${n}`);
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const x = this.u32();
      if (x < limit) return x % n;
    }
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** A standard normal sample (Box-Muller; one of the pair is discarded to keep the state simple). */
  normal(): number {
    const u = 1 - this.float(); // (0, 1]: log stays finite
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A uniformly random permutation of 0 .. n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
