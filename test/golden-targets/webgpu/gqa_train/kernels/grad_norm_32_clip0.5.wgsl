// grad_norm_32_clip0.5: template grad_norm, written by attnc 0.1.0 for model gqa_train (batch 2).
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;

@compute @workgroup_size(1)
fn main() {
  var total = 0.0f;
  for (var i = 0u; i < 32u; i++) { total = total + partial[i]; }
  let norm = sqrt(total);
  stats[2] = norm;
  stats[3] = min(0.5f / (norm + 9.999999974752427e-7f), 1.0f);
}
