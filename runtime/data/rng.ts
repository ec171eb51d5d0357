// The data pipeline's random numbers: a sequential view of the project's counter-based generator
// (core/random.ts). Draw i of the generator for (seed, keys...) is
//   randomBits(seed32(seed), streamId(...keys), i)
// so every random choice is a pure function of (run seed, purpose, epoch, position, draw index):
// prefetching, skipping ahead or building batches in another order cannot change any batch, and any
// backend that implements core/random.ts can reproduce the shuffle bit for bit.
import { lowbias32, Purpose, seed32, streamId } from '../../core/random.js';

/** The purposes the data pipeline draws for, the first key of every stream (registered in core/random.ts). */
export const Stream = {
  /** (Stream.shuffle, epoch): the epoch's permutation. */
  shuffle: Purpose.dataShuffle,
  /** (Stream.augment, epoch, position in the epoch): one image's augmentations. */
  augment: Purpose.dataAugment,
  /** (Stream.synthetic, ...): the synthetic data set. */
  synthetic: Purpose.dataSynthetic,
} as const;

const TWO_POW_32 = 0x100000000;

export class Rng {
  /** lowbias32(lowbias32(seed) ^ stream): the per-stream prefix of randomBits, hoisted. */
  private readonly key: number;
  private counter = 0;

  /** A generator for a u32 seed and a stream id (see streamId). */
  constructor(seed: number, stream: number) {
    this.key = lowbias32(lowbias32(seed) ^ stream);
  }

  /** The generator for (run seed, ...stream keys): the way the pipeline gets every generator. */
  static derive(seed: number, ...keys: number[]): Rng {
    return new Rng(seed32(seed), streamId(...keys));
  }

  /** The next 32 random bits: randomBits(seed, stream, counter++). */
  u32(): number {
    if (this.counter >= TWO_POW_32) throw new RangeError('Rng: more than 2^32 draws from one stream');
    return lowbias32((this.key ^ this.counter++) >>> 0);
  }

  /** A float in [0, 1) with 32 bits of resolution. */
  float(): number {
    return this.u32() / TWO_POW_32;
  }

  /** A float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }

  /** An integer in [0, n), without modulo bias: draws at or above the largest multiple of n are redrawn. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > TWO_POW_32) throw new RangeError(`int(n) needs 1 <= n <= 2^32, got ${n}`);
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const x = this.u32();
      if (x < limit) return x % n;
    }
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** A standard normal sample (Box-Muller on two draws; the sine half is dropped). */
  normal(): number {
    const u = 1 - this.float(); // (0, 1]: the log stays finite
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /**
   * A uniformly random permutation of 0 .. n-1: Fisher-Yates from the end,
   * for i = n-1 down to 1: swap p[i] and p[int(i + 1)].
   */
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
