"""The flip rate of counterfactual pairs: the share whose correctness changes with the group.

A gap of 0 can hide a model that flips on every pair in both directions (flips that cancel out);
the flip rate sees it. For several groups the reported flip rate is the largest over the group
pairs, with the simultaneous interval [max lower, max upper] of the per-table intervals (each at the
Bonferroni level, as for the gap): Wilson on (b + c) of n pairs, or a cluster bootstrap of the
per-pair flip indicators when the task declares `cluster:`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import stats
from ..spec.model import CheckSpec
from .result import N_RESAMPLES, Limit


@dataclass(frozen=True)
class FlipStat:
    value: float  # the largest flip rate over the group pairs
    lo: float
    hi: float
    groups: tuple[str, str]  # the group pair with that flip rate
    n: int  # its complete pairs


def flip_stat(tables: list, conf: float, clusters: dict[str, str] | None) -> FlipStat:
    intervals = [_flip_interval(t, conf, clusters) for t in tables]
    top = max(range(len(tables)), key=lambda i: tables[i].flip_rate)
    t = tables[top]
    return FlipStat(t.flip_rate, max(lo for lo, _ in intervals), min(max(hi for _, hi in intervals), 1.0),
                    (t.g1, t.g2), t.n)


def _flip_interval(t, conf: float, clusters: dict[str, str] | None) -> tuple[float, float]:
    if t.n == 0:
        return 0.0, 1.0
    if clusters is None:
        return stats.wilson_interval(t.b + t.c, t.n, conf)
    boot = stats.paired_cluster_bootstrap(np.abs(np.array(t.differences, dtype=float)),
                                          np.array([clusters[p] for p in t.pair_ids], dtype=object),
                                          conf, N_RESAMPLES, seed=0)
    return boot.lo, boot.hi


def flip_limit(check: CheckSpec, flips: FlipStat) -> Limit | None:
    """The `max_flip_rate` limit, when the check sets one."""
    if "max_flip_rate" not in check.params:
        return None
    limit = float(check.params["max_flip_rate"])
    verdict = stats.verdict(round(flips.lo, 12), round(flips.hi, 12), max=limit)
    return Limit("flip rate", "max_flip_rate", flips.value, limit, (flips.lo, flips.hi), verdict)


def flip_notes(flips: FlipStat, limit: Limit | None, gap: float, bounds, cancel_rate: float) -> list[str]:
    """Without `max_flip_rate`: a note when many pairs flip while the gap stays within its limit."""
    gap_ok = bounds[1] is None or round(gap, 12) <= bounds[1]
    if limit is not None or flips.value < cancel_rate or not gap_ok:
        return []
    return [f"flips cancel out: {flips.value:.3f} of {flips.groups[0]}/{flips.groups[1]} pairs change correctness "
            f"with the group, yet the gap is {gap:.3f}; set max_flip_rate to gate it"]

