"""`accuracy: {min, max, confidence}`: the task's accuracy, with a Wilson interval (a cluster bootstrap
when the task declares `cluster:`). Never degenerate; a note says so when the accuracy is
indistinguishable from chance."""

from __future__ import annotations

from .. import stats
from ..scoring.diagnostics import diagnose
from ..scoring.outcome import TaskOutcome
from ..spec.model import CheckSpec
from ..spec.params import STATS, bounds
from .common import bootstrap, bootstrap_method, bounds_of, nearest_bound, verdict_of
from .kind import CheckKind
from .rules import bound_rule
from .monitor import View, correctness, mean_seq
from .result import INCONCLUSIVE, CheckResult


def check_accuracy(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    """Never degenerate; a note says so when the accuracy is indistinguishable from chance."""
    bounds = bounds_of(check)
    value = outcome.accuracy
    diag = diagnose(outcome)
    notes = [diag.chance_sentence()] if diag.at_chance else []
    if outcome.task.spec.cluster:
        boot = bootstrap(outcome, check)
        (lo, hi), method = (boot.lo, boot.hi), bootstrap_method(boot, outcome.task.spec.cluster)
        notes += [boot.note] if boot.note else []
    else:
        (lo, hi), method = stats.wilson_interval(outcome.successes, outcome.n, check.confidence), "Wilson score"
    verdict = verdict_of(lo, hi, bounds)
    needed = stats.required_n(value, nearest_bound(value, bounds), check.confidence) \
        if verdict == INCONCLUSIVE and not outcome.task.spec.cluster else None
    return CheckResult(name, check.kind, value, *bounds, (lo, hi), method, check.confidence, verdict,
                       needed_n=needed, notes=tuple(notes),
                       details={"successes": outcome.successes, "n": outcome.n})


def monitor_accuracy(check: CheckSpec, view: View, alpha: float):
    return mean_seq(check, view, correctness(view), alpha)


KIND = CheckKind(
    name="accuracy",
    summary="the task's accuracy, between `min` and `max`",
    params={**bounds("task accuracy"), **STATS},
    rules=bound_rule("accuracy"),
    run=check_accuracy,
    monitor=monitor_accuracy,
    futility=True,
)
