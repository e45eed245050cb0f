"""Score intervals: Wilson (one proportion), Newcombe hybrid score (two independent proportions),
Newcombe's paired method 10 (two proportions on the same items)."""

from __future__ import annotations

import math

from .validation import check_count, z_value


def wilson_bounds(x: float, n: float, z: float) -> tuple[float, float]:
    """Wilson bounds for x successes out of n (real-valued x, n allowed)."""
    if n == 0:
        return 0.0, 1.0
    p = x / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(max(p * (1.0 - p) / n + z2 / (4.0 * n * n), 0.0)) / denom
    lo = 0.0 if x == 0 else min(max(center - half, 0.0), 1.0)
    hi = 1.0 if x == n else min(max(center + half, 0.0), 1.0)
    return lo, hi


def wilson_interval(
    successes: int, n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927).

    The interval is the set of ``pi`` with ``(p - pi)**2 <= z**2 pi (1 - pi) / n``
    where ``p = successes / n`` and ``z`` is the two-sided normal critical
    value; in closed form::

        (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)

    It is the interval recommended by Newcombe (1998, "Two-sided confidence
    intervals for the single proportion") and Brown, Cai & DasGupta (2001):
    it never leaves [0, 1], is never degenerate at 0 % or 100 % accuracy, and
    its coverage is close to nominal for small n.

    ``n == 0`` returns the uninformative interval ``(0.0, 1.0)``. The bounds
    are exactly 0.0 when ``successes == 0`` and exactly 1.0 when
    ``successes == n``. Non-integer counts are accepted (e.g. an expected
    count ``p * n``, as used by :func:`required_n`, or a design-effect
    adjusted effective sample size).

    Raises ValueError for a confidence outside (0, 1), negative counts or
    ``successes > n``.
    """
    z = z_value(confidence)
    x = check_count(successes, "successes", integer=False)
    m = check_count(n, "n", integer=False)
    if x > m:
        raise ValueError(f"successes ({successes}) cannot exceed n ({n})")
    return wilson_bounds(x, m, z)


# --------------------------------------------------------------------------
# two independent proportions
# --------------------------------------------------------------------------
def newcombe_bounds(x1: float, n1: float, x2: float, n2: float, z: float) -> tuple[float, float]:
    if n1 == 0 or n2 == 0:
        return -1.0, 1.0
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_bounds(x1, n1, z)
    l2, u2 = wilson_bounds(x2, n2, z)
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return max(lo, -1.0), min(hi, 1.0)


def newcombe_interval(
    x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe hybrid score interval for ``p1 - p2`` (Newcombe 1998a, method 10).

    With Wilson bounds ``(l_i, u_i)`` for each proportion at the same
    confidence level and ``d = p1 - p2``::

        lower = d - sqrt((p1 - l1)² + (u2 - p2)²)
        upper = d + sqrt((u1 - p1)² + (p2 - l2)²)

    Also known as the MOVER-Wilson or "square-and-add" interval; this is the
    ``method="newcomb"`` interval of statsmodels'
    ``confint_proportions_2indep``. Samples must be independent (for the same
    items scored twice use :func:`paired_difference_interval`).

    Either ``n == 0`` returns ``(-1.0, 1.0)``. Non-integer counts are accepted
    as in :func:`wilson_interval`.
    """
    z = z_value(confidence)
    a = check_count(x1, "x1", integer=False)
    m1 = check_count(n1, "n1", integer=False)
    b = check_count(x2, "x2", integer=False)
    m2 = check_count(n2, "n2", integer=False)
    if a > m1:
        raise ValueError(f"x1 ({x1}) cannot exceed n1 ({n1})")
    if b > m2:
        raise ValueError(f"x2 ({x2}) cannot exceed n2 ({n2})")
    return newcombe_bounds(a, m1, b, m2, z)



def paired_difference_interval(
    b: int, c: int, n: int, confidence: float = 0.95, *, a: int
) -> tuple[float, float]:
    """Interval for ``p1 - p2`` from paired binary data (Newcombe 1998b, method 10).

    The paired 2x2 table of ``n`` items, each scored under condition 1
    (e.g. model A) and condition 2 (model B), is::

                    cond. 2 = 1   cond. 2 = 0
        cond. 1 = 1      a             b
        cond. 1 = 0      c             d          d = n - a - b - c

    so ``p1 = (a + b)/n``, ``p2 = (a + c)/n`` and the estimate is
    ``(b - c)/n``. With Wilson intervals ``(l1, u1)`` for p1 and ``(l2, u2)``
    for p2 (same confidence level), Newcombe's method 10 is::

        lower = D - sqrt((p1-l1)² - 2·phi·(p1-l1)(u2-p2) + (u2-p2)²)
        upper = D + sqrt((p2-l2)² - 2·phi·(p2-l2)(u1-p1) + (u1-p1)²)

    where ``phi`` estimates the correlation between the two margins, with
    Newcombe's correction applied to ``A = a·d - b·c``::

        phi = (A - n/2) / sqrt(M)   if A > n/2
            = 0                     if 0 <= A <= n/2
            = A / sqrt(M)           if A < 0
        M   = (a+b)(c+d)(a+c)(b+d);  phi = 0 when M = 0.

    This is the "Newcombe square-and-add interval" of Fagerland, Lydersen &
    Laake (2014, 2017), who recommend it for paired proportions; the form
    matches their reference implementation.

    ``a`` (the number of items correct under both conditions) is a required
    keyword: unlike b, c and n it is not implied by the others, and the
    interval depends on it through the marginal Wilson intervals and phi.
    ``n == 0`` returns ``(-1.0, 1.0)``.
    """
    z = z_value(confidence)
    bb = check_count(b, "b", integer=True)
    cc = check_count(c, "c", integer=True)
    nn = check_count(n, "n", integer=True)
    aa = check_count(a, "a", integer=True)
    dd = nn - aa - bb - cc
    if dd < 0:
        raise ValueError(
            f"a + b + c ({aa:g} + {bb:g} + {cc:g}) cannot exceed the number of pairs n ({nn:g})"
        )
    if nn == 0:
        return -1.0, 1.0
    return paired_newcombe_bounds(aa, bb, cc, dd, z)


def paired_newcombe_bounds(a: float, b: float, c: float, d: float, z: float) -> tuple[float, float]:
    n = a + b + c + d
    p1 = (a + b) / n
    p2 = (a + c) / n
    l1, u1 = wilson_bounds(a + b, n, z)
    l2, u2 = wilson_bounds(a + c, n, z)
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    if margins == 0:
        phi = 0.0
    else:
        big_a = a * d - b * c
        if big_a > n / 2.0:
            phi = (big_a - n / 2.0) / math.sqrt(margins)
        elif big_a >= 0:
            phi = 0.0
        else:
            phi = big_a / math.sqrt(margins)
    diff = (b - c) / n
    dl1, du1 = p1 - l1, u1 - p1
    dl2, du2 = p2 - l2, u2 - p2
    lo = diff - math.sqrt(max(dl1 * dl1 - 2.0 * phi * dl1 * du2 + du2 * du2, 0.0))
    hi = diff + math.sqrt(max(dl2 * dl2 - 2.0 * phi * dl2 * du1 + du1 * du1, 0.0))
    return max(lo, -1.0), min(hi, 1.0)
