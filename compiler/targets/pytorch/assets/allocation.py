# ---------------------------------------------------------------------------------------------
# The allocation function (attnc's compiler/alloc.ts, docs/allocation.md)
#
# How many query heads each K/V group gets, decided in exact rational arithmetic on the scores as
# float64 values (Fraction(x) is exact), so the counts depend on the scores' values only, never on
# the order or precision of float operations: every attnc backend gives the same counts for the
# same scores. The G scores come to the host once per layer per step for this.


def equal_share(heads, groups):
    """floor(H / G) per group and one more for the first H mod G: the uniform grouping when G divides H."""
    return [heads // groups + (1 if g < heads % groups else 0) for g in range(groups)]


def group_of_head(counts):
    """Query heads in contiguous runs in group order: counts [2, 0, 3] -> [0, 0, 2, 2, 2]."""
    return [g for g, c in enumerate(counts) for _ in range(c)]


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
