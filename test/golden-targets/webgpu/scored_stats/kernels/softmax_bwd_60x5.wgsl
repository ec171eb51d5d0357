// softmax_bwd_60x5: template softmax_bwd, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> p: array<f32>;
@group(0) @binding(1) var<storage, read_write> d: array<f32>;

const C: u32 = 5u;

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
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x);
  if (row >= 60u) { return; }
  let base = row * C;
  var s = 0.0f;
  for (var i = lid; i < C; i += 64u) { s = s + d[base + i] * p[base + i]; }
  let dot = reduce_sum(lid, s);
  for (var i = lid; i < C; i += 64u) { d[base + i] = p[base + i] * (d[base + i] - dot); }
}
