// alloc_state_g3_counts: template alloc_state, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> sums: array<u32>;
@group(0) @binding(1) var<storage, read> counts: array<u32>;
@group(0) @binding(2) var<storage, read_write> state: array<u32>;

@compute @workgroup_size(1)
fn main() {
  for (var g = 0u; g < 3u; g++) {
    state[6u + g] = sums[g];
    state[g] = counts[g];
  }
  state[9u] = 1u;
}
