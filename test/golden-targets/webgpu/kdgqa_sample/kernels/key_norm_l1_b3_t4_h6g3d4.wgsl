// key_norm_l1_b3_t4_h6g3d4: template key_norm, written by attnc 0.1.0 for model kdgqa_sample (batch 3).
@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read_write> norms: array<f32>;

var<workgroup> red_sum: array<f32, 64>;
fn reduce_sum(lid: u32, v: f32) -> f32 {
  red_sum[lid] = v;
  workgroupBarrier();
  for (var stride = 32u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      let a = red_sum[lid];
      let b = red_sum[lid + stride];
      red_sum[lid] = a + b;
    }
    workgroupBarrier();
  }
  let total = red_sum[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let cell = (wid.y * nwg.x + wid.x);
  if (cell >= 9u) { return; }
  let b = cell / 3u;
  let g = cell % 3u;
  var s = 0.0f;
  for (var e = lid; e < 16u; e += 64u) {
    let k = qkv[(b * 4u + e / 4u) * 48u + (6u + g) * 4u + e % 4u];
    s = s + abs(k);
  }
  let total = reduce_sum(lid, s);
  if (lid == 0u) { norms[cell] = total; }
}
