// attn_dv_b2_t5_h4g2d4_u_drop: template attn_dv, written by attnc 0.1.0 for model gqa_train (batch 2).
@group(0) @binding(0) var<storage, read> p: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> qkv: array<f32>;
@group(0) @binding(3) var<storage, read_write> dqkv: array<f32>;
struct Uniforms {
  seed: u32,
  step: u32,
  micro: u32,
  layer: u32,
  threshold: u32,
  keep: f32,
}
@group(0) @binding(4) var<uniform> u: Uniforms;

const M: u32 = 5u;
const N: u32 = 4u;
const K: u32 = 5u;
const OUTER: u32 = 2u;
var<workgroup> tile_a: array<array<f32, 16>, 32>;
var<workgroup> tile_b: array<array<f32, 32>, 16>;


const T: u32 = 5u;
const W: u32 = 32u;
const HD: u32 = 4u;
const SCALE: f32 = 0.5f;
fn group_of(b: u32, h: u32) -> u32 { return h / 2u; }
fn q_at(b: u32, t: u32, h: u32, d: u32) -> f32 { return qkv[(b * T + t) * W + h * HD + d] * SCALE; }
fn k_at(b: u32, t: u32, g: u32, d: u32) -> f32 { return qkv[(b * T + t) * W + (4u + g) * HD + d]; }
fn v_at(b: u32, t: u32, g: u32, d: u32) -> f32 { return qkv[(b * T + t) * W + (6u + g) * HD + d]; }
// Row-major index into [B, H, T, T]: P's element and its dropout counter.
fn p_index(b: u32, h: u32, i: u32, j: u32) -> u32 { return ((b * 4u + h) * T + i) * T + j; }

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

fn mask_at(key: u32, index: u32) -> f32 { return select(0.0f, u.keep, (random_bits(key, index) >> 8u) >= u.threshold); }

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let flat = (wid.y * nwg.x + wid.x);
  if (flat >= 4u) { return; }
  let bt = flat / 1u;
  let tile = flat % 1u;
  let m0 = (tile / 1u) * 32u;
  let n0 = (tile % 1u) * 32u;
  let tx = lid % 32u;
  let ty = lid / 32u;
  let b = bt / 2u;
  let g = bt % 2u;
  let key = stream_key(u.seed, stream_id4(1u, u.layer, u.step, u.micro));
  var sums: array<f32, 8>;
  for (var o = 0u; o < OUTER; o++) {
    for (var k0 = 0u; k0 < K; k0 += 16u) {
      for (var e = lid; e < 512u; e += 128u) {
        let ar = e / 16u;
        let ac = e % 16u;
        var av = 0.0f;
        { let m = m0 + ar; let k = k0 + ac; if (m < M && k < K) { av = p[p_index(b, (g * 2u + o), k, m)] * mask_at(key, p_index(b, (g * 2u + o), k, m)); } }
        tile_a[ar][ac] = av;
        let br = e / 32u;
        let bc = e % 32u;
        var bv = 0.0f;
        { let k = k0 + br; let n = n0 + bc; if (k < K && n < N) { bv = dout[(b * T + k) * 16u + (g * 2u + o) * HD + n]; } }
        tile_b[br][bc] = bv;
      }
      workgroupBarrier();
      for (var kk = 0u; kk < 16u; kk++) {
        let b_val = tile_b[kk][tx];
        for (var i = 0u; i < 8u; i++) {
          sums[i] = sums[i] + tile_a[ty + 4u * i][kk] * b_val;
        }
      }
      workgroupBarrier();
    }
  }
  for (var i = 0u; i < 8u; i++) {
    let m = m0 + ty + 4u * i;
    let n = n0 + tx;
    if (m < M && n < N) {
      let acc = sums[i];
      dqkv[(b * T + m) * W + (6u + g) * HD + n] = acc;
    }
  }
}
