// gelu_480: template gelu, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

fn erfc_nr(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0f / (1.0f + 0.5f * z);
  let p = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f
        + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
  let r = t * exp(-z * z + p);
  return select(2.0f - r, r, x >= 0.0f);
}
fn normal_cdf(x: f32) -> f32 { return 0.5f * erfc_nr(-0.7071067811865476f * x); }
fn normal_pdf(x: f32) -> f32 { return 0.3989422804014327f * exp(-0.5f * x * x); }


@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= 480u) { return; }
  let v = x[i];
  y[i] = (v * normal_cdf(v));
}
