// allocate_g3: template allocate, written by attnc 0.1.0 for model scored_stats (batch 2).
@group(0) @binding(0) var<storage, read> scores: array<u32>;
@group(0) @binding(1) var<storage, read_write> out_counts: array<u32>;
@group(0) @binding(2) var<storage, read_write> table: array<u32>;
struct Uniforms {
  rows: u32,
  a_groups: u32,
  a_heads: u32,
  a_share: u32,
  a_qbits: u32,
  a_min: u32,
  a_paper: u32,
  a_minmax: u32,
  a_limbs: u32,
}
@group(0) @binding(3) var<uniform> u: Uniforms;

const ALLOC_MAX_G: u32 = 3u;
var<private> alloc_scores: array<u32, 3>;
var<private> alloc_counts: array<u32, 3>;
var<private> pool: array<u32, 200>;

fn limb(s: u32, i: u32) -> u32 { return pool[s * 20u + i]; }
fn set_limb(s: u32, i: u32, v: u32) { pool[s * 20u + i] = v; }

fn big_small(d: u32, v: u32) {
  for (var i = 0u; i < u.a_limbs; i++) { set_limb(d, i, 0u); }
  set_limb(d, 0u, v & 0xffffu);
  set_limb(d, 1u, v >> 16u);
}

fn big_copy(d: u32, a: u32) {
  for (var i = 0u; i < u.a_limbs; i++) { set_limb(d, i, limb(a, i)); }
}

// d = a + b (mod 2^320); d may be a or b.
fn big_add(d: u32, a: u32, b: u32) {
  var carry = 0u;
  for (var i = 0u; i < u.a_limbs; i++) {
    let t = limb(a, i) + limb(b, i) + carry;
    set_limb(d, i, t & 0xffffu);
    carry = t >> 16u;
  }
}

// d = a - b = a + ~b + 1 (mod 2^320); d may be a or b.
fn big_sub(d: u32, a: u32, b: u32) {
  var carry = 1u;
  for (var i = 0u; i < u.a_limbs; i++) {
    let t = limb(a, i) + (limb(b, i) ^ 0xffffu) + carry;
    set_limb(d, i, t & 0xffffu);
    carry = t >> 16u;
  }
}

// d = the f32 with these bits as an integer in units of 2^-149 (two's complement).
fn big_from_f32_bits(d: u32, bits: u32) {
  big_small(d, 0u);
  let e = (bits >> 23u) & 0xffu;
  var m = bits & 0x7fffffu;
  var shift = 0u;
  if (e != 0u) {
    m = m | 0x800000u;
    shift = e - 1u;
  }
  let at = shift / 16u;
  let off = shift % 16u;
  set_limb(d, at, (m << off) & 0xffffu);
  set_limb(d, at + 1u, (m >> (16u - off)) & 0xffffu);
  set_limb(d, at + 2u, ((m >> (16u - off)) >> 16u) & 0xffffu);
  if ((bits >> 31u) != 0u) {
    big_small(9u, 0u);
    big_sub(d, 9u, d);
  }
}

fn big_is_neg(a: u32) -> bool { return (limb(a, u.a_limbs - 1u) >> 15u) != 0u; }

fn big_is_zero(a: u32) -> bool {
  var acc = 0u;
  for (var i = 0u; i < u.a_limbs; i++) { acc = acc | limb(a, i); }
  return acc == 0u;
}

// Compares non-negative values: -1, 0 or 1.
fn big_cmp(a: u32, b: u32) -> i32 {
  for (var j = 0u; j < u.a_limbs; j++) {
    let i = u.a_limbs - 1u - j;
    let x = limb(a, i);
    let y = limb(b, i);
    if (x != y) { return select(-1, 1, x > y); }
  }
  return 0;
}

// d = a * k for a non-negative a and k < 2^16 (each limb product plus carry stays below 2^32); d may be a.
fn big_mul_small(d: u32, a: u32, k: u32) {
  var carry = 0u;
  for (var i = 0u; i < u.a_limbs; i++) {
    let t = limb(a, i) * k + carry;
    set_limb(d, i, t & 0xffffu);
    carry = t >> 16u;
  }
}

// d = a << s for a non-negative a, s < 32; d must not be a.
fn big_shl(d: u32, a: u32, s: u32) {
  let q = s / 16u;
  let b = s % 16u;
  for (var i = 0u; i < u.a_limbs; i++) {
    var v = 0u;
    if (i >= q) { v = limb(a, i - q) << b; }
    if (i >= q + 1u) { v = v | (limb(a, i - q - 1u) >> (16u - b)); }
    set_limb(d, i, v & 0xffffu);
  }
}

// Restoring division of slot x (non-negative) by slot t (> 0) when the quotient is below 2^a_qbits:
// returns the quotient and leaves the remainder in x.
fn big_divmod(x: u32, t: u32) -> u32 {
  var q = 0u;
  for (var j = 0u; j < u.a_qbits; j++) {
    let k = u.a_qbits - 1u - j;
    big_shl(8u, t, k);
    if (big_cmp(x, 8u) >= 0) {
      big_sub(x, x, 8u);
      q = q | (1u << k);
    }
  }
  return q;
}

// The first index of the largest (or smallest) count, as torch.argmax / argmin.
fn first_extreme(largest: bool) -> u32 {
  var best = 0u;
  for (var g = 1u; g < u.a_groups; g++) {
    let c = alloc_counts[g];
    if ((largest && c > alloc_counts[best]) || (!largest && c < alloc_counts[best])) { best = g; }
  }
  return best;
}

// allocateFromScores(alloc_scores, { heads: a_heads, scale, rounding, minPerGroup: a_min }) -> alloc_counts.
fn allocate_counts() {
  let G = u.a_groups;
  var degenerate = false;
  for (var g = 0u; g < G; g++) {
    // NaN and the infinities have an all-ones exponent.
    if (((alloc_scores[g] >> 23u) & 0xffu) == 0xffu) { degenerate = true; }
    big_from_f32_bits(g, alloc_scores[g]);
  }
  big_small(6u, 0u);
  if (!degenerate) {
    if (u.a_minmax == 1u) {
      // claim = s - min over the scores.
      big_copy(7u, 0u);
      for (var g = 1u; g < G; g++) {
        big_sub(9u, g, 7u);
        if (big_is_neg(9u)) { big_copy(7u, g); }
      }
      for (var g = 0u; g < G; g++) { big_sub(g, g, 7u); }
    } else {
      // A negative score claims 0.
      for (var g = 0u; g < G; g++) { if (big_is_neg(g)) { big_small(g, 0u); } }
    }
    for (var g = 0u; g < G; g++) { big_add(6u, 6u, g); }
    degenerate = big_is_zero(6u);
  }
  if (degenerate) {
    // Equal claims, then the same rounding as any others (alloc.ts exactClaims).
    for (var g = 0u; g < G; g++) { big_small(g, 1u); }
    big_small(6u, G);
  }
  // Whole part and remainder of share * claim / total (the remainder in slot M + g).
  for (var g = 0u; g < G; g++) {
    big_mul_small(ALLOC_MAX_G + g, g, u.a_share);
    alloc_counts[g] = big_divmod(ALLOC_MAX_G + g, 6u);
  }
  if (u.a_paper == 0u) {
    // Hamilton: the leftover heads one each to the largest remainders, ties to the lower index.
    var left = u.a_share;
    for (var g = 0u; g < G; g++) { left = left - alloc_counts[g]; }
    var extra: array<u32, 3>;
    for (var g = 0u; g < G; g++) {
      var rank = 0u;
      for (var j = 0u; j < G; j++) {
        let c = big_cmp(ALLOC_MAX_G + j, ALLOC_MAX_G + g);
        if (c > 0 || (c == 0 && j < g)) { rank = rank + 1u; }
      }
      extra[g] = select(0u, 1u, rank < left);
    }
    for (var g = 0u; g < G; g++) { alloc_counts[g] = alloc_counts[g] + extra[g] + u.a_min; }
    return;
  }
  // The reference: round half to even, then -1 at the first largest count / +1 at the first smallest
  // until the sum is H; then our minimum (alloc.ts paperRounding and raiseToMinimum).
  var sum = 0u;
  for (var g = 0u; g < G; g++) {
    big_mul_small(9u, ALLOC_MAX_G + g, 2u);
    let c = big_cmp(9u, 6u);
    if (c > 0 || (c == 0 && (alloc_counts[g] & 1u) == 1u)) { alloc_counts[g] = alloc_counts[g] + 1u; }
    sum = sum + alloc_counts[g];
  }
  while (sum > u.a_heads) {
    alloc_counts[first_extreme(true)] -= 1u;
    sum = sum - 1u;
  }
  while (sum < u.a_heads) {
    alloc_counts[first_extreme(false)] += 1u;
    sum = sum + 1u;
  }
  loop {
    let poorest = first_extreme(false);
    if (alloc_counts[poorest] >= u.a_min) { break; }
    alloc_counts[first_extreme(true)] -= 1u;
    alloc_counts[poorest] += 1u;
  }
}


fn write_table(base: u32) {
  var h = 0u;
  for (var g = 0u; g < u.a_groups; g++) {
    for (var c = 0u; c < alloc_counts[g]; c++) {
      if (h < u.a_heads) { table[base + h] = g; }
      h = h + 1u;
    }
  }
}

@compute @workgroup_size(1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = (wid.y * nwg.x + wid.x);
  if (row >= u.rows) { return; }
  let G = u.a_groups;
  for (var g = 0u; g < G; g++) { alloc_scores[g] = scores[row * G + g]; }
  allocate_counts();
  for (var g = 0u; g < G; g++) { out_counts[row * G + g] = alloc_counts[g]; }
  write_table(row * u.a_heads);
}
