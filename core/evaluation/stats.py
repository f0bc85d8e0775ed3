"""The statistics the evaluation reports: rank correlation, bootstrap intervals, a paired test.

Written out rather than imported: SciPy is not a run-time dependency of Inkwell
(it is a 35 MB wheel for three small functions); the tests check these against
SciPy, which the dev extra installs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for t in range(i, j + 1):
            ranks[order[t]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation; None when undefined (fewer than 3 points or no spread)."""
    if len(xs) < 3:
        return None
    rx, ry = _ranks(xs), _ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = math.sqrt(sum((a - mx) ** 2 for a in rx))
    vy = math.sqrt(sum((b - my) ** 2 for b in ry))
    return None if vx == 0 or vy == 0 else cov / (vx * vy)


def relative_gain(value: float, base: float, higher_is_better: bool = True) -> float | None:
    """Percent improvement of ``value`` over ``base``; None when the base is zero."""
    if not base:
        return None
    return 100.0 * (value - base) / base * (1 if higher_is_better else -1)


def bootstrap_gain_ci(
    users: Sequence[Mapping[str, Sequence[float]]],
    system: str,
    base: str = "none",
    higher_is_better: bool = True,
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile interval of ``system``'s relative gain over ``base``, users resampled.

    Each user maps a system to its per-query scores.  A resample draws users with
    replacement and pools their queries, exactly as the reported gain pools the
    queries of all users: users, not queries, are the independent units (a user's
    queries share one profile and one adapter).  None when fewer than two users
    or the gain is undefined in too many resamples.
    """
    if len(users) < 2:
        return None
    sums = [(sum(u[system]), sum(u[base]), len(u[base])) for u in users]
    rng = random.Random(seed)
    gains = []
    for _ in range(resamples):
        s = b = 0.0
        for i in (rng.randrange(len(sums)) for _ in sums):
            s += sums[i][0]
            b += sums[i][1]
        gain = relative_gain(s, b, higher_is_better)  # equal query counts cancel out
        if gain is not None:
            gains.append(gain)
    if len(gains) < resamples * 0.9:
        return None
    gains.sort()
    tail = (1 - level) / 2
    lo = gains[math.floor(tail * (len(gains) - 1))]
    hi = gains[math.ceil((1 - tail) * (len(gains) - 1))]
    return lo, hi


def wilcoxon_signed_rank(differences: Sequence[float]) -> tuple[float, float] | None:
    """Two-sided exact Wilcoxon signed-rank test of paired differences against zero.

    Returns (W+, p).  Zero differences are dropped (Wilcoxon's rule) and tied
    magnitudes share their average rank; the null distribution is enumerated
    exactly over the ranks actually observed, so it stays exact with ties.  None
    when no non-zero difference is left.
    """
    nonzero = [d for d in differences if d != 0]
    if not nonzero:
        return None
    ranks = _ranks([abs(d) for d in nonzero])
    w_plus = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    # Average ranks are multiples of 1/2: count sign assignments over doubled ranks.
    doubled = [round(2 * r) for r in ranks]
    counts = {0: 1}
    for r in doubled:
        nxt = dict(counts)
        for total, ways in counts.items():
            nxt[total + r] = nxt.get(total + r, 0) + ways
        counts = nxt
    mean = sum(doubled) / 2
    observed = abs(2 * w_plus - mean)
    extreme = sum(ways for total, ways in counts.items() if abs(total - mean) >= observed - 1e-9)
    return w_plus, min(1.0, extreme / 2 ** len(doubled))
