// embed_bwd_2x4x24_cls: template embed_bwd, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> dh: array<f32>;
@group(0) @binding(1) var<storage, read_write> dpatches: array<f32>;
@group(0) @binding(2) var<storage, read_write> dpos: array<f32>;
@group(0) @binding(3) var<storage, read_write> dcls: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= 120u) { return; }
  let d = i % 24u;
  let t = i / 24u;
  var s = 0.0f;
  for (var b = 0u; b < 2u; b++) {
    let g = dh[(b * 5u + t) * 24u + d];
    s = s + g;
    if (t >= 1u) { dpatches[(b * 4u + t - 1u) * 24u + d] = g; }
  }
  dpos[i] = dpos[i] + s;
  if (t == 0u) { dcls[d] = dcls[d] + s; }
}
