"""What score gaps and classification gaps share: groups with their sizes and values, `min_n`, and
the bootstrap interval of the gap (signed `high - low` for two groups, `max - min` for more)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..scoring.diagnostics import diagnose
from ..metrics.bootstrap import Interval, bootstrap
from ..scoring.outcome import TaskOutcome
from ..spec.model import CheckSpec
from .common import abs_interval, bounds_of, constant_reason, degenerate_text, verdict_of
from .result import INCONCLUSIVE, N_RESAMPLES, PASS, CheckResult


@dataclass(frozen=True)
class MetricGroup:
    group: str
    n: int  # the items the group's value is a rate over (what `min_n` counts)
    value: float

    def describe(self) -> str:
        return f"{self.group} {self.value:.3f} (n={self.n})"


def group_labels(outcome: TaskOutcome, by: str) -> np.ndarray:
    return np.array(outcome.task.group_values(by), dtype=object)


def clusters(outcome: TaskOutcome) -> np.ndarray | None:
    field_ = outcome.task.spec.cluster
    return None if field_ is None else np.array([str(i.fields[field_]) for i in outcome.task.instances], dtype=object)


def interval_method(iv: Interval, outcome: TaskOutcome, what: str) -> str:
    if outcome.task.spec.cluster:
        return (f"cluster bootstrap over {iv.n_clusters} '{outcome.task.spec.cluster}' clusters of {what} "
                f"({N_RESAMPLES} resamples, percentile)")
    return f"bootstrap over {iv.n_clusters} items of {what} ({N_RESAMPLES} resamples, percentile)"


def metric_gap(check: CheckSpec, outcome: TaskOutcome, name: str, item_stats: np.ndarray,
               value_fn: Callable[[np.ndarray], np.ndarray], groups: list[MetricGroup], what: str,
               unit: str, details: dict) -> CheckResult:
    """Largest difference of a metric between groups with at least `min_n` units. With fewer than two
    such groups the value is the gap over all groups, inconclusive and degenerate; smaller groups are
    named in a note and turn a confident pass inconclusive."""
    bounds = bounds_of(check)
    qualifying = [g for g in groups if g.n >= check.min_n]
    small = [g for g in groups if g.n < check.min_n]
    enough = len(qualifying) >= 2
    used = sorted(qualifying if enough else groups, key=lambda g: (g.value, g.group))
    value = used[-1].value - used[0].value if len(used) >= 2 else 0.0
    reasons = constant_reason(diagnose(outcome))
    if not enough:
        reasons.append(f"fewer than two groups have at least {check.min_n} {unit}: the gap over all groups "
                       "is shown but decides nothing")
    notes = [f"groups below min_n={check.min_n} {unit} " + ("are left out of the value and verdict: " if enough
             else "(too small to trust): ") + ", ".join(f"{g.group} ({g.n})" for g in small)] if small else []
    labels = group_labels(outcome, check.by)
    mask = np.isin(labels, [g.group for g in used])
    cl = clusters(outcome)
    iv = bootstrap(item_stats[mask], value_fn, clusters=None if cl is None else cl[mask], groups=labels[mask],
                   order=[g.group for g in used], confidence=check.confidence, n_resamples=N_RESAMPLES, seed=0,
                   widen=(-1.0, 1.0))
    lo, hi = abs_interval(iv.lo, iv.hi) if len(used) == 2 else (max(iv.lo, 0.0), iv.hi)
    verdict = verdict_of(lo, hi, bounds)
    verdict = (INCONCLUSIVE if small and verdict == PASS else verdict) if enough else INCONCLUSIVE
    notes.append(" vs ".join(g.describe() for g in (used[0], used[-1])) + f" ({what})")
    notes += [iv.note] if iv.note else []
    details = {**details, "groups": {g.group: {"n": g.n, "value": round(g.value, 6)} for g in groups}}
    return CheckResult(name, check.kind, value, *bounds, (lo, hi), interval_method(iv, outcome, what),
                       check.confidence, verdict, by=check.by, notes=tuple(reasons + notes), details=details,
                       degenerate=degenerate_text(reasons))
