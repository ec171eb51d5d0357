// core/random.ts in WGSL: lowbias32, stream ids, random bits, uniforms and Box-Muller gaussians.
// u32 arithmetic in WGSL wraps modulo 2^32 and `>>` on u32 is a logical shift, so lowbias32 maps
// line for line; test/webgpu/random.test.ts checks the bits against core/random.ts exactly.
//
// Stream ids are computed on the device from their parts (purpose, site, layer, step, micro-batch),
// so a plan carries the step as a runtime uniform instead of a host-hashed id per step.

export const RANDOM_WGSL = /* wgsl */ `
fn lowbias32(v: u32) -> u32 {
  var x = v;
  x = x ^ (x >> 16u);
  x = x * 0x7feb352du;
  x = x ^ (x >> 15u);
  x = x * 0x846ca68bu;
  x = x ^ (x >> 16u);
  return x;
}

// streamId(p_1 .. p_n) of runtime/random.ts: s = n; for each p: s = lowbias32((s + 0x9e3779b9) ^ p).
fn stream_step(s: u32, p: u32) -> u32 { return lowbias32((s + 0x9e3779b9u) ^ p); }
fn stream_id4(a: u32, b: u32, c: u32, d: u32) -> u32 {
  return stream_step(stream_step(stream_step(stream_step(4u, a), b), c), d);
}
fn stream_id5(a: u32, b: u32, c: u32, d: u32, e: u32) -> u32 {
  return stream_step(stream_step(stream_step(stream_step(stream_step(5u, a), b), c), d), e);
}

// The per-(seed, stream) prefix of randomBits: lowbias32(lowbias32(seed) ^ stream).
fn stream_key(seed: u32, stream: u32) -> u32 { return lowbias32(lowbias32(seed) ^ stream); }
fn random_bits(key: u32, counter: u32) -> u32 { return lowbias32(key ^ counter); }
// The top 24 bits over 2^24: exact in f32, in [0, 1).
fn uniform01(key: u32, counter: u32) -> f32 { return f32(random_bits(key, counter) >> 8u) * (1.0f / 16777216.0f); }
// gaussianFloats value i: counters 2i and 2i + 1 (mod 2^32); 1 - u1 >= 2^-24, so the log is finite.
fn gaussian(key: u32, i: u32) -> f32 {
  let c = 2u * i;
  let u1 = uniform01(key, c);
  let u2 = uniform01(key, c + 1u);
  return sqrt(-2.0f * log(1.0f - u1)) * cos(6.283185307179586f * u2);
}
`;

/** core/random.ts Purpose values used by the device (the registry is there; these must match it). */
export const WGSL_PURPOSE = { attentionDropout: 1, perturbNoise: 2, allocationScore: 3, dropout: 0x102 } as const;
