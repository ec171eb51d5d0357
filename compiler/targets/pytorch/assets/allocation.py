# ---------------------------------------------------------------------------------------------
# The allocation function (attnc's compiler/alloc.ts, docs/allocation.md)
#
# How many query heads each K/V group gets, decided in exact rational arithmetic on the scores as
# float64 values (Fraction(x) is exact), so the counts depend on the scores' values only, never on
# the order or precision of float operations: every attnc backend gives the same counts for the
# same scores. allocate_from_scores is the definition, on the host; the forward pass runs
# allocate_on_device (below), the same rules on exact integers in torch tensors, so no block waits
# for its scores to come to the host.


def equal_share(heads, groups):
    """floor(H / G) per group and one more for the first H mod G: the uniform grouping when G divides H."""
    return [heads // groups + (1 if g < heads % groups else 0) for g in range(groups)]


def _claims(scores, scale):
    """Each group's exact claim: s - min ('minmax') or max(s, 0) ('none'); equal claims when degenerate."""
    if not all(math.isfinite(s) for s in scores):
        return [Fraction(1)] * len(scores)
    exact = [Fraction(s) for s in scores]
    if scale == 'minmax':
        low = min(exact)
        claims = [s - low for s in exact]
    else:
        claims = [s if s > 0 else Fraction(0) for s in exact]
    return claims if sum(claims) > 0 else [Fraction(1)] * len(scores)


def _first_index(values, which):
    """The first index of the largest (or smallest) value, as torch.argmax / torch.argmin."""
    best = 0
    for i in range(1, len(values)):
        if (values[i] > values[best]) if which == 'max' else (values[i] < values[best]):
            best = i
    return best


def allocate_from_scores(scores, heads, scale, rounding, min_per_group):
    """counts[g]: the query heads of K/V group g for one score per group (allocateFromScores)."""
    groups = len(scores)
    if not 1 <= groups <= heads or min_per_group * groups > heads:
        raise ValueError('allocation: %d groups, %d heads and min %d do not fit' % (groups, heads, min_per_group))
    claims = _claims([float(s) for s in scores], scale)
    total = sum(claims)
    if rounding == 'largest_remainder':
        # Hamilton: floors of the exact quotas, then the spare heads to the largest remainders, ties
        # to the lower index; every group first gets min_per_group.
        share = heads - groups * min_per_group
        quotas = [share * c / total for c in claims]
        counts = [math.floor(q) for q in quotas]
        order = sorted(range(groups), key=lambda g: (-(quotas[g] - counts[g]), g))
        for g in order[:share - sum(counts)]:
            counts[g] += 1
        return [c + min_per_group for c in counts]
    # 'paper', the reference code: round half to even, then -1 at the first largest count while the
    # sum is too big, +1 at the first smallest while it is too small; then our minimum per group.
    counts = [round(heads * c / total) for c in claims]
    while sum(counts) > heads:
        counts[_first_index(counts, 'max')] -= 1
    while sum(counts) < heads:
        counts[_first_index(counts, 'min')] += 1
    while True:
        poorest = _first_index(counts, 'min')
        if counts[poorest] >= min_per_group:
            return counts
        counts[_first_index(counts, 'max')] -= 1
        counts[poorest] += 1


# ---------------------------------------------------------------------------------------------
# The same function on the device, for a forward pass: no host round trip per block.
#
# Every finite float32 is an integer multiple of 2^-149, so every claim (s - min, or max(s, 0)) is an
# integer multiple of 2^-172 below 2^300: the rules above run exactly on integers of LIMBS limbs of
# 30 bits in int64 tensors (as the WebGPU kernel does in 320-bit integers). Float64 gives each floor
# of a quota to within one; one exact comparison settles it. Tested against allocate_from_scores.

LIMB_BITS = 30
LIMB = 1 << LIMB_BITS
LIMBS = 11  # 330 bits: a claim (< 2^300) times the heads, summed over the groups


def _normalize(x):
    """Carries so that every limb but the last is in [0, LIMB); the last one holds the sign."""
    x = x.clone()
    for i in range(LIMBS - 1):
        carry = torch.div(x[..., i], LIMB, rounding_mode='floor')
        x[..., i] -= carry * LIMB
        x[..., i + 1] += carry
    return x


def _sign(x):
    """-1, 0 or 1 per integer of normalized limbs x [..., LIMBS]."""
    return torch.where(x[..., -1] < 0, -torch.ones_like(x[..., -1]), (x != 0).any(-1).to(x.dtype))


def _limbs(magnitude):
    """Exact limbs of |x| * 2^172 for float32 x [...]: its 24-bit mantissa placed at bit e + 148."""
    mantissa, exponent = torch.frexp(magnitude.abs())
    m = (mantissa.double() * (1 << 24)).long()
    shift = (exponent.long() + 148).clamp(min=0)
    shift = torch.where(m == 0, torch.zeros_like(shift), shift)
    index, offset = shift // LIMB_BITS, shift % LIMB_BITS
    placed = m << offset
    out = torch.zeros(*magnitude.shape, LIMBS + 1, dtype=torch.int64, device=magnitude.device)
    out.scatter_add_(-1, index[..., None], placed[..., None] & (LIMB - 1))
    out.scatter_add_(-1, index[..., None] + 1, placed[..., None] >> LIMB_BITS)
    return out[..., :LIMBS]


def _claims_on_device(scores, scale):
    """Exact claims as limbs [N, G, LIMBS] and their float64 values [N, G] (equal claims when degenerate)."""
    s = scores.float()
    if scale == 'minmax':
        low = s.min(-1, keepdim=True).values.expand_as(s)
        # s - min = (s+ + min-) - (s- + min+), every part a magnitude
        pos = lambda x: torch.where(x > 0, x, torch.zeros_like(x))
        neg = lambda x: torch.where(x < 0, -x, torch.zeros_like(x))
        exact = _normalize(_limbs(pos(s)) + _limbs(neg(low)) - _limbs(neg(s)) - _limbs(pos(low)))
        approx = s.double() - low.double()
    else:
        kept = torch.where(s > 0, s, torch.zeros_like(s))
        exact, approx = _limbs(kept), kept.double()
    degenerate = ~torch.isfinite(s).all(-1) | ~(approx > 0).any(-1)
    one = torch.zeros_like(exact)
    one[..., 0] = 1
    exact = torch.where(degenerate[:, None, None], one, exact)
    approx = torch.where(degenerate[:, None], torch.ones_like(approx), approx)
    return exact, approx


def _quotients(exact, approx, share):
    """floor(share * c_g / T) and the exact remainders share * c_g - floor * T (limbs) for claims c [N, G]."""
    total = _normalize(exact.sum(1, keepdim=True))  # [N, 1, LIMBS]
    guess = torch.floor(share * approx / approx.sum(-1, keepdim=True)).long()
    scaled = exact * share
    rest = _normalize(scaled - total * guess[..., None])
    low = _sign(rest) < 0  # the guess was one too many
    guess, rest = torch.where(low, guess - 1, guess), torch.where(low[..., None], _normalize(rest + total), rest)
    minus = _normalize(rest - total)
    high = _sign(minus) >= 0  # one too few
    guess, rest = torch.where(high, guess + 1, guess), torch.where(high[..., None], minus, rest)
    return guess, rest, total


def _first_hit(values, which):
    """The first index of the largest (or smallest) value per row, as one-hot rows."""
    target = values.max(-1, keepdim=True).values if which == 'max' else values.min(-1, keepdim=True).values
    hit = (values == target).long()
    return hit * (hit.cumsum(-1) == 1).long()


def allocate_on_device(scores, heads, scale, rounding, min_per_group):
    """allocate_from_scores for every row of scores [N, G] at once, on their device: counts int64 [N, G]."""
    groups = scores.shape[-1]
    if not 1 <= groups <= heads or min_per_group * groups > heads:
        raise ValueError('allocation: %d groups, %d heads and min %d do not fit' % (groups, heads, min_per_group))
    exact, approx = _claims_on_device(scores, scale)
    if rounding == 'largest_remainder':
        share = heads - groups * min_per_group
        counts, rest, _ = _quotients(exact, approx, share)
        # rank of each remainder: the larger ones first, equal ones by index
        order = _sign(_normalize(rest[:, None, :, :] - rest[:, :, None, :]))  # [N, g, j]: sign(r_j - r_g)
        before = torch.ones(groups, groups, dtype=torch.bool, device=scores.device).tril(-1)  # j < g
        rank = ((order > 0) | ((order == 0) & before)).sum(-1)
        spare = share - counts.sum(-1, keepdim=True)
        return counts + (rank < spare).long() + min_per_group
    counts, rest, total = _quotients(exact, approx, heads)
    half = _sign(_normalize(rest * 2 - total))  # round half to even
    counts = counts + ((half > 0) | ((half == 0) & (counts % 2 == 1))).long()
    for _ in range(groups):
        over = (counts.sum(-1, keepdim=True) > heads).long()
        counts = counts - over * _first_hit(counts, 'max')
        under = (counts.sum(-1, keepdim=True) < heads).long()
        counts = counts + under * _first_hit(counts, 'min')
    for _ in range(min_per_group * groups):
        poorest = _first_hit(counts, 'min')
        short = ((counts * poorest).sum(-1, keepdim=True) < min_per_group).long()
        counts = counts - short * _first_hit(counts, 'max') + short * poorest
    return counts


def groups_of_heads(counts, heads):
    """The head -> group tables of counts [..., G]: [..., H], query heads in contiguous runs in group
    order: counts [2, 0, 3] -> [0, 0, 2, 2, 2]."""
    ends = counts.cumsum(-1)
    return (ends[..., None, :] <= torch.arange(heads, device=counts.device)[:, None]).sum(-1)


def allocate_rows(scores, heads, scale, rounding, min_per_group):
    """Counts int64 [N, G] for scores [N, G]: on an accelerator on its device (no host round trip per
    block); on the CPU there is no round trip to save and the exact host rule is cheaper than the limb
    arithmetic (bench/torch_alloc.py). Both are exact, so the counts are the same."""
    if scores.device.type != 'cpu':
        return allocate_on_device(scores, heads, scale, rounding, min_per_group)
    rows = scores.double().tolist()
    return torch.tensor([allocate_from_scores(r, heads, scale, rounding, min_per_group) for r in rows], dtype=torch.long)

