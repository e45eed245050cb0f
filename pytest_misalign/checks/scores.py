"""Checks on a free-form task's generation metric (`metric: token_f1 | bleu | chrf | rouge_l`):
`score` bounds the task value, `score_gap` the largest difference between groups. Values are on a
0-1 scale: the mean item score for token F1 and ROUGE-L, corpus BLEU / chrF for those (see
`metrics`). Intervals: a seeded percentile bootstrap over items (over `cluster:` clusters when the
task has them), recomputing the task value -- corpus BLEU / chrF from summed n-gram statistics --
in every resample; gaps resample within groups. Accuracy checks keep using match-correctness.
"""

from __future__ import annotations

import numpy as np

from .. import metrics
from ..errors import SuiteError
from ..metrics.bootstrap import bootstrap
from ..scoring.score import TaskOutcome
from ..spec.model import CheckSpec
from .common import bounds_of, verdict_of
from .metric_gap import MetricGroup, clusters, group_labels, interval_method, metric_gap
from .result import N_RESAMPLES, CheckResult


def generation_stats(outcome: TaskOutcome, check: CheckSpec) -> tuple[str, np.ndarray]:
    """The task's metric and its (n, d) per-item statistics."""
    metric = outcome.task.spec.metric
    if metric not in metrics.GENERATION_METRICS:
        raise SuiteError(f"check '{check.kind}' needs a free-form task with a generation metric, this task's "
                         f"metric is {metric!r}", path=outcome.task.suite.path, line=check.line,
                         task=outcome.task.spec.name, key="metric",
                         fix=f"add `generate: {{...}}` and `metric:` one of {', '.join(metrics.GENERATION_METRICS)}")
    outputs = [item.output or "" for item in outcome.items]
    refs = [str(inst.answer) for inst in outcome.task.instances]
    scores = np.array([np.nan if item.score is None else item.score for item in outcome.items])
    if np.isnan(scores).any():
        scores = metrics.item_scores(metric, outputs, refs)
    return metric, metrics.item_stats(metric, outputs, refs, scores)


def _value_fn(metric: str):
    return lambda summed: metrics.value_from_stats(metric, summed)


def check_score(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    bounds = bounds_of(check)
    metric, item_stats = generation_stats(outcome, check)
    value = float(metrics.value_from_stats(metric, item_stats.sum(axis=0))[0])
    iv = bootstrap(item_stats, _value_fn(metric), clusters=clusters(outcome), confidence=check.confidence,
                   n_resamples=N_RESAMPLES, seed=0)
    module = metrics.get(metric)
    scores = [item.score for item in outcome.items if item.score is not None]
    details = {"metric": metric, "n": outcome.n, "corpus_level": module.CORPUS,
               "mean_item_score": round(float(np.mean(scores)), 6) if scores else None}
    what = f"{module.LABEL} " + ("(corpus)" if module.CORPUS else "(mean item score)")
    notes = [f"{what} = {value:.3f} over {outcome.n} items; {module.REFERENCE}"] + ([iv.note] if iv.note else [])
    return CheckResult(name, check.kind, value, *bounds, (iv.lo, iv.hi), interval_method(iv, outcome, metric),
                       check.confidence, verdict_of(iv.lo, iv.hi, bounds), notes=tuple(notes), details=details)


def check_score_gap(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    metric, item_stats = generation_stats(outcome, check)
    labels = group_labels(outcome, check.by)
    groups = []
    for g in dict.fromkeys(labels):
        rows = item_stats[labels == g]
        groups.append(MetricGroup(g, len(rows), float(metrics.value_from_stats(metric, rows.sum(axis=0))[0])))
    return metric_gap(check, outcome, name, item_stats, _value_fn(metric), groups, metrics.get(metric).LABEL,
                      "items", {"metric": metric})
