"""k independent groups: all pairwise gaps with family-wise Newcombe intervals, and bounds for the
largest gap."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from scipy import stats as _sps

from .validation import check_confidence, check_count, z_cached
from .intervals import newcombe_bounds
from .pvalues import holm

Correction = Literal["holm", "bonferroni", "none"]


@dataclass(frozen=True)
class PairGap:
    """One pairwise gap from :func:`max_gap_intervals`.

    ``gap = p_higher - p_lower >= 0``; ``(lo, hi)`` is the Newcombe interval
    for that (signed) difference at ``interval_confidence``. ``pvalue`` is the
    raw two-sided pooled two-proportion z-test of "no gap",
    ``adjusted_pvalue`` its multiplicity-adjusted value, and ``significant``
    means ``adjusted_pvalue <= 1 - family_confidence`` (gap != 0 at the
    family-wise level). ``is_max`` marks the pair with the largest observed
    gap (the first entry).
    """

    higher: str
    lower: str
    p_higher: float
    p_lower: float
    gap: float
    lo: float
    hi: float
    pvalue: float
    adjusted_pvalue: float
    significant: bool
    interval_confidence: float
    is_max: bool


def two_proportion_pvalue(x1: float, n1: float, x2: float, n2: float) -> float:
    """Two-sided pooled (score) z-test of p1 == p2; 1.0 when both are 0 % or 100 %."""
    pooled = (x1 + x2) / (n1 + n2)
    var = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if var <= 0.0:
        return 1.0
    zstat = (x1 / n1 - x2 / n2) / math.sqrt(var)
    return float(min(1.0, 2.0 * _sps.norm.sf(abs(zstat))))


def _clean_groups(groups: Mapping[str, tuple[int, int]]) -> list[tuple[str, float, float]]:
    """Validated (name, successes, n) per group; at least two groups, each with n >= 1."""
    items = list(groups.items())
    if len(items) < 2:
        raise ValueError(f"max_gap_intervals needs at least two groups to compare, got {len(items)}")
    cleaned: list[tuple[str, float, float]] = []
    for name, pair in items:
        try:
            x, n = pair
        except (TypeError, ValueError):
            raise ValueError(f"group {name!r}: expected a (successes, n) pair, got {pair!r}") from None
        xv = check_count(x, f"successes of group {name!r}", integer=True)
        nv = check_count(n, f"n of group {name!r}", integer=True)
        if nv == 0:
            raise ValueError(f"group {name!r} has n = 0: its accuracy is undefined")
        if xv > nv:
            raise ValueError(f"group {name!r}: successes ({x}) cannot exceed n ({n})")
        cleaned.append((name, xv, nv))
    return cleaned


def max_gap_intervals(
    groups: Mapping[str, tuple[int, int]],
    confidence: float = 0.95,
    correction: Correction = "holm",
) -> list[PairGap]:
    """All pairwise accuracy gaps between k >= 2 independent groups.

    ``groups`` maps a group name to ``(successes, n)`` (n >= 1). For each of
    the ``m = k(k-1)/2`` pairs the two groups are ordered so that
    ``gap = p_higher - p_lower >= 0`` (ties keep mapping order) and get:

    * a Newcombe (1998a) hybrid score interval for ``p_higher - p_lower``.
      For ``correction="holm"`` and ``"bonferroni"`` every interval is at the
      Bonferroni level ``1 - alpha/m`` (``alpha = 1 - confidence``), so all m
      intervals hold simultaneously with probability >= ``confidence``.
      Holm has no compatible simultaneous intervals, hence the Bonferroni
      level for intervals in both cases. ``"none"``: each interval at
      ``confidence`` (no family-wise guarantee).
    * a raw p-value of the pooled two-proportion z-test (equivalently the
      uncorrected Pearson chi-squared test, recommended for 2x2 tables by
      Fagerland, Lydersen & Laake 2017) for "no gap", and an adjusted p-value:
      Holm step-down (``"holm"``), ``min(1, m p)`` (``"bonferroni"``) or raw
      (``"none"``). ``significant`` = adjusted p-value <= alpha. Holm is
      uniformly more powerful than Bonferroni for these zero-gap decisions,
      so a pair can be Holm-significant while its Bonferroni interval still
      touches 0; threshold checks should use the intervals (or
      :func:`max_gap_bounds`), not the p-values.

    The list is sorted by decreasing gap; the first entry (``is_max``) is the
    pair with the largest observed gap. Note that selecting the observed
    largest pair is itself data-driven: for an interval on the true maximum
    gap use :func:`max_gap_bounds` on the whole list.

    Raises ValueError for fewer than two groups, a group with n = 0 (its
    accuracy is undefined), or invalid counts.
    """
    conf = check_confidence(confidence)
    if correction not in ("holm", "bonferroni", "none"):
        raise ValueError(f"correction must be 'holm', 'bonferroni' or 'none', got {correction!r}")
    cleaned = _clean_groups(groups)

    k = len(cleaned)
    m = k * (k - 1) // 2
    alpha = 1.0 - conf
    level = conf if correction == "none" else 1.0 - alpha / m
    z = z_cached(level)

    raw: list[tuple[str, str, float, float, float, float, float, float]] = []
    for i in range(k):
        for j in range(i + 1, k):
            ni, xi, mi = cleaned[i]
            nj, xj, mj = cleaned[j]
            if xj / mj > xi / mi:
                ni, xi, mi, nj, xj, mj = nj, xj, mj, ni, xi, mi
            lo, hi = newcombe_bounds(xi, mi, xj, mj, z)
            pv = two_proportion_pvalue(xi, mi, xj, mj)
            raw.append((ni, nj, xi / mi, xj / mj, xi / mi - xj / mj, lo, hi, pv))

    pvals = [r[7] for r in raw]
    if correction == "holm":
        adj = holm(pvals)
    elif correction == "bonferroni":
        adj = [min(1.0, m * p) for p in pvals]
    else:
        adj = list(pvals)

    order = sorted(range(m), key=lambda t: -raw[t][4])  # stable: ties keep pair order
    out = []
    for rank, t in enumerate(order):
        ni, nj, pi, pj, gap, lo, hi, pv = raw[t]
        out.append(PairGap(
            higher=ni, lower=nj, p_higher=pi, p_lower=pj, gap=gap, lo=lo, hi=hi,
            pvalue=pv, adjusted_pvalue=adj[t], significant=adj[t] <= alpha,
            interval_confidence=level, is_max=(rank == 0),
        ))
    return out


def max_gap_bounds(pairs: Sequence[PairGap]) -> tuple[float, float]:
    """Interval for the true maximum pairwise gap from simultaneous pair intervals.

    If every pair interval covers its true difference (probability >= the
    family confidence for Bonferroni-level intervals from
    :func:`max_gap_intervals`), then the true maximum absolute gap
    ``max |pi_i - pi_j|`` lies in::

        [max over pairs of max(lo, 0),  max over pairs of max(hi, -lo)]

    because ``|d| >= max(lo, 0)`` and ``|d| <= max(hi, -lo)`` for any d in
    [lo, hi]. With ``correction="none"`` intervals there is no such guarantee.
    """
    if len(pairs) == 0:
        raise ValueError("pairs is empty: need at least one pairwise gap")
    lo = max(max(p.lo, 0.0) for p in pairs)
    hi = max(max(p.hi, -p.lo) for p in pairs)
    return float(lo), float(min(hi, 1.0))
