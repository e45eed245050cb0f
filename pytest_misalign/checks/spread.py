"""`spread: {max, confidence}` (suite level): the largest accuracy difference between the suite's tasks
with answers (Newcombe intervals, Bonferroni-level over the task pairs). Degenerate when a task has a
constant answer."""

from __future__ import annotations

from .. import stats
from ..scoring.diagnostics import diagnose
from ..scoring.outcome import TaskOutcome
from ..spec.kinds import Rule
from ..spec.model import CheckSpec, TaskSpec
from ..spec.params import RATE, STATS, Param
from .common import bounds_of, degenerate_text, verdict_of
from .kind import CheckKind
from .rules import plain_shape
from .monitor import METHOD, Seq, View, correctness, mean_of
from .result import INCONCLUSIVE, CheckResult, GroupStat
from ..stats.sequences import largest_abs_difference


def constant_tasks(outcomes: dict[str, TaskOutcome]) -> list[str]:
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
    reasons = constant_tasks(outcomes)
    return CheckResult(name, check.kind, high.accuracy - low.accuracy, *bounds, (lo, hi),
                       "Newcombe hybrid score" + (f", Bonferroni-level over {m} task pairs" if m > 1 else ""),
                       check.confidence, verdict, by="task", worst=(low, high), needed_n=needed,
                       needed_unit="items per task", notes=tuple(reasons), degenerate=degenerate_text(reasons))


def task_accuracies(views: dict[str, View], alpha: float) -> tuple[dict, str]:
    """Each task's accuracy sequence, at α split over the tasks."""
    level = alpha / len(views)
    return ({t: mean_of(v, correctness(v), level) for t, v in views.items()},
            f"{METHOD} per task accuracy at {1 - level:.4g}")


def monitor_spread(check: CheckSpec, views: dict[str, View], alpha: float) -> Seq:
    ests, method = task_accuracies(views, alpha)
    interval = largest_abs_difference({t: e.interval for t, e in ests.items()})
    values = [e.value for e in ests.values()]
    return Seq(max(values) - min(values), interval, verdict_of(*interval, bounds_of(check)), method)


def _two_answered(check: CheckSpec, tasks: dict[str, TaskSpec]) -> Rule | None:
    if len(tasks) < 2:
        return Rule("`spread` compares tasks and needs at least two")
    if sum(t.has_answers for t in tasks.values()) < 2:
        return Rule("`spread` compares the accuracies of tasks with answers and needs two of them "
                    "(`type: perplexity` and `type: sentence_pair` tasks are left out)")
    return None


KIND = CheckKind(
    name="spread",
    level="suite",
    summary="the largest accuracy difference between the suite's tasks, at most `max`",
    params={"max": Param(RATE, required=True, help="largest allowed accuracy difference between tasks"), **STATS},
    suite_rule=_two_answered,
    shape=plain_shape,
    run=check_spread,
    monitor=monitor_spread,
)
