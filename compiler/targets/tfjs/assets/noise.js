// ---------------------------------------------------------------------------------------------
// @if noise
// PGQA noise at inference (perturb ... during: always)
// @else
// The random allocation score at inference (allocate random(...), eval recompute)
// @end
//
// attnc's counter-based generator (runtime/random.ts, docs/attention.md): every draw is a pure
// function of (seed, stream, counter), so this module draws exactly the noise attnc's own evaluation
// draws for the same seed and step. Arithmetic on unsigned 32-bit integers: Math.imul multiplies
// modulo 2^32, and >>> 0 reads the result as unsigned.

// @if noise
/** The random-stream purpose of PGQA noise (runtime/random.ts Purpose.perturbNoise). */
const PERTURB_NOISE_PURPOSE = 2;
// @end
// @if random
/** The random-stream purpose of the `random` allocation score (core/random.ts Purpose.allocationScore). */
const ALLOCATION_SCORE_PURPOSE = 3;
// @end

/** lowbias32 (Chris Wellons' hash-prospector): a bijective u32 -> u32 mix. */
function lowbias32(x) {
  x >>>= 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** A run seed as a u32: seeds below 2^32 as they are, larger safe integers with their high word folded in. */
function seed32(seed) {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError('seed must be a safe integer >= 0, got ' + seed);
  const hi = Math.floor(seed / 0x100000000) >>> 0;
  return hi === 0 ? seed >>> 0 : ((seed >>> 0) ^ lowbias32(hi)) >>> 0;
}

/** A stream id from a path of u32s, e.g. (purpose, layer, step, microBatch). */
function streamId(...parts) {
  let s = parts.length >>> 0;
  for (const p of parts) {
    if (!Number.isInteger(p) || p < 0 || p > 0xffffffff) throw new RangeError('random stream parts must be integers in [0, 2^32), got ' + p);
    s = lowbias32(((s + 0x9e3779b9) >>> 0) ^ p);
  }
  return s;
}

// @if random

/**
 * The `random` statistic at evaluation (compiler/ir/scores.ts randomScore), [B, G]: a whole number in
 * [0, 4096) per image and group, the top 12 bits of draw b * G + g of stream (ALLOCATION_SCORE_PURPOSE,
 * block), b the image's index within the batch. Per image, as in training, so the batch's summed
 * scores average out; results depend on the batch size only through which images share a batch.
 */
function randomScores(tf, seed, layer, batch, groups) {
  const key = lowbias32(lowbias32(seed32(seed)) ^ streamId(ALLOCATION_SCORE_PURPOSE, layer));
  const values = new Float32Array(batch * groups);
  for (let i = 0; i < batch * groups; i++) values[i] = lowbias32(key ^ i) >>> 20;
  return tf.tensor2d(values, [batch, groups]);
}
// @end
// @if noise

/** out[i] = the top 24 bits of lowbias32(lowbias32(lowbias32(seed) ^ stream) ^ i), over 2^24: uniform in [0, 1). */
function uniformFloats(seed, stream, count) {
  const key = lowbias32(lowbias32(seed) ^ stream);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (lowbias32(key ^ i) >>> 8) / 16777216;
  return out;
}

/** Standard normals by Box-Muller from uniforms 2i and 2i + 1 (the sine half is dropped). */
function gaussianFloats(seed, stream, count) {
  const key = lowbias32(lowbias32(seed) ^ stream);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const u1 = (lowbias32(key ^ ((2 * i) >>> 0)) >>> 8) / 16777216;
    const u2 = (lowbias32(key ^ ((2 * i + 1) >>> 0)) >>> 8) / 16777216;
    out[i] = Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
  }
  return out;
}

/**
 * The standardised noise for x = [B, H, R, n] (R rows of n values per image and head), drawn from the
 * stream (PGQA purpose, block, step, 0): raw value i is draw i, then each row is centred and scaled to
 * std 1 (a row of std 0 is only centred). With compat 'paper' at 'output', one noise for the whole
 * batch ([1, H, R, n]) whose value (h, r, h mod headsPerGroup) is zeroed first, as the reference does.
 */
function perturbNoise(perturb, [batch, heads, rowsPerHead, n], draw) {
  const count = (draw.paper ? 1 : batch) * heads * rowsPerHead * n;
  const stream = streamId(PERTURB_NOISE_PURPOSE, draw.layer, draw.step, 0);
  const sample = perturb.distribution === 'gaussian' ? gaussianFloats : uniformFloats;
  const raw = sample(seed32(draw.seed), stream, count);
  const out = new Float32Array(count);
  for (let row = 0; row < count / n; row++) {
    const base = row * n;
    if (draw.paper) {
      const column = (Math.floor(row / rowsPerHead) % heads) % draw.headsPerGroup;
      if (column < n) raw[base + column] = 0;
    }
    let mean = 0;
    for (let j = 0; j < n; j++) mean += raw[base + j];
    mean /= n;
    let variance = 0;
    for (let j = 0; j < n; j++) variance += (raw[base + j] - mean) ** 2;
    const std = Math.sqrt(variance / n) || 1;
    for (let j = 0; j < n; j++) out[base + j] = (raw[base + j] - mean) / std;
  }
  return out;
}

/**
 * A block's standardised PGQA noise for x = [B, H, R, n], as a tensor [B, H, R, n] ([1, H, R, n] with
 * compat 'paper' at 'output'), drawn for options.seed and options.step.
 */
function pgqaNoise(tf, layer, shape, options) {
  const paper = layer.compat === 'paper' && layer.perturb.at === 'output';
  const draw = { seed: options.seed, step: options.step, layer: layer.index, paper, headsPerGroup: Math.max(1, Math.floor(layer.heads / layer.kvHeads)) };
  const [batch, heads, rows, n] = shape;
  return tf.tensor4d(perturbNoise(layer.perturb, shape, draw), [paper ? 1 : batch, heads, rows, n]);
}

/** x [B, H, R, n] -> x - scale * (z * std(x) + mean(x)), each row with its own mean and std. */
function perturb(tf, x, scale, z) {
  const mean = tf.mean(x, 3, true);
  const std = tf.sqrt(tf.maximum(tf.mean(tf.square(tf.sub(x, mean)), 3, true), 1e-20));
  return tf.sub(x, tf.mul(tf.add(tf.mul(z, std), mean), scale));
}
// @end
