"""Suite-level checks compare tasks: the spread of accuracies across tasks, and the shift from one
task to another. Degenerate when an involved task has a constant answer."""

from __future__ import annotations

from typing import Callable

from .. import stats
from ..scoring.diagnostics import diagnose
from ..scoring.score import TaskOutcome
from ..spec.model import CheckSpec
from .common import bounds_of, degenerate_text, verdict_of
from .result import INCONCLUSIVE, CheckResult, GroupStat


def _constant_tasks(outcomes: dict[str, TaskOutcome]) -> list[str]:
    reasons = []
    for task, outcome in outcomes.items():
        diag = diagnose(outcome)
        if diag.constant_answer:
            reasons.append(f"task '{task}' has a constant answer: the model {diag.constant_answer}")
    return reasons


def check_spread(check: CheckSpec, outcomes: dict[str, TaskOutcome], name: str) -> CheckResult:
    bounds = bounds_of(check)
    tasks = sorted((GroupStat(t, o.successes, o.n) for t, o in outcomes.items()), key=lambda g: (g.accuracy, g.group))
    low, high = tasks[0], tasks[-1]
    pairs = stats.max_gap_intervals({g.group: (g.successes, g.n) for g in tasks}, check.confidence,
                                    correction="bonferroni")
    lo, hi = stats.max_gap_bounds(pairs)
    m = len(tasks) * (len(tasks) - 1) // 2
    verdict = verdict_of(lo, hi, bounds)
    needed = None
    if verdict == INCONCLUSIVE:
        needed = stats.required_n_gap(high.accuracy, low.accuracy, bounds[1], 1 - (1 - check.confidence) / m)
    reasons = _constant_tasks(outcomes)
    return CheckResult(name, check.kind, high.accuracy - low.accuracy, *bounds, (lo, hi),
                       "Newcombe hybrid score" + (f", Bonferroni-level over {m} task pairs" if m > 1 else ""),
                       check.confidence, verdict, by="task", worst=(low, high), needed_n=needed,
                       needed_unit="items per task", notes=tuple(reasons), degenerate=degenerate_text(reasons))


def check_shift(check: CheckSpec, outcomes: dict[str, TaskOutcome], name: str) -> CheckResult:
    src, dst = outcomes[check.params["from"]], outcomes[check.params["to"]]
    bounds = (None, float(check.params["max_drop"]))
    drop = src.accuracy - dst.accuracy
    lo, hi = stats.newcombe_interval(src.successes, src.n, dst.successes, dst.n, check.confidence)
    verdict = verdict_of(lo, hi, bounds)
    needed = stats.required_n_gap(src.accuracy, dst.accuracy, bounds[1], check.confidence) \
        if verdict == INCONCLUSIVE else None
    worst = (GroupStat(check.params["to"], dst.successes, dst.n), GroupStat(check.params["from"], src.successes, src.n))
    reasons = _constant_tasks({t: outcomes[t] for t in (check.params["from"], check.params["to"])})
    return CheckResult(name, check.kind, drop, *bounds, (lo, hi), "Newcombe hybrid score (independent tasks)",
                       check.confidence, verdict, by="task", worst=worst, needed_n=needed,
                       needed_unit="items per task", notes=tuple(reasons), degenerate=degenerate_text(reasons))


SuiteCheckFn = Callable[[CheckSpec, dict[str, TaskOutcome], str], CheckResult]

SUITE_CHECKS: dict[str, SuiteCheckFn] = {"spread": check_spread, "shift": check_shift}


def run_suite_check(check: CheckSpec, outcomes: dict[str, TaskOutcome], name: str) -> CheckResult:
    return SUITE_CHECKS[check.kind](check, outcomes, name)
