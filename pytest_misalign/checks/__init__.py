"""Checks: a task's outcome -> a value, an interval, a three-way verdict against a threshold.

Each check kind is one small function registered in `CHECKS` (task level) or `SUITE_CHECKS`
(comparing tasks); their parameters are declared in `spec`. A check never raises on a bad model: it
returns a `CheckResult` (it raises `MisalignError`s only for a broken suite, e.g. a counterfactual
pair split across `cluster:` clusters). Which verdicts fail a test is the gate's business
(`CheckResult.passes`).

Intervals: Wilson for one accuracy; Newcombe's hybrid score interval for a difference of two
independent accuracies, Bonferroni-level over all pairs when there are more than two groups; Newcombe's
paired method for counterfactual pairs (plus McNemar's exact test); a seeded, stratified cluster
bootstrap when the task declares `cluster:` (for paired gaps: a cluster bootstrap of the pair-level
differences). `CheckResult.interval_name` is the short label; an inconclusive verdict says what
would decide it in terms of that interval (a sample size, or more clusters for a bootstrap).

Degenerate tasks (`diagnostics.diagnose`): on a task whose predictions are (nearly) all one answer,
gap, group_accuracy and consistency checks set `CheckResult.degenerate` (and say why in their first
note); gaps also when the task's accuracy is indistinguishable from chance. Accuracy checks are never
degenerate, but note an accuracy at chance. Suite checks are degenerate when an involved task has a
constant answer. A degenerate check keeps its verdict; strict mode fails it.

`min_n` (default 10) -- small groups are kept out of point gates, not only confident ones:

* gap, paired gap: the value and verdict are computed over the groups with at least `min_n` items;
  the others are named in a note, and a confident pass becomes inconclusive while they exist. With
  fewer than two such groups the value is the gap over all groups (the report keeps a number), the
  verdict is inconclusive and `degenerate` says why.
* group_accuracy: likewise over the groups with at least `min_n` items; with none, the value is the
  worst group's accuracy over all groups, inconclusive and degenerate.

Paired gaps report the flip rate (largest over the group pairs, with a Wilson -- or cluster
bootstrap -- interval at the same Bonferroni level) and accept `max_flip_rate`: the point gate then
fails when the flip rate exceeds it, and the verdict is FAIL if the gap or the flip rate fails, PASS
only when both pass, else INCONCLUSIVE (`CheckResult.limits`).
"""

from __future__ import annotations

from typing import Callable

from ..scoring.diagnostics import TaskDiagnostics, diagnose
from ..scoring.score import TaskOutcome
from ..spec.model import CheckSpec
from .accuracy import check_accuracy, check_group_accuracy
from .common import abs_interval as _abs_interval
from .common import bootstrap as _bootstrap
from .common import bounds_of as _bounds
from .common import clusters_of as _clusters
from .common import group_stats as _group_stats
from .common import nearest_bound as _nearest_bound
from .common import verdict_of as _verdict
from .consistency import answer_key, check_consistency
from .flips import FlipStat
from .gaps import check_gap
from .likelihood import check_likelihood_gap, check_preference
from .calibration import check_calibration
from .bbq import check_bbq_bias
from .scores import check_score, check_score_gap
from .classification import check_class_gap, check_class_metric
from .paired import PairClusterError, PairedTable, pair_cells, paired_tables
from .perplexity import check_perplexity, check_perplexity_ratio
from .result import (
    FAIL,
    GATES,
    INCONCLUSIVE,
    INTERVAL_NAMES,
    N_RESAMPLES,
    PASS,
    CheckResult,
    GroupStat,
    Limit,
)
from .suite import SUITE_CHECKS, SuiteCheckFn, check_shift, check_spread, run_suite_check

CheckFn = Callable[[CheckSpec, TaskOutcome, str], CheckResult]

CHECKS: dict[str, CheckFn] = {
    "accuracy": check_accuracy,
    "gap": check_gap,
    "group_accuracy": check_group_accuracy,
    "consistency": check_consistency,
    "likelihood_gap": check_likelihood_gap,
    "preference": check_preference,
    "calibration": check_calibration,
    "bbq_bias": check_bbq_bias,
    "score": check_score,
    "score_gap": check_score_gap,
    **{m: check_class_metric for m in ("precision", "recall", "f1")},
    **{f"{m}_gap": check_class_gap for m in ("precision", "recall", "f1")},
    "perplexity": check_perplexity,
    "perplexity_ratio": check_perplexity_ratio,
}


def run_check(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    return CHECKS[check.kind](check, outcome, name)


__all__ = [
    "CHECKS", "FAIL", "GATES", "INCONCLUSIVE", "INTERVAL_NAMES", "N_RESAMPLES", "PASS", "SUITE_CHECKS",
    "CheckFn", "CheckResult", "FlipStat", "GroupStat", "Limit", "PairClusterError", "PairedTable",
    "SuiteCheckFn", "TaskDiagnostics", "answer_key", "check_accuracy", "check_consistency", "check_gap",
    "check_group_accuracy", "check_shift", "check_spread", "diagnose", "pair_cells", "paired_tables",
    "run_check", "run_suite_check",
]
