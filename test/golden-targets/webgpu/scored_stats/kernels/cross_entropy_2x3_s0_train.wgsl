// cross_entropy_2x3_s0_train: template cross_entropy, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
struct Uniforms {
  micro: u32,
}
@group(0) @binding(4) var<uniform> u: Uniforms;

var<workgroup> red_loss: array<f32, 64>;
fn reduce_loss(lid: u32, v: f32) -> f32 {
  red_loss[lid] = v;
  workgroupBarrier();
  for (var stride = 32u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      let a = red_loss[lid];
      let b = red_loss[lid + stride];
      red_loss[lid] = a + b;
    }
    workgroupBarrier();
  }
  let total = red_loss[0];
  workgroupBarrier();
  return total;
}


var<workgroup> red_hits: array<f32, 64>;
fn reduce_hits(lid: u32, v: f32) -> f32 {
  red_hits[lid] = v;
  workgroupBarrier();
  for (var stride = 32u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      let a = red_hits[lid];
      let b = red_hits[lid + stride];
      red_hits[lid] = a + b;
    }
    workgroupBarrier();
  }
  let total = red_hits[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32) {
  var loss = 0.0f;
  var hits = 0.0f;
  for (var b = lid; b < 2u; b += 64u) {
    var top = logits[b * 3u];
    var arg = 0u;
    for (var c = 1u; c < 3u; c++) {
      let v = logits[b * 3u + c];
      if (v > top) { top = v; arg = c; }
    }
    var s = 0.0f;
    for (var c = 0u; c < 3u; c++) { s = s + exp(logits[b * 3u + c] - top); }
    let lse = log(s);
    let label = labels[b];
    var row = 0.0f;
    for (var c = 0u; c < 3u; c++) {
      let lp = logits[b * 3u + c] - top - lse;
      let t = select(0.0f, 1.0f, c == label) + 0.0f;
      row = row - t * lp;
      dlogits[b * 3u + c] = (exp(lp) - t) * 0.25f;
    }
    loss = loss + row;
    hits = hits + select(0.0f, 1.0f, arg == label);
  }
  let total_loss = reduce_loss(lid, loss);
  let total_hits = reduce_hits(lid, hits);
  if (lid == 0u) {
    let keep = select(1.0f, 0.0f, u.micro == 0u);
    stats[0] = stats[0] * keep + total_loss * 0.25f;
    stats[1] = stats[1] * keep + total_hits;
  }
}
