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
// allocationWgsl(opts) declares `fn allocate_counts(bits: array<u32, G>) -> array<u32, G>` (the
// scores as raw f32 bits: read as u32, so no driver can flush a subnormal on the way).

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

const BIGINT_WGSL = /* wgsl */ `
alias Big = array<u32, ${LIMBS}>;

// The f32 with these bits as an integer in units of 2^-149 (two's complement).
fn big_from_f32_bits(bits: u32) -> Big {
  var r: Big;
  let e = (bits >> 23u) & 0xffu;
  var m = bits & 0x7fffffu;
  var shift = 0u;
  if (e != 0u) {
    m = m | 0x800000u;
    shift = e - 1u;
  }
  let limb = shift / 16u;
  let off = shift % 16u;
  r[limb] = (m << off) & 0xffffu;
  r[limb + 1u] = (m >> (16u - off)) & 0xffffu;
  r[limb + 2u] = ((m >> (16u - off)) >> 16u) & 0xffffu;
  if ((bits >> 31u) != 0u) {
    return big_sub(Big(), r);
  }
  return r;
}

fn big_small(v: u32) -> Big {
  var r: Big;
  r[0] = v & 0xffffu;
  r[1] = v >> 16u;
  return r;
}

fn big_add(a: Big, b: Big) -> Big {
  var r: Big;
  var carry = 0u;
  for (var i = 0u; i < ${LIMBS}u; i++) {
    let t = a[i] + b[i] + carry;
    r[i] = t & 0xffffu;
    carry = t >> 16u;
  }
  return r;
}

// a - b modulo 2^320: a + ~b + 1.
fn big_sub(a: Big, b: Big) -> Big {
  var r: Big;
  var carry = 1u;
  for (var i = 0u; i < ${LIMBS}u; i++) {
    let t = a[i] + (b[i] ^ 0xffffu) + carry;
    r[i] = t & 0xffffu;
    carry = t >> 16u;
  }
  return r;
}

fn big_is_neg(a: Big) -> bool { return (a[${LIMBS - 1}] >> 15u) != 0u; }

fn big_is_zero(a: Big) -> bool {
  var acc = 0u;
  for (var i = 0u; i < ${LIMBS}u; i++) { acc = acc | a[i]; }
  return acc == 0u;
}

// Compares non-negative values: -1, 0 or 1.
fn big_cmp(a: Big, b: Big) -> i32 {
  for (var j = 0u; j < ${LIMBS}u; j++) {
    let i = ${LIMBS - 1}u - j;
    if (a[i] != b[i]) { return select(-1, 1, a[i] > b[i]); }
  }
  return 0;
}

// a * k for a non-negative a and k < 2^16: every limb product plus carry stays below 2^32.
fn big_mul_small(a: Big, k: u32) -> Big {
  var r: Big;
  var carry = 0u;
  for (var i = 0u; i < ${LIMBS}u; i++) {
    let t = a[i] * k + carry;
    r[i] = t & 0xffffu;
    carry = t >> 16u;
  }
  return r;
}

// a << s for a non-negative a, s < 32.
fn big_shl(a: Big, s: u32) -> Big {
  var r: Big;
  let q = s / 16u;
  let b = s % 16u;
  for (var i = 0u; i < ${LIMBS}u; i++) {
    var v = 0u;
    if (i >= q) { v = a[i - q] << b; }
    if (i >= q + 1u) { v = v | (a[i - q - 1u] >> (16u - b)); }
    r[i] = v & 0xffffu;
  }
  return r;
}

struct DivMod { q: u32, r: Big, }

// floor(x / t) and x mod t for non-negative x, t > 0, when the quotient is below 2^bits (restoring division).
fn big_divmod(x0: Big, t: Big, bits: u32) -> DivMod {
  var x = x0;
  var q = 0u;
  for (var j = 0u; j < bits; j++) {
    let k = bits - 1u - j;
    let tk = big_shl(t, k);
    if (big_cmp(x, tk) >= 0) {
      x = big_sub(x, tk);
      q = q | (1u << k);
    }
  }
  return DivMod(q, x);
}
`;

function bitsFor(n: number): number {
  let bits = 1;
  while (2 ** bits <= n) bits++;
  return bits;
}

/** The WGSL of allocateFromScores for one (G, H, scale, rounding, min): see the file comment. */
export function allocationWgsl(o: DeviceAllocationOptions): string {
  const G = o.groups;
  const H = o.heads;
  if (!Number.isInteger(G) || G < 1 || G > H) throw new Error(`device allocation: ${G} groups for ${H} heads`);
  if (H > MAX_DEVICE_ALLOCATION_HEADS) throw new Error(`device allocation: ${H} query heads, at most ${MAX_DEVICE_ALLOCATION_HEADS} are supported`);
  if (!Number.isInteger(o.minPerGroup) || o.minPerGroup < 0 || o.minPerGroup * G > H) {
    throw new Error(`device allocation: minPerGroup ${o.minPerGroup} x ${G} groups does not fit ${H} heads`);
  }
  const share = o.rounding === 'largest_remainder' ? H - G * o.minPerGroup : H;
  // claim <= total, so the quotient share * claim / total is at most share.
  const qbits = bitsFor(share);
  const claimOf = o.scale === 'minmax' ? 'big_sub(v[g], lo)' : 'select(Big(), v[g], !big_is_neg(v[g]))';
  const minmax = o.scale === 'minmax'
    ? `    var lo = v[0];
    for (var g = 1u; g < ${G}u; g++) {
      if (big_is_neg(big_sub(v[g], lo))) { lo = v[g]; }
    }\n`
    : '';
  const rounding = o.rounding === 'largest_remainder' ? hamiltonWgsl(G, share, o.minPerGroup, qbits) : paperWgsl(G, H, o.minPerGroup, qbits);
  const helpers = o.rounding === 'paper' ? firstExtremeWgsl(G) : '';
  return BIGINT_WGSL + helpers + /* wgsl */ `
const ALLOC_G: u32 = ${G}u;
const ALLOC_H: u32 = ${H}u;

// allocateFromScores(scores, { heads: ${H}, scale: ${o.scale}, rounding: ${o.rounding}, minPerGroup: ${o.minPerGroup} }).
fn allocate_counts(bits: array<u32, ${G}>) -> array<u32, ${G}> {
  var v: array<Big, ${G}>;
  var degenerate = false;
  for (var g = 0u; g < ${G}u; g++) {
    // NaN and the infinities have an all-ones exponent.
    if (((bits[g] >> 23u) & 0xffu) == 0xffu) { degenerate = true; }
    v[g] = big_from_f32_bits(bits[g]);
  }
  var claims: array<Big, ${G}>;
  var total = Big();
  if (!degenerate) {
${minmax}    for (var g = 0u; g < ${G}u; g++) {
      claims[g] = ${claimOf};
      total = big_add(total, claims[g]);
    }
    degenerate = big_is_zero(total);
  }
  if (degenerate) {
    // Equal claims, then the same rounding as any others (alloc.ts exactClaims).
    for (var g = 0u; g < ${G}u; g++) { claims[g] = big_small(1u); }
    total = big_small(${G}u);
  }
  var counts: array<u32, ${G}>;
${rounding}
  return counts;
}
`;
}

// Hamilton: floors, then the leftover heads one each to the largest remainders, ties to the lower index.
function hamiltonWgsl(G: number, share: number, min: number, qbits: number): string {
  return /* wgsl */ `  var rem: array<Big, ${G}>;
  var left = ${share}u;
  for (var g = 0u; g < ${G}u; g++) {
    let d = big_divmod(big_mul_small(claims[g], ${share}u), total, ${qbits}u);
    counts[g] = d.q;
    rem[g] = d.r;
    left = left - d.q;
  }
  var extra: array<u32, ${G}>;
  for (var g = 0u; g < ${G}u; g++) {
    var rank = 0u;
    for (var j = 0u; j < ${G}u; j++) {
      let c = big_cmp(rem[j], rem[g]);
      if (c > 0 || (c == 0 && j < g)) { rank = rank + 1u; }
    }
    extra[g] = select(0u, 1u, rank < left);
  }
  for (var g = 0u; g < ${G}u; g++) { counts[g] = counts[g] + extra[g] + ${min}u; }`;
}

// The reference: round half to even, then -1 at the first largest count / +1 at the first smallest
// until the sum is H; then our minimum (alloc.ts paperRounding and raiseToMinimum).
function paperWgsl(G: number, H: number, min: number, qbits: number): string {
  return /* wgsl */ `  var sum = 0u;
  for (var g = 0u; g < ${G}u; g++) {
    let d = big_divmod(big_mul_small(claims[g], ${H}u), total, ${qbits}u);
    let c = big_cmp(big_mul_small(d.r, 2u), total);
    let up = c > 0 || (c == 0 && (d.q & 1u) == 1u);
    counts[g] = d.q + select(0u, 1u, up);
    sum = sum + counts[g];
  }
  while (sum > ${H}u) {
    counts[first_extreme(counts, true)] -= 1u;
    sum = sum - 1u;
  }
  while (sum < ${H}u) {
    counts[first_extreme(counts, false)] += 1u;
    sum = sum + 1u;
  }
  loop {
    let poorest = first_extreme(counts, false);
    if (counts[poorest] >= ${min}u) { break; }
    counts[first_extreme(counts, true)] -= 1u;
    counts[poorest] += 1u;
  }`;
}

// The first index of the largest (or smallest) count, as torch.argmax / argmin.
function firstExtremeWgsl(G: number): string {
  return /* wgsl */ `
fn first_extreme(counts: array<u32, ${G}>, largest: bool) -> u32 {
  var best = 0u;
  for (var g = 1u; g < ${G}u; g++) {
    if ((largest && counts[g] > counts[best]) || (!largest && counts[g] < counts[best])) { best = g; }
  }
  return best;
}
`;
}
