// table_from_counts_h6g3: template table_from_counts, written by attnc 0.1.0 for model kdgqa_sample (batch 3).
@group(0) @binding(0) var<storage, read> state: array<u32>;
@group(0) @binding(1) var<storage, read_write> table: array<u32>;

@compute @workgroup_size(1)
fn main() {
  var h = 0u;
  for (var g = 0u; g < 3u; g++) {
    for (var c = 0u; c < state[g]; c++) {
      if (h < 6u) { table[h] = g; }
      h = h + 1u;
    }
  }
}
