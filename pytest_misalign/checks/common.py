"""Helpers shared by the checks: bounds and verdicts, groups and `min_n`, clusters, degenerate tasks."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .. import stats
from ..scoring.diagnostics import TaskDiagnostics
from ..scoring.outcome import TaskOutcome
from ..spec.model import CheckSpec
from .result import DECIMALS, INCONCLUSIVE, N_RESAMPLES, PASS, GroupStat

Bounds = tuple[float | None, float | None]


def bounds_of(check: CheckSpec) -> Bounds:
    return tuple(float(check.params[b]) if b in check.params else None for b in ("min", "max"))


def verdict_of(lo: float, hi: float, bounds: Bounds) -> str:
    return stats.verdict(round(lo, DECIMALS), round(hi, DECIMALS), min=bounds[0], max=bounds[1])


def nearest_bound(value: float, bounds: Bounds) -> float:
    candidates = [b for b in bounds if b is not None]
    return min(candidates, key=lambda b: abs(value - b))


def abs_interval(lo: float, hi: float) -> tuple[float, float]:
    """Interval for |d| given an interval [lo, hi] for a signed difference d."""
    if lo >= 0:
        return lo, hi
    if hi <= 0:
        return -hi, -lo
    return 0.0, max(-lo, hi)


def group_stats(outcome: TaskOutcome, by: str) -> list[GroupStat]:
    stats_ = [GroupStat(g, s, n) for g, (s, n) in outcome.groups(by).items()]
    return sorted(stats_, key=lambda g: (g.accuracy, g.group))


def split_min_n(groups: Iterable[GroupStat], min_n: int) -> tuple[list[GroupStat], list[GroupStat]]:
    """(groups with at least min_n items, the smaller ones), each in the input order."""
    groups = list(groups)
    return [g for g in groups if g.n >= min_n], [g for g in groups if g.n < min_n]


def small_group_note(small: Iterable[GroupStat], min_n: int, left_out: bool) -> list[str]:
    """The note naming groups below min_n: left out of the value and verdict, or (when too few groups
    qualify to leave them out) only flagged."""
    names = ", ".join(f"{g.group} ({g.n})" for g in small)
    if not names:
        return []
    if left_out:
        return [f"groups below min_n={min_n} items are left out of the value and verdict: {names}"]
    return [f"groups below min_n={min_n} items, too small to trust: {names}"]


def too_few_groups(qualifying: list[GroupStat], min_n: int, what: str) -> str:
    have = "no group has" if not qualifying else (
        "only one group has" if len(qualifying) == 1 else f"only {len(qualifying)} groups have")
    return f"{have} at least {min_n} items: the {what} over all groups is shown but decides nothing"


def cap_for_small_groups(verdict: str, small: list) -> str:
    """Small groups are never silently passed: a confident pass becomes inconclusive."""
    return INCONCLUSIVE if small and verdict == PASS else verdict


def clusters_of(outcome: TaskOutcome) -> np.ndarray | None:
    field_ = outcome.task.spec.cluster
    if field_ is None:
        return None
    return np.array([str(inst.fields[field_]) for inst in outcome.task.instances], dtype=object)


def group_masks(check: CheckSpec, outcome: TaskOutcome) -> tuple[dict[str, np.ndarray], list[str]]:
    """{group: mask} of the groups of `by` with at least `min_n` items ("all" without `by`), and the small
    ones (all groups when none is large enough)."""
    if not check.by:
        return {"all": np.ones(outcome.n, dtype=bool)}, []
    labels = np.array(outcome.task.group_values(check.by), dtype=object)
    masks = {g: labels == g for g in dict.fromkeys(labels)}
    small = [g for g, m in masks.items() if m.sum() < check.min_n]
    return ({g: m for g, m in masks.items() if g not in small} or masks), small


def bootstrap(outcome: TaskOutcome, check: CheckSpec, mask: np.ndarray | None = None,
              groups: np.ndarray | None = None, statistic: str = "accuracy") -> stats.BootstrapResult:
    clusters = clusters_of(outcome)
    correct = outcome.correct
    if mask is not None:
        correct, clusters = correct[mask], clusters[mask]
        groups = groups[mask] if groups is not None else None
    return stats.cluster_bootstrap(correct, clusters, groups, statistic=statistic,
                                   confidence=check.confidence, n_resamples=N_RESAMPLES, seed=0)


def bootstrap_method(result: stats.BootstrapResult, cluster_field: str) -> str:
    return (f"cluster bootstrap over {result.n_clusters} '{cluster_field}' clusters "
            f"({result.n_resamples} resamples, stratified, percentile)")


def constant_reason(diag: TaskDiagnostics) -> list[str]:
    """Degenerate reason for checks a constant answer makes meaningless (gaps, groups, consistency)."""
    return [f"constant answer: the model {diag.constant_answer}"] if diag.constant_answer else []


def gap_reasons(diag: TaskDiagnostics, gap: float, lower: float = 0.0) -> list[str]:
    """Degenerate reasons for a gap: a constant answer, or an accuracy at chance -- unless the gap's
    interval excludes 0 (`lower` > 0): groups that differ beyond doubt are a finding whatever the
    overall accuracy (memo-trap: 0.03 in one condition, 0.87 in the other, 0.45 overall)."""
    reasons = constant_reason(diag)
    if not reasons and diag.at_chance and lower <= 0:
        reasons.append(f"accuracy {diag.accuracy:.3f} is indistinguishable from chance {diag.chance:.3f} "
                       f"(one-sided exact binomial p = {diag.p_above_chance:.3g}): a gap of {gap:.3f} says "
                       "nothing about the groups")
    return reasons


def degenerate_text(reasons: list[str]) -> str | None:
    return "; ".join(reasons) if reasons else None
