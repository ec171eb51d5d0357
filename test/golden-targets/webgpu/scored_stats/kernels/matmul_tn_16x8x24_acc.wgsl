// matmul_tn_16x8x24_acc: template matmul, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;

const M: u32 = 16u;
const N: u32 = 24u;
const K: u32 = 8u;
const OUTER: u32 = 1u;
var<workgroup> tile_a: array<array<f32, 16>, 32>;
var<workgroup> tile_b: array<array<f32, 32>, 16>;


@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let flat = (wid.y * nwg.x + wid.x);
  if (flat >= 1u) { return; }
  let bt = flat / 1u;
  let tile = flat % 1u;
  let m0 = (tile / 1u) * 32u;
  let n0 = (tile % 1u) * 32u;
  let tx = lid % 32u;
  let ty = lid / 32u;

  var sums: array<f32, 8>;
  for (var o = 0u; o < OUTER; o++) {
    for (var k0 = 0u; k0 < K; k0 += 16u) {
      for (var e = lid; e < 512u; e += 128u) {
        let ar = e / 16u;
        let ac = e % 16u;
        var av = 0.0f;
        { let m = m0 + ar; let k = k0 + ac; if (m < M && k < K) { av = a[k * M + m]; } }
        tile_a[ar][ac] = av;
        let br = e / 32u;
        let bc = e % 32u;
        var bv = 0.0f;
        { let k = k0 + br; let n = n0 + bc; if (k < K && n < N) { bv = b[k * N + n]; } }
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
      c[m * N + n] = c[m * N + n] + acc;
    }
  }
}
