// pool_bwd_cls_2x5x24: template pool_bwd, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> dpooled: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= 240u) { return; }
  let d = i % 24u;
  let t = (i / 24u) % 5u;
  let b = i / 120u;
  dx[i] = select(0.0f, dpooled[b * 24u + d], t == 0u);
}
