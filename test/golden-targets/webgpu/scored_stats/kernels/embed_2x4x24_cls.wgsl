// embed_2x4x24_cls: template embed, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> patches: array<f32>;
@group(0) @binding(1) var<storage, read> cls: array<f32>;
@group(0) @binding(2) var<storage, read> pos: array<f32>;
@group(0) @binding(3) var<storage, read_write> h: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= 240u) { return; }
  let d = i % 24u;
  let t = (i / 24u) % 5u;
  let b = i / 120u;
  h[i] = select(patches[((b * 4u) + max(t, 1u) - 1u) * 24u + d], cls[d], t == 0u) + pos[t * 24u + d];
}
