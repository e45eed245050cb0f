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
from ..scoring.outcome import TaskOutcome
from ..spec.kinds import Rule
from ..spec.model import GENERATION_METRICS, SCORED_METRICS, CheckSpec, TaskSpec
from ..spec.params import STATS, bounds
from .common import bounds_of, verdict_of
from .kind import CheckKind
from .metric_gap import clusters, interval_method
from .monitor import Seq, View, item_score, mean_seq
from .rules import bound_rule
from .result import N_RESAMPLES, CheckResult


def generation_stats(outcome: TaskOutcome, check: CheckSpec) -> tuple[str, np.ndarray]:
    """The task's metric and its (n, d) per-item statistics."""
    metric = outcome.task.spec.metric
    if metric not in metrics.SCORED_METRICS:
        raise SuiteError(f"check '{check.kind}' needs a task whose metric scores every item, this task's "
                         f"metric is {metric!r}", path=outcome.task.suite.path, line=check.line,
                         task=outcome.task.spec.name, key="metric",
                         fix=f"`metric:` one of {', '.join(metrics.SCORED_METRICS)}")
    if metric in metrics.CHOICE_METRICS:  # a mean of the item scores scoring computed
        scores = np.array([item.score for item in outcome.items], dtype=np.float64)
        return metric, np.column_stack([scores, np.ones(len(scores))])
    outputs = [item.output or "" for item in outcome.items]
    refs = [str(inst.answer) for inst in outcome.task.instances]
    scores = np.array([np.nan if item.score is None else item.score for item in outcome.items])
    if np.isnan(scores).any():
        scores = metrics.item_scores(metric, outputs, refs)
    return metric, metrics.item_stats(metric, outputs, refs, scores)


def value_fn(metric: str):
    return lambda summed: metrics.value_from_stats(metric, summed)


def check_score(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    bounds = bounds_of(check)
    metric, item_stats = generation_stats(outcome, check)
    value = float(metrics.value_from_stats(metric, item_stats.sum(axis=0))[0])
    iv = bootstrap(item_stats, value_fn(metric), clusters=clusters(outcome), confidence=check.confidence,
                   n_resamples=N_RESAMPLES, seed=0)
    module = metrics.get(metric)
    scores = [item.score for item in outcome.items if item.score is not None]
    details = {"metric": metric, "n": outcome.n, "corpus_level": module.CORPUS,
               "mean_item_score": round(float(np.mean(scores)), 6) if scores else None}
    what = f"{module.LABEL} " + ("(corpus)" if module.CORPUS else "(mean item score)")
    notes = [f"{what} = {value:.3f} over {outcome.n} items; {module.REFERENCE}"] + ([iv.note] if iv.note else [])
    return CheckResult(name, check.kind, value, *bounds, (iv.lo, iv.hi), interval_method(iv, outcome, metric),
                       check.confidence, verdict_of(iv.lo, iv.hi, bounds), notes=tuple(notes), details=details)


def monitor_score(check: CheckSpec, view: View, alpha: float) -> Seq:
    return mean_seq(check, view, view.per_position(item_score), alpha, " on the mean item score")


def corpus_metric(check: CheckSpec, task: TaskSpec) -> str | None:
    """Corpus BLEU / chrF is not a mean of item scores: no sequence follows it."""
    if task.metric in metrics.GENERATION_METRICS and metrics.get(task.metric).CORPUS:
        return f"corpus-level {task.metric} is not a mean of per-item scores"
    return None


def needs_generation_metric(check: CheckSpec, task: TaskSpec) -> Rule | None:
    if task.metric in SCORED_METRICS:
        return None
    return Rule(f"check '{check.kind}' bounds a generation metric, and this task has none",
                fix=f"on a free-form task (`generate:`) add `metric:` one of {', '.join(GENERATION_METRICS)}"
                    + ("" if task.is_generation else "; on multiple choice use `metric: mc2` (labelled choices), "
                                                     "accuracy, or precision/recall/f1"))


KIND = CheckKind(
    name="score",
    summary="a task's item-scoring metric (token_f1, bleu, chrf, rouge_l; mc2), 0-1, between `min` and `max`",
    params={**bounds("task's generation metric (0-1)"), **STATS},
    rules=bound_rule("score"),
    task_rule=needs_generation_metric,
    run=check_score,
    monitor=monitor_score,
    unmonitored=corpus_metric,
)
