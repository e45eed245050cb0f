"""The accuracy gap between independent groups (`gap`); paired gaps are in `paired`."""

from __future__ import annotations

import numpy as np

from .. import stats
from ..scoring.diagnostics import diagnose
from ..scoring.score import TaskOutcome
from ..spec.model import CheckSpec
from .common import (
    abs_interval,
    bootstrap,
    bootstrap_method,
    bounds_of,
    cap_for_small_groups,
    degenerate_text,
    gap_reasons,
    group_stats,
    nearest_bound,
    small_group_note,
    split_min_n,
    too_few_groups,
    verdict_of,
)
from .paired import paired_gap
from .result import INCONCLUSIVE, CheckResult, GroupStat


def check_gap(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    """Largest accuracy difference between groups. Groups below `min_n` items are left out of the
    value and verdict (named in a note; a confident pass becomes inconclusive); with fewer than two
    groups of `min_n` items the value is the gap over all groups and the check is inconclusive and
    degenerate."""
    if check.pair_field:
        return paired_gap(check, outcome, name)
    bounds = bounds_of(check)
    groups = group_stats(outcome, check.by)
    qualifying, small = split_min_n(groups, check.min_n)
    enough = len(qualifying) >= 2
    used = qualifying if enough else groups
    low, high = used[0], used[-1]
    value = high.accuracy - low.accuracy
    reasons = gap_reasons(diagnose(outcome), value)
    if not enough:
        reasons.append(too_few_groups(qualifying, check.min_n, "gap"))
    notes = small_group_note(small, check.min_n, left_out=enough)
    if outcome.task.spec.cluster:
        (lo, hi), method, needed, extra = _cluster_gap(check, outcome, used)
        notes += extra
    else:
        (lo, hi), method, needed = _newcombe_gap(check, used, value, bounds)
    verdict = cap_for_small_groups(verdict_of(lo, hi, bounds), small) if enough else INCONCLUSIVE
    if verdict != INCONCLUSIVE:
        needed = None
    elif small and needed is not None:
        needed = max(needed, check.min_n)
    return CheckResult(name, check.kind, value, *bounds, (lo, hi), method, check.confidence, verdict,
                       by=check.by, worst=(low, high), needed_n=needed, needed_unit="items per group",
                       notes=tuple(reasons + notes), degenerate=degenerate_text(reasons))


def _newcombe_gap(check: CheckSpec, used: list[GroupStat], value: float, bounds) -> tuple:
    k = len(used)
    m = k * (k - 1) // 2
    pairs = stats.max_gap_intervals({g.group: (g.successes, g.n) for g in used}, check.confidence,
                                    correction="bonferroni")
    lo, hi = stats.max_gap_bounds(pairs)
    method = ("Newcombe hybrid score" if m == 1 else
              f"Newcombe hybrid score, Bonferroni-level over {m} group pairs "
              f"(each at {1 - (1 - check.confidence) / m:.4f})")
    conf = 1 - (1 - check.confidence) / max(m, 1)
    needed = stats.required_n_gap(used[-1].accuracy, used[0].accuracy, nearest_bound(value, bounds), conf)
    return (lo, hi), method, needed


def _cluster_gap(check: CheckSpec, outcome: TaskOutcome, used: list[GroupStat]) -> tuple:
    labels = np.array(outcome.task.group_values(check.by), dtype=object)
    mask = np.isin(labels, [g.group for g in used])
    k = len(used)
    boot = bootstrap(outcome, check, mask=mask, groups=labels, statistic="gap" if k == 2 else "max_gap")
    lo, hi = abs_interval(boot.lo, boot.hi) if k == 2 else (boot.lo, boot.hi)
    return (lo, hi), bootstrap_method(boot, outcome.task.spec.cluster), None, [boot.note] if boot.note else []
