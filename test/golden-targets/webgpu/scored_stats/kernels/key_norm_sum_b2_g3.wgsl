// key_norm_sum_b2_g3: template key_norm_sum, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> norms: array<f32>;
@group(0) @binding(1) var<storage, read_write> sums: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (g >= 3u) { return; }
  var s = 0.0f;
  for (var b = 0u; b < 2u; b++) { s = s + norms[b * 3u + g]; }
  sums[g] = s;
}
