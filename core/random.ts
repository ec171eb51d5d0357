// The counter-based random generator of attnc's model code (attention dropout masks, PGQA noise).
//
// Every draw is a pure function of (seed, stream, counter): no state, so the TensorFlow.js, WebGPU
// and emitted PyTorch backends can each compute exactly the same bits in any order and on any device
// (a WGSL shader computes element i's bits from its own index). The algorithm is specified with test
// vectors in docs/attention.md; test/random.test.ts pins them. Change neither without the other.
//
// All arithmetic is on unsigned 32-bit integers. Math.imul multiplies modulo 2^32, and `>>> 0`
// reinterprets the result as unsigned, which is what WGSL's u32 and numpy's uint32 do natively.

/** lowbias32 (Chris Wellons' hash-prospector): a bijective u32 -> u32 mix with low bias. */
export function lowbias32(x: number): number {
  x >>>= 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * The run seed as a u32. Seeds below 2^32 are used as they are (so other backends need no folding for
 * ordinary seeds); larger safe integers fold their high word in, so 1 and 2^32 + 1 differ.
 */
export function seed32(seed: number): number {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`random: seed must be a safe integer >= 0, got ${seed}`);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 0x100000000) >>> 0;
  return hi === 0 ? lo : (lo ^ lowbias32(hi)) >>> 0;
}

function checkU32(name: string, x: number): number {
  if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new RangeError(`random: ${name} must be an integer in [0, 2^32), got ${x}`);
  return x;
}

/**
 * Derives a stream id from a path of integers, e.g. (purpose, layer, step, microBatch). Each part is
 * mixed in with the hash, and the number of parts starts the chain, so (1, 2) and (1, 2, 0) differ:
 *   s = parts.length; for each part p: s = lowbias32(((s + 0x9e3779b9) mod 2^32) xor p)
 */
export function streamId(...parts: number[]): number {
  let s = parts.length >>> 0;
  for (const p of parts) s = lowbias32(((s + 0x9e3779b9) >>> 0) ^ checkU32('stream part', p));
  return s;
}

/**
 * Every purpose any module draws random numbers for: the first part of its stream id. One registry,
 * so that no two purposes share a number (every backend must use the same numbers).
 */
export const Purpose = {
  attentionDropout: 1,
  perturbNoise: 2,
  /** The `random` importance score of an allocation (compiler/ir/scores.ts). */
  allocationScore: 3,
  /** runtime/data: an epoch's permutation, one image's augmentations, the synthetic data set. */
  dataShuffle: 101,
  dataAugment: 102,
  dataSynthetic: 103,
  /** runtime/experiment/stats.ts: the resamples of bootstrap intervals. */
  bootstrap: 201,
  /** The initial weights (runtime/tfjs/params.ts). */
  init: 0x101,
  /** runtime/tfjs/vit.ts: dropout and drop-path masks. */
  dropout: 0x102,
} as const;

/** 32 random bits: lowbias32(lowbias32(lowbias32(seed) xor stream) xor counter), seed already a u32. */
export function randomBits(seed: number, stream: number, counter: number): number {
  return lowbias32(lowbias32(lowbias32(seed) ^ stream) ^ counter);
}

const TWO_POW_24 = 16777216;

/** A uniform float in [0, 1): the top 24 bits over 2^24, so exactly representable in float32. */
export function uniform(seed: number, stream: number, counter: number): number {
  return (randomBits(seed, stream, counter) >>> 8) / TWO_POW_24;
}

// The per-(seed, stream) prefix of randomBits, hoisted out of the loops below.
function streamKey(seed: number, stream: number): number {
  return lowbias32(lowbias32(checkU32('seed', seed)) ^ checkU32('stream', stream));
}

/** out[i] = uniform(seed, stream, offset + i), counters taken modulo 2^32. */
export function uniformFloats(seed: number, stream: number, count: number, offset = 0): Float32Array {
  const key = streamKey(seed, stream);
  checkU32('offset', offset);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (lowbias32(key ^ ((offset + i) >>> 0)) >>> 8) / TWO_POW_24;
  return out;
}

/**
 * Standard normal floats by Box-Muller, one per pair of uniforms (the sine half is dropped, so value
 * i depends on counters 2(offset + i) and 2(offset + i) + 1 only, modulo 2^32):
 *   u1 = uniform(.., 2j), u2 = uniform(.., 2j + 1), z_i = sqrt(-2 ln(1 - u1)) * cos(2 pi u2)
 * 1 - u1 lies in [2^-24, 1], so the log is finite (|z| <= about 5.77). Computed in float64, then
 * rounded to float32: other float64 backends agree to the last bit up to their libm's log and cos
 * (1 ulp), a float32 WGSL backend to about 1e-6.
 */
export function gaussianFloats(seed: number, stream: number, count: number, offset = 0): Float32Array {
  const key = streamKey(seed, stream);
  checkU32('offset', offset);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const c = (2 * (offset + i)) % 0x100000000;
    const u1 = (lowbias32(key ^ c) >>> 8) / TWO_POW_24;
    const u2 = (lowbias32(key ^ ((c + 1) >>> 0)) >>> 8) / TWO_POW_24;
    out[i] = Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
  }
  return out;
}
