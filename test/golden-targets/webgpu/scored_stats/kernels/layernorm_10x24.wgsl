// layernorm_10x24: template layernorm, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;

const D: u32 = 24u;

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


var<workgroup> red_sum2: array<f32, 64>;
fn reduce_sum2(lid: u32, v: f32) -> f32 {
  red_sum2[lid] = v;
  workgroupBarrier();
  for (var stride = 32u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      let a = red_sum2[lid];
      let b = red_sum2[lid + stride];
      red_sum2[lid] = a + b;
    }
    workgroupBarrier();
  }
  let total = red_sum2[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x);
  if (row >= 10u) { return; }
  let base = row * D;
  var s = 0.0f;
  for (var i = lid; i < D; i += 64u) { s = s + x[base + i]; }
  let mean = reduce_sum(lid, s) / f32(D);
  var q = 0.0f;
  for (var i = lid; i < D; i += 64u) { let d = x[base + i] - mean; q = q + d * d; }
  let rstd = inverseSqrt(reduce_sum2(lid, q) / f32(D) + 9.999999974752427e-7f);
  for (var i = lid; i < D; i += 64u) { y[base + i] = (x[base + i] - mean) * rstd * gamma[i] + beta[i]; }
  if (lid == 0u) {
    stats[2u * row] = mean;
    stats[2u * row + 1u] = rstd;
  }
}
