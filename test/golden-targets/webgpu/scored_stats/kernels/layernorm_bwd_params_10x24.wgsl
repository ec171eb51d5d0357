// layernorm_bwd_params_10x24: template layernorm_bwd_params, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> stats: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(4) var<storage, read_write> dbeta: array<f32>;

const D: u32 = 24u;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let d = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (d >= D) { return; }
  var sg = 0.0f;
  var sb = 0.0f;
  for (var r = 0u; r < 10u; r++) {
    let g = dy[r * D + d];
    sg = sg + g * (x[r * D + d] - stats[2u * r]) * stats[2u * r + 1u];
    sb = sb + g;
  }
  dgamma[d] = dgamma[d] + sg;
  dbeta[d] = dbeta[d] + sb;
}
