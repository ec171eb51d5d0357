// layernorm_bwd_10x24: template layernorm_bwd, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

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
  let mean = stats[2u * row];
  let rstd = stats[2u * row + 1u];
  var sg = 0.0f;
  var sgx = 0.0f;
  for (var i = lid; i < D; i += 64u) {
    let g = dy[base + i] * gamma[i];
    sg = sg + g;
    sgx = sgx + g * (x[base + i] - mean) * rstd;
  }
  let mean_g = reduce_sum(lid, sg) / f32(D);
  let mean_gx = reduce_sum2(lid, sgx) / f32(D);
  for (var i = lid; i < D; i += 64u) {
    let xhat = (x[base + i] - mean) * rstd;
    let v = rstd * (dy[base + i] * gamma[i] - mean_g - xhat * mean_gx);
    dx[base + i] = v;
  }
}
