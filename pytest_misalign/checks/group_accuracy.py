"""`group_accuracy: {by, min, min_n, confidence}`: every group's accuracy must meet the floor."""

from __future__ import annotations

import numpy as np

from .. import stats
from ..scoring.diagnostics import diagnose
from ..scoring.outcome import TaskOutcome
from ..spec.model import CheckSpec
from ..spec.params import GROUPS, RATE, STATS, Param
from .common import (
    bootstrap,
    bounds_of,
    cap_for_small_groups,
    constant_reason,
    degenerate_text,
    group_stats,
    small_group_note,
    split_min_n,
    too_few_groups,
    verdict_of,
)
from .kind import CheckKind
from .rules import groups_shape
from .monitor import METHOD, Seq, View, cap_small, correctness, describe, group_estimates
from .result import INCONCLUSIVE, CheckResult, GroupStat, combine


def check_group_accuracy(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    """Every group's accuracy must meet the floor: pass when every group's interval is above it,
    fail when some group's interval is wholly below it. Groups below `min_n` items are left out of the
    value and the verdict (named in a note; a confident pass becomes inconclusive); when no group has
    `min_n` items the value is the worst group's over all groups and the check is inconclusive."""
    bounds = bounds_of(check)
    groups = group_stats(outcome, check.by)
    qualifying, small = split_min_n(groups, check.min_n)
    reasons = constant_reason(diagnose(outcome))
    if qualifying:
        notes = small_group_note(small, check.min_n, left_out=True)
    else:
        notes = small_group_note(small, check.min_n, left_out=False)
        reasons.append(too_few_groups(qualifying, check.min_n, "worst accuracy"))
    used = qualifying or groups
    intervals, method, boot_notes = _group_intervals(check, outcome, groups)
    verdicts = [verdict_of(*intervals[g.group], bounds) for g in used]
    verdict = combine(*verdicts)
    verdict = cap_for_small_groups(verdict, small) if qualifying else INCONCLUSIVE
    worst = used[0]
    needed = _needed_per_group(check, outcome, used, verdicts, bounds, small) if verdict == INCONCLUSIVE else None
    return CheckResult(name, check.kind, worst.accuracy, *bounds, intervals[worst.group], method,
                       check.confidence, verdict, by=check.by, worst=tuple(used[:2]), needed_n=needed,
                       needed_unit="items in each undecided group", notes=tuple(reasons + notes + boot_notes),
                       details={"group_intervals": {g: [round(lo, 6), round(hi, 6)]
                                                    for g, (lo, hi) in intervals.items()}},
                       degenerate=degenerate_text(reasons))


def _group_intervals(check: CheckSpec, outcome: TaskOutcome, groups: list[GroupStat]) -> tuple[dict, str, list[str]]:
    intervals, method, notes = {}, "Wilson score", []
    labels = np.array(outcome.task.group_values(check.by), dtype=object)
    for g in groups:
        if outcome.task.spec.cluster:
            boot = bootstrap(outcome, check, mask=labels == g.group)
            intervals[g.group] = (boot.lo, boot.hi)
            method = f"cluster bootstrap within each group over '{outcome.task.spec.cluster}' clusters"
            notes += [f"{g.group}: {boot.note}"] if boot.note else []
        else:
            intervals[g.group] = stats.wilson_interval(g.successes, g.n, check.confidence)
    return intervals, method, notes


def _needed_per_group(check, outcome, used, verdicts, bounds, small) -> int | None:
    if outcome.task.spec.cluster:
        return None
    undecided = [g for g, v in zip(used, verdicts) if v == INCONCLUSIVE] or [used[0]]
    needed = max((stats.required_n(g.accuracy, bounds[0], check.confidence) or 0) for g in undecided) or None
    if small and needed is not None:  # small groups keep it undecided until they reach min_n
        needed = max(needed, check.min_n)
    return needed


def monitor_group_accuracy(check: CheckSpec, view: View, alpha: float) -> Seq:
    ests, small = group_estimates(view, check, correctness(view), alpha)
    method = f"{METHOD} per group at {1 - alpha / max(1, len(ests)):.4g}"
    if not ests:
        return Seq(float("nan"), (0.0, 1.0), INCONCLUSIVE, method)
    verdict = combine(*(verdict_of(*e.interval, bounds_of(check)) for e in ests.values()))
    seen = {g: e for g, e in ests.items() if e.n} or ests
    worst = min(seen, key=lambda g: (np.nan_to_num(seen[g].value, nan=2.0), g))
    return Seq(seen[worst].value, seen[worst].interval, cap_small(verdict, small), method, groups=describe(ests))


KIND = CheckKind(
    name="group_accuracy",
    summary="the worst group's accuracy, at least `min`",
    params={**GROUPS, "min": Param(RATE, required=True, help="floor for the worst group's accuracy"), **STATS},
    shape=groups_shape,
    run=check_group_accuracy,
    monitor=monitor_group_accuracy,
    futility=True,
)
