// bias_grad_10x48: template bias_grad, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= 48u) { return; }
  var s = 0.0f;
  for (var r = 0u; r < 10u; r++) { s = s + dy[r * 48u + i]; }
  db[i] = db[i] + s;
}
