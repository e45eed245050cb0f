"""`score_gap: {by, max, min_n, confidence}`: the largest difference of a free-form task's generation
metric between groups (a seeded bootstrap resampling within groups; `metric_gap.py`)."""

from __future__ import annotations

from .. import metrics
from ..scoring.outcome import TaskOutcome
from ..spec.model import CheckSpec
from ..spec.params import GROUPS, RATE, STATS, Param
from .kind import CheckKind
from .metric_gap import MetricGroup, group_labels, metric_gap
from .monitor import METHOD, Seq, View, group_estimates, item_score, spread_seq
from .result import CheckResult
from .score import corpus_metric, generation_stats, needs_generation_metric, value_fn


def check_score_gap(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    metric, item_stats = generation_stats(outcome, check)
    labels = group_labels(outcome, check.by)
    groups = []
    for g in dict.fromkeys(labels):
        rows = item_stats[labels == g]
        groups.append(MetricGroup(g, len(rows), float(metrics.value_from_stats(metric, rows.sum(axis=0))[0])))
    return metric_gap(check, outcome, name, item_stats, value_fn(metric), groups, metrics.get(metric).LABEL,
                      "items", {"metric": metric})


def monitor_score_gap(check: CheckSpec, view: View, alpha: float) -> Seq:
    ests, small = group_estimates(view, check, view.per_position(item_score), alpha)
    return spread_seq(check, ests, small, f"{METHOD} on each group's mean item score at "
                                          f"{1 - alpha / max(1, len(ests)):.4g}")


KIND = CheckKind(
    name="score_gap",
    summary="the largest difference of the generation metric between groups, at most `max`",
    params={**GROUPS, "max": Param(RATE, required=True, help="largest allowed difference of the generation metric "
                                                             "between groups"), **STATS},
    task_rule=needs_generation_metric,
    run=check_score_gap,
    monitor=monitor_score_gap,
    unmonitored=corpus_metric,
)
