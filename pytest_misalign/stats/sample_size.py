"""How many items (per group, or pairs) an inconclusive check would need."""

from __future__ import annotations

import numbers

from .validation import SAME_TOL, check_prob, z_value
from .intervals import newcombe_bounds, paired_newcombe_bounds, wilson_bounds

MAX_SEARCH_N = 1 << 31


def smallest_n(excludes, start: int = 1) -> int | None:
    """Smallest integer n >= start with excludes(n) True, for a monotone predicate (None past 2**31)."""
    if excludes(start):
        return start
    lo, hi = start, start * 2
    while not excludes(hi):  # doubling: excludes(lo) is False throughout
        if hi > MAX_SEARCH_N:
            return None
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # bisection: excludes(lo) False, excludes(hi) True
        mid = (lo + hi) // 2
        if excludes(mid):
            hi = mid
        else:
            lo = mid
    return hi


def required_n(p: float, threshold: float, confidence: float = 0.95) -> int | None:
    """Items needed for a Wilson interval around accuracy ``p`` to exclude ``threshold``.

    Returns the smallest n such that the Wilson interval (at ``confidence``)
    for ``p * n`` successes out of n lies strictly on one side of
    ``threshold``, i.e. the check would no longer be inconclusive if the
    observed accuracy stayed at p; ``None`` when ``p == threshold`` (no n
    suffices; equality is judged to within 1e-12).

    The Wilson interval for a fixed observed proportion is
    ``{pi : (p - pi)² <= z² pi(1 - pi)/n}``, which shrinks (is nested) as n
    grows, so exclusion is monotone in n and the smallest n is found by
    doubling then bisection on that exact predicate (it agrees with the
    closed form ``floor(z² t(1-t)/(p-t)²) + 1``). ``p * n`` need not be an
    integer. Caveat: this is the n at which a *typical* run (estimate = p)
    becomes conclusive -- roughly 50 % power; aim higher for a reliable
    result.
    """
    z = z_value(confidence)
    pv = check_prob(p, "p")
    t = check_prob(threshold, "threshold")
    if abs(pv - t) <= SAME_TOL:
        return None

    def excludes(n: int) -> bool:
        lo, hi = wilson_bounds(pv * n, float(n), z)
        return t < lo or t > hi

    return smallest_n(excludes)


def required_n_gap(
    p1: float, p2: float, threshold: float, confidence: float = 0.95
) -> int | None:
    """Per-group n for the Newcombe interval around ``p1 - p2`` to exclude ``threshold``.

    Equal allocation: the smallest n such that the Newcombe (1998a) hybrid
    score interval for ``p1*n / n`` vs ``p2*n / n`` lies strictly on one
    side of ``threshold`` (a signed gap in [-1, 1]; for "max gap <= t" pass
    the higher group as p1). ``None`` when ``p1 - p2 == threshold`` (to
    within 1e-12). Both
    Wilson intervals are nested in n, so the Newcombe interval is too and the
    search (doubling then bisection) is exact. To plan for k groups with
    Bonferroni-level intervals pass ``confidence = 1 - alpha/m`` with
    ``m = k(k-1)/2``. Same ~50 % power caveat as :func:`required_n`.
    """
    z = z_value(confidence)
    a = check_prob(p1, "p1")
    b = check_prob(p2, "p2")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not (
        -1.0 <= float(threshold) <= 1.0
    ):
        raise ValueError(f"threshold must be a gap in [-1, 1], got {threshold!r}")
    t = float(threshold)
    if abs((a - b) - t) <= SAME_TOL:
        return None

    def excludes(n: int) -> bool:
        lo, hi = newcombe_bounds(a * n, float(n), b * n, float(n), z)
        return t < lo or t > hi

    return smallest_n(excludes)


def required_n_paired(a: int, b: int, c: int, d: int, threshold: float, confidence: float = 0.95) -> int | None:
    """Pairs needed for Newcombe's paired interval around ``(b - c)/n`` to exclude ``threshold``.

    Keeps the observed 2x2 proportions ``(a, b, c, d)/n`` and searches (doubling, then bisection) for
    the smallest number of pairs whose interval lies strictly on one side of ``threshold`` (a signed
    difference). ``None`` when the observed difference equals the threshold or no size decides.
    Same ~50 % power caveat as :func:`required_n`.
    """
    z = z_value(confidence)
    n = a + b + c + d
    if n == 0:
        return None
    t = float(threshold)
    if abs((b - c) / n - t) <= SAME_TOL:
        return None
    fa, fb, fc, fd = a / n, b / n, c / n, d / n

    def excludes(m: int) -> bool:
        lo, hi = paired_newcombe_bounds(fa * m, fb * m, fc * m, fd * m, z)
        return t < lo or t > hi

    return smallest_n(excludes)
