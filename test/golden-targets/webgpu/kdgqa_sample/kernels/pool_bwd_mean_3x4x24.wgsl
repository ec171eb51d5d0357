// pool_bwd_mean_3x4x24: template pool_bwd, written by attnc 0.1.0 for model kdgqa_sample (batch 3).
@group(0) @binding(0) var<storage, read> dpooled: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= 288u) { return; }
  let d = i % 24u;
  let t = (i / 24u) % 4u;
  let b = i / 96u;
  dx[i] = dpooled[b * 24u + d] / 4.0f;
}
