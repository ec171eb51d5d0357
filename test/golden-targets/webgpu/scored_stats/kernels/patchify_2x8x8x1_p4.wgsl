// patchify_2x8x8x1_p4: template patchify, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> images: array<f32>;
@group(0) @binding(1) var<storage, read_write> patches: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= 128u) { return; }
  let row = i / 16u;
  let col = i % 16u;
  let b = row / 4u;
  let cell = row % 4u;
  let c = col / 16u;
  let py = (col / 4u) % 4u;
  let px = col % 4u;
  let y = (cell / 2u) * 4u + py;
  let x = (cell % 2u) * 4u + px;
  patches[i] = images[((b * 8u + y) * 8u + x) * 1u + c];
}
