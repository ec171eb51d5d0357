// grad_norm_32: template grad_norm, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;

@compute @workgroup_size(1)
fn main() {
  var total = 0.0f;
  for (var i = 0u; i < 32u; i++) { total = total + partial[i]; }
  let norm = sqrt(total);
  stats[2] = norm;
  stats[3] = 1.0f;
}
