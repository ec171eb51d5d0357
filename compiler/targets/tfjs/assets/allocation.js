// ---------------------------------------------------------------------------------------------
// Sharing query heads among K/V groups by score: allocateFromScores of compiler/alloc.ts, specified in
// docs/allocation.md, in exact rational arithmetic (BigInt): the counts depend only on the scores'
// values, as in every attnc backend.

/** counts[g], the query heads of K/V group g: minPerGroup each, the rest in proportion to the claims. */
function allocateFromScores(scores, { heads, scale, rounding, minPerGroup }) {
  const { claims, total } = exactClaims(scores, scale);
  if (rounding === 'largest_remainder') {
    return largestRemainder(claims, total, heads - minPerGroup * scores.length).map((c) => c + minPerGroup);
  }
  return raiseToMinimum(paperRounding(claims, total, heads), minPerGroup);
}

/**
 * Each group's claim as exact integers on one scale: s - min ('minmax') or max(s, 0) ('none'). Equal
 * claims (1 each) when a score is not finite or the claims sum to 0.
 */
function exactClaims(scores, scale) {
  const equal = { claims: scores.map(() => 1n), total: BigInt(scores.length) };
  if (!scores.every(Number.isFinite)) return equal;
  const exact = toCommonScale(scores);
  const lowest = exact.reduce((a, b) => (b < a ? b : a));
  const claims = scale === 'minmax' ? exact.map((n) => n - lowest) : exact.map((n) => (n > 0n ? n : 0n));
  const total = claims.reduce((a, b) => a + b, 0n);
  return total === 0n ? equal : { claims, total };
}

/** Finite doubles as integers n with value = n * 2^E for one shared E: shifting mantissas loses nothing. */
function toCommonScale(values) {
  const view = new DataView(new ArrayBuffer(8));
  const parts = values.map((x) => {
    view.setFloat64(0, x);
    const bits = view.getBigUint64(0);
    const biased = Number((bits >> 52n) & 0x7ffn);
    const fraction = bits & 0xfffffffffffffn;
    const mantissa = biased === 0 ? fraction : fraction | (1n << 52n); // subnormals have no implicit 1
    return { mantissa: bits >> 63n ? -mantissa : mantissa, exponent: (biased === 0 ? 1 : biased) - 1075 };
  });
  const lowest = Math.min(...parts.map((p) => p.exponent));
  return parts.map((p) => p.mantissa << BigInt(p.exponent - lowest));
}

/** Hamilton: floor(share * claim / total) each, then one more to the largest remainders (ties: lower index). */
function largestRemainder(claims, total, share) {
  const scaled = claims.map((c) => BigInt(share) * c);
  const counts = scaled.map((x) => Number(x / total));
  const remainders = scaled.map((x) => x % total);
  let left = share - counts.reduce((a, b) => a + b, 0);
  const order = claims.map((_, g) => g).sort((a, b) => (remainders[b] > remainders[a] ? 1 : remainders[b] < remainders[a] ? -1 : a - b));
  for (const g of order) {
    if (left === 0) break;
    counts[g] += 1;
    left -= 1;
  }
  return counts;
}

/** The reference code's rounding: round half to even, then -1 at the first largest / +1 at the first smallest until the sum is right. */
function paperRounding(claims, total, heads) {
  const counts = claims.map((c) => {
    const x = BigInt(heads) * c;
    const below = x / total;
    const twice = 2n * (x % total);
    return Number(twice > total || (twice === total && below % 2n === 1n) ? below + 1n : below);
  });
  let sum = counts.reduce((a, b) => a + b, 0);
  for (; sum > heads; sum--) counts[firstIndexOf(counts, 'max')] -= 1;
  for (; sum < heads; sum++) counts[firstIndexOf(counts, 'min')] += 1;
  return counts;
}

/** While the first smallest group has fewer than min heads, move one to it from the first largest. */
function raiseToMinimum(counts, min) {
  for (;;) {
    const poorest = firstIndexOf(counts, 'min');
    if (counts[poorest] >= min) return counts;
    counts[firstIndexOf(counts, 'max')] -= 1;
    counts[poorest] += 1;
  }
}

function firstIndexOf(values, which) {
  let best = 0;
  for (let i = 1; i < values.length; i++) {
    if (which === 'max' ? values[i] > values[best] : values[i] < values[best]) best = i;
  }
  return best;
}
