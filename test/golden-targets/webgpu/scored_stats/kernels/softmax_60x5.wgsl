// softmax_60x5: template softmax, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read_write> x: array<f32>;

const C: u32 = 5u;

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


var<workgroup> red_max: array<f32, 64>;
fn reduce_max(lid: u32, v: f32) -> f32 {
  red_max[lid] = v;
  workgroupBarrier();
  for (var stride = 32u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      let a = red_max[lid];
      let b = red_max[lid + stride];
      red_max[lid] = max(a, b);
    }
    workgroupBarrier();
  }
  let total = red_max[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x);
  if (row >= 60u) { return; }
  let base = row * C;
  var m = -3.4028234663852886e38f;
  for (var i = lid; i < C; i += 64u) { m = max(m, x[base + i]); }
  let top = reduce_max(lid, m);
  var s = 0.0f;
  for (var i = lid; i < C; i += 64u) { let e = exp(x[base + i] - top); x[base + i] = e; s = s + e; }
  let inv = 1.0f / reduce_sum(lid, s);
  for (var i = lid; i < C; i += 64u) { x[base + i] = x[base + i] * inv; }
}
