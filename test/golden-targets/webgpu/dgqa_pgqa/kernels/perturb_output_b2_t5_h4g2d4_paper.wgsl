// perturb_output_b2_t5_h4g2d4_paper: template perturb, written by attnc 0.1.0 for model dgqa_pgqa_scores (batch 2).
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn x_index(row: u32, j: u32) -> u32 { return ((row / 4u) * 5u + j / 4u) * 16u + (row % 4u) * 4u + j % 4u; }
fn z_row(row: u32) -> u32 { return row % 4u; }

var<workgroup> red_mean: array<f32, 64>;
fn reduce_mean(lid: u32, v: f32) -> f32 {
  red_mean[lid] = v;
  workgroupBarrier();
  for (var stride = 32u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      let a = red_mean[lid];
      let b = red_mean[lid + stride];
      red_mean[lid] = a + b;
    }
    workgroupBarrier();
  }
  let total = red_mean[0];
  workgroupBarrier();
  return total;
}


var<workgroup> red_var: array<f32, 64>;
fn reduce_var(lid: u32, v: f32) -> f32 {
  red_var[lid] = v;
  workgroupBarrier();
  for (var stride = 32u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      let a = red_var[lid];
      let b = red_var[lid + stride];
      red_var[lid] = a + b;
    }
    workgroupBarrier();
  }
  let total = red_var[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x);
  if (row >= 8u) { return; }

  var s = 0.0f;
  for (var j = lid; j < 20u; j += 64u) { s = s + x[x_index(row, j)]; }
  let mean = reduce_mean(lid, s) / 20.0f;
  var q = 0.0f;
  for (var j = lid; j < 20u; j += 64u) { let d = x[x_index(row, j)] - mean; q = q + d * d; }
  let variance = reduce_var(lid, q) / 20.0f;
  let sd = sqrt(max(variance, 9.999999682655225e-21f));
  let zb = z_row(row) * 20u;
  for (var j = lid; j < 20u; j += 64u) {
    let i = x_index(row, j);
    out[i] = x[i] - (z[zb + j] * sd + mean) * 0.5f;
  }
}
