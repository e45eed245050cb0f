"""Tests and multiplicity: exact McNemar, Holm step-down adjustment, exact one-sided binomial."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats as _sps

from .validation import check_count


def mcnemar_pvalue(b: int, c: int) -> float:
    """Exact two-sided McNemar test (conditional binomial test).

    ``b`` and ``c`` are the discordant counts (pairs (1, 0) and (0, 1)).
    Under H0 (equal marginal proportions) ``b ~ Binomial(b + c, 1/2)``
    conditionally on ``b + c``; the p-value is scipy's exact two-sided
    ``binomtest(b, b + c, 0.5)``, which for p = 1/2 equals
    ``min(1, 2 * P[Binomial(b + c, 1/2) <= min(b, c)])``.
    ``b == c == 0`` (no discordant pairs: no evidence of a difference)
    returns 1.0.
    """
    bb = int(check_count(b, "b", integer=True))
    cc = int(check_count(c, "c", integer=True))
    if bb + cc == 0:
        return 1.0
    p = _sps.binomtest(bb, bb + cc, 0.5, alternative="two-sided").pvalue
    return float(min(1.0, p))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm (1979) step-down adjusted p-values, in the input order.

    With the m p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the
    adjusted value is ``max_{j <= i} min(1, (m - j + 1) p_(j))`` -- monotone
    in the sorted order and capped at 1. Rejecting every hypothesis whose
    adjusted p-value is ``<= alpha`` controls the family-wise error rate at
    ``alpha`` under arbitrary dependence. An empty input returns ``[]``.
    """
    p = np.asarray(list(pvalues), dtype=float)
    if p.ndim != 1:
        raise ValueError("pvalues must be a flat sequence of numbers")
    if p.size == 0:
        return []
    if not np.all(np.isfinite(p)) or np.any(p < 0) or np.any(p > 1):
        raise ValueError("every p-value must be a finite number in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adj_sorted = np.maximum.accumulate(scaled)
    out = np.empty(m)
    out[order] = adj_sorted
    return [float(v) for v in out]


def binomial_greater_pvalue(successes: int, n: int, p0: float) -> float:
    """Exact one-sided binomial test of "accuracy > p0": ``P[Binomial(n, p0) >= successes]``.

    The probability that a model answering right with probability ``p0`` on every item (a model at
    chance level ``p0``) gets at least ``successes`` of ``n`` right. Small values say the observed
    accuracy is distinguishable from ``p0``. ``n == 0`` returns 1.0 (no evidence).
    """
    x = int(check_count(successes, "successes", integer=True))
    m = int(check_count(n, "n", integer=True))
    if x > m:
        raise ValueError(f"successes ({successes}) cannot exceed n ({n})")
    p = float(p0)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p0 must lie in [0, 1], got {p0!r}")
    if m == 0 or x == 0:
        return 1.0
    return float(min(1.0, _sps.binom.sf(x - 1, m, p)))
