// grad_sumsq_wg64: template grad_sumsq, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;
struct Uniforms {
  count: u32,
  index: u32,
}
@group(0) @binding(2) var<uniform> u: Uniforms;

var<workgroup> red_sum: array<f32, 64>;
fn reduce_sum(lid: u32, v: f32) -> f32 {
  red_sum[lid] = v;
  workgroupBarrier();
  for (var stride = 32u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      let a = red_sum[lid];
      let b = red_sum[lid + stride];
      red_sum[lid] = a + b;
    }
    workgroupBarrier();
  }
  let total = red_sum[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0f;
  for (var i = lid; i < u.count; i += 64u) { let g = grad[i]; s = s + g * g; }
  let total = reduce_sum(lid, s);
  if (lid == 0u) { partial[u.index] = total; }
}
