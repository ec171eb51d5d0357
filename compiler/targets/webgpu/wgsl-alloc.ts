// compiler/alloc.ts allocateFromScores in WGSL, exactly.
//
// alloc.ts decides in exact rational arithmetic. On the device the scores are f32, and every f32 is
// an integer multiple of 2^-149: x = n * 2^-149 with |n| < 2^277. So the claims, their total, the
// products share * claim and the remainders are all integers below 2^296 (share < 2^16, G < 2^16),
// and 20 limbs of 16 bits (320-bit two's complement) hold every one of them. Limbs of 16 bits keep
// every limb product inside a u32 (WGSL has no 64-bit integers). The rules then run as alloc.ts runs
// them, on the same exact values: for the same f32 scores the counts are alloc.ts's for every input,
// NaN, infinities, subnormals, signed zeros and exact ties included. Only the scores themselves are
// f32 (key norms summed in f32, a tracker in f32): docs/webgpu.md, "Allocation on the device".
//
// Shape of the code, for the drivers' sake: the big integers live in one private pool addressed by
// slot, never passed as arrays by value, and every loop bound (groups, heads, limbs) is a uniform, so
// no driver unrolls the loops. With constant bounds llvmpipe unrolled everything and took 1 s (G = 2)
// to 12 s (G = 8) to compile one kernel; this way one kernel serves every layer and takes ~0.1 s.
//
// The caller fills `alloc_scores` (the f32 scores as bits: read as u32, so no driver can flush a
// subnormal on the way) and calls allocate_counts(); the result is in `alloc_counts`.
import type { UniformField } from './kernel.js';

export interface DeviceAllocationOptions {
  groups: number;
  heads: number;
  scale: 'minmax' | 'none';
  rounding: 'largest_remainder' | 'paper';
  minPerGroup: number;
}

/** Query heads above this would overflow the 16-bit multiplier: far beyond any model. */
export const MAX_DEVICE_ALLOCATION_HEADS = 0xffff;

const LIMBS = 20;

/** The uniform fields allocationWgsl reads (append them to the kernel's uniforms). */
export const ALLOCATION_UNIFORMS: UniformField[] = ['a_groups', 'a_heads', 'a_share', 'a_qbits', 'a_min', 'a_paper', 'a_minmax', 'a_limbs'].map((name) => ({ name, type: 'u32' }));

function bitsFor(n: number): number {
  let bits = 1;
  while (2 ** bits <= n) bits++;
  return bits;
}

/** The values of ALLOCATION_UNIFORMS for these options (checked as alloc.ts checks them). */
export function allocationUniformValues(o: DeviceAllocationOptions): Record<string, number> {
  const { groups: G, heads: H } = o;
  if (!Number.isInteger(G) || G < 1 || G > H) throw new Error(`device allocation: ${G} groups for ${H} heads`);
  if (H > MAX_DEVICE_ALLOCATION_HEADS) throw new Error(`device allocation: ${H} query heads, at most ${MAX_DEVICE_ALLOCATION_HEADS} are supported`);
  if (!Number.isInteger(o.minPerGroup) || o.minPerGroup < 0 || o.minPerGroup * G > H) {
    throw new Error(`device allocation: minPerGroup ${o.minPerGroup} x ${G} groups does not fit ${H} heads`);
  }
  const share = o.rounding === 'largest_remainder' ? H - G * o.minPerGroup : H;
  return {
    a_groups: G, a_heads: H, a_share: share,
    // claim <= total, so the quotient share * claim / total is at most share.
    a_qbits: bitsFor(share),
    a_min: o.minPerGroup,
    a_paper: o.rounding === 'paper' ? 1 : 0,
    a_minmax: o.scale === 'minmax' ? 1 : 0,
    a_limbs: LIMBS,
  };
}

/** WGSL of allocate_counts for up to `maxGroups` groups (the array capacity; the count is a uniform). */
export function allocationWgsl(maxGroups: number): string {
  const M = maxGroups;
  // Slots: claims [0, M), remainders [M, 2M), then total, the minimum, and two temporaries.
  const [TOTAL, LO, TK, TMP] = [2 * M, 2 * M + 1, 2 * M + 2, 2 * M + 3];
  return /* wgsl */ `
const ALLOC_MAX_G: u32 = ${M}u;
var<private> alloc_scores: array<u32, ${M}>;
var<private> alloc_counts: array<u32, ${M}>;
var<private> pool: array<u32, ${(2 * M + 4) * LIMBS}>;

fn limb(s: u32, i: u32) -> u32 { return pool[s * ${LIMBS}u + i]; }
fn set_limb(s: u32, i: u32, v: u32) { pool[s * ${LIMBS}u + i] = v; }

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
    big_small(${TMP}u, 0u);
    big_sub(d, ${TMP}u, d);
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
    big_shl(${TK}u, t, k);
    if (big_cmp(x, ${TK}u) >= 0) {
      big_sub(x, x, ${TK}u);
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
  big_small(${TOTAL}u, 0u);
  if (!degenerate) {
    if (u.a_minmax == 1u) {
      // claim = s - min over the scores.
      big_copy(${LO}u, 0u);
      for (var g = 1u; g < G; g++) {
        big_sub(${TMP}u, g, ${LO}u);
        if (big_is_neg(${TMP}u)) { big_copy(${LO}u, g); }
      }
      for (var g = 0u; g < G; g++) { big_sub(g, g, ${LO}u); }
    } else {
      // A negative score claims 0.
      for (var g = 0u; g < G; g++) { if (big_is_neg(g)) { big_small(g, 0u); } }
    }
    for (var g = 0u; g < G; g++) { big_add(${TOTAL}u, ${TOTAL}u, g); }
    degenerate = big_is_zero(${TOTAL}u);
  }
  if (degenerate) {
    // Equal claims, then the same rounding as any others (alloc.ts exactClaims).
    for (var g = 0u; g < G; g++) { big_small(g, 1u); }
    big_small(${TOTAL}u, G);
  }
  // Whole part and remainder of share * claim / total (the remainder in slot M + g).
  for (var g = 0u; g < G; g++) {
    big_mul_small(ALLOC_MAX_G + g, g, u.a_share);
    alloc_counts[g] = big_divmod(ALLOC_MAX_G + g, ${TOTAL}u);
  }
  if (u.a_paper == 0u) {
    // Hamilton: the leftover heads one each to the largest remainders, ties to the lower index.
    var left = u.a_share;
    for (var g = 0u; g < G; g++) { left = left - alloc_counts[g]; }
    var extra: array<u32, ${M}>;
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
    big_mul_small(${TMP}u, ALLOC_MAX_G + g, 2u);
    let c = big_cmp(${TMP}u, ${TOTAL}u);
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
`;
}
