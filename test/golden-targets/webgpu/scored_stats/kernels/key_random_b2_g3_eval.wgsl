// key_random_b2_g3_eval: template key_random, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read_write> norms: array<f32>;
struct Uniforms {
  seed: u32,
  step: u32,
  micro: u32,
  layer: u32,
}
@group(0) @binding(1) var<uniform> u: Uniforms;

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

fn stream_id2(a: u32, b: u32) -> u32 { return stream_step(stream_step(2u, a), b); }
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= 6u) { return; }
  let key = stream_key(u.seed, stream_id2(3u, u.layer));
  norms[i] = f32(random_bits(key, i) >> 20u);
}
