// key_variance_b2_t5_h6g3d4: template key_variance, written by attnc 0.1.0 for model scored_stats (batch 2).
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


var<workgroup> red_dev: array<f32, 64>;
fn reduce_dev(lid: u32, v: f32) -> f32 {
  red_dev[lid] = v;
  workgroupBarrier();
  for (var stride = 32u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      let a = red_dev[lid];
      let b = red_dev[lid + stride];
      red_dev[lid] = a + b;
    }
    workgroupBarrier();
  }
  let total = red_dev[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let cell = (wid.y * nwg.x + wid.x);
  if (cell >= 6u) { return; }
  let b = cell / 3u;
  let g = cell % 3u;
  var s = 0.0f;
  for (var e = lid; e < 20u; e += 64u) { s = s + qkv[(b * 5u + e / 4u) * 48u + (6u + g) * 4u + e % 4u]; }
  let mean = reduce_sum(lid, s) / 20.0f;
  var d = 0.0f;
  for (var e = lid; e < 20u; e += 64u) {
    let c = qkv[(b * 5u + e / 4u) * 48u + (6u + g) * 4u + e % 4u] - mean;
    d = d + c * c;
  }
  let total = reduce_dev(lid, d);
  if (lid == 0u) { norms[cell] = total / 20.0f; }
}
