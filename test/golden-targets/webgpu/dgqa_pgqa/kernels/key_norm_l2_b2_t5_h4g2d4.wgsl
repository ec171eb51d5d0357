// key_norm_l2_b2_t5_h4g2d4: template key_norm, written by attnc 0.1.0 for model dgqa_pgqa_scores (batch 2).
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
  if (cell >= 4u) { return; }
  let b = cell / 2u;
  let g = cell % 2u;
  var s = 0.0f;
  for (var e = lid; e < 20u; e += 64u) {
    let k = qkv[(b * 5u + e / 4u) * 32u + (4u + g) * 4u + e % 4u];
    s = s + k * k;
  }
  let total = reduce_sum(lid, s);
  if (lid == 0u) { norms[cell] = sqrt(total); }
}
