// pool_cls_2x5x24: template pool, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> pooled: array<f32>;

fn mean_tokens(b: u32, d: u32) -> f32 {
  var s = 0.0f;
  for (var t = 0u; t < 5u; t++) { s = s + x[(b * 5u + t) * 24u + d]; }
  return s / 5.0f;
}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= 48u) { return; }
  let b = i / 24u;
  let d = i % 24u;
  pooled[i] = x[b * 120u + d];
}
