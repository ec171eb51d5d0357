// sgd_momentum: template sgd, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> buf: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
struct Uniforms {
  count: u32,
  lr: f32,
  weight_decay: f32,
  momentum: f32,
}
@group(0) @binding(4) var<uniform> u: Uniforms;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= u.count) { return; }
  if (((bitcast<u32>(stats[2]) >> 23u) & 0xffu) != 0xffu) {
    let d = grad[i] * stats[3] + p[i] * u.weight_decay;
    let b = buf[i] * u.momentum + d;
    buf[i] = b;
    p[i] = p[i] - b * u.lr;
  }
  grad[i] = 0.0f;
}
