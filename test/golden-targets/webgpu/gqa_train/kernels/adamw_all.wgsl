// adamw_all: template adamw, written by attnc 0.1.0 for model gqa_train (batch 2).
@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
struct Uniforms {
  count: u32,
  beta1: f32,
  one_minus_beta1: f32,
  beta2: f32,
  one_minus_beta2: f32,
  eps: f32,
  step_size: f32,
  bias2_sqrt: f32,
  decay: f32,
}
@group(0) @binding(5) var<uniform> u: Uniforms;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= u.count) { return; }
  if (((bitcast<u32>(stats[2]) >> 23u) & 0xffu) != 0xffu) {
    let g = grad[i] * stats[3];
    let m1 = m[i] * u.beta1 + g * u.one_minus_beta1;
    let v1 = v[i] * u.beta2 + (g * g) * u.one_minus_beta2;
    m[i] = m1;
    v[i] = v1;
    let denom = sqrt(v1) / u.bias2_sqrt + u.eps;
    p[i] = p[i] * u.decay - (m1 / denom) * u.step_size;
  }
  grad[i] = 0.0f;
}
