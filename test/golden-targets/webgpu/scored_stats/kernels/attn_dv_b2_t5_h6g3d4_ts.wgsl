// attn_dv_b2_t5_h6g3d4_ts: template attn_dv, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> p: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> qkv: array<f32>;
@group(0) @binding(3) var<storage, read> table: array<u32>;
@group(0) @binding(4) var<storage, read_write> dqkv: array<f32>;

const M: u32 = 5u;
const N: u32 = 4u;
const K: u32 = 5u;
const OUTER: u32 = 6u;
var<workgroup> tile_a: array<array<f32, 16>, 32>;
var<workgroup> tile_b: array<array<f32, 32>, 16>;
var<workgroup> wg_outer: array<u32, OUTER>;
var<workgroup> wg_outer_count: u32;

const T: u32 = 5u;
const W: u32 = 48u;
const HD: u32 = 4u;
const SCALE: f32 = 0.5f;
fn group_of(b: u32, h: u32) -> u32 { return table[b * 6u + h]; }
fn q_at(b: u32, t: u32, h: u32, d: u32) -> f32 { return qkv[(b * T + t) * W + h * HD + d] * SCALE; }
fn k_at(b: u32, t: u32, g: u32, d: u32) -> f32 { return qkv[(b * T + t) * W + (6u + g) * HD + d]; }
fn v_at(b: u32, t: u32, g: u32, d: u32) -> f32 { return qkv[(b * T + t) * W + (9u + g) * HD + d]; }
// Row-major index into [B, H, T, T]: P's element and its dropout counter.
fn p_index(b: u32, h: u32, i: u32, j: u32) -> u32 { return ((b * 6u + h) * T + i) * T + j; }


@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let flat = (wid.y * nwg.x + wid.x);
  if (flat >= 6u) { return; }
  let bt = flat / 1u;
  let tile = flat % 1u;
  let m0 = (tile / 1u) * 32u;
  let n0 = (tile % 1u) * 32u;
  let tx = lid % 32u;
  let ty = lid / 32u;
  let b = bt / 3u;
  let g = bt % 3u;
  var sums: array<f32, 8>;
  if (lid == 0u) {
    var n = 0u;
    for (var o = 0u; o < OUTER; o++) { if (group_of(b, o) == g) { wg_outer[n] = o; n++; } }
    wg_outer_count = n;
  }
  let outer_count = workgroupUniformLoad(&wg_outer_count);
  for (var oi = 0u; oi < outer_count; oi++) {
    let o = wg_outer[oi];
    for (var k0 = 0u; k0 < K; k0 += 16u) {
      for (var e = lid; e < 512u; e += 128u) {
        let ar = e / 16u;
        let ac = e % 16u;
        var av = 0.0f;
        { let m = m0 + ar; let k = k0 + ac; if (m < M && k < K) { av = p[p_index(b, o, k, m)]; } }
        tile_a[ar][ac] = av;
        let br = e / 32u;
        let bc = e % 32u;
        var bv = 0.0f;
        { let k = k0 + br; let n = n0 + bc; if (k < K && n < N) { bv = dout[(b * T + k) * 24u + o * HD + n]; } }
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
      dqkv[(b * T + m) * W + (9u + g) * HD + n] = acc;
    }
  }
}
