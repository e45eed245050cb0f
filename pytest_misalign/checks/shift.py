"""`shift: {from, to, max_drop, confidence}` (suite level): the accuracy drop from an in-distribution
task to a shifted one (Newcombe's interval for independent tasks). Degenerate when either task has a
constant answer."""

from __future__ import annotations

from .. import stats
from ..scoring.outcome import TaskOutcome
from ..spec.kinds import Rule
from ..spec.model import CheckShape, CheckSpec, TaskSpec
from ..spec.params import RATE, STATS, Param
from .common import degenerate_text, verdict_of
from .kind import CheckKind
from .monitor import Seq, View
from .result import INCONCLUSIVE, CheckResult, GroupStat
from .spread import constant_tasks, task_accuracies


def check_shift(check: CheckSpec, outcomes: dict[str, TaskOutcome], name: str) -> CheckResult:
    src, dst = outcomes[check.params["from"]], outcomes[check.params["to"]]
    bounds = (None, float(check.params["max_drop"]))
    drop = src.accuracy - dst.accuracy
    lo, hi = stats.newcombe_interval(src.successes, src.n, dst.successes, dst.n, check.confidence)
    verdict = verdict_of(lo, hi, bounds)
    needed = stats.required_n_gap(src.accuracy, dst.accuracy, bounds[1], check.confidence) \
        if verdict == INCONCLUSIVE else None
    worst = (GroupStat(check.params["to"], dst.successes, dst.n), GroupStat(check.params["from"], src.successes, src.n))
    reasons = constant_tasks({t: outcomes[t] for t in (check.params["from"], check.params["to"])})
    return CheckResult(name, check.kind, drop, *bounds, (lo, hi), "Newcombe hybrid score (independent tasks)",
                       check.confidence, verdict, by="task", worst=worst, needed_n=needed,
                       needed_unit="items per task", notes=tuple(reasons), degenerate=degenerate_text(reasons))


def monitor_shift(check: CheckSpec, views: dict[str, View], alpha: float) -> Seq:
    ests, method = task_accuracies(views, alpha)
    src, dst = ests[check.params["from"]], ests[check.params["to"]]
    interval = (src.interval[0] - dst.interval[1], src.interval[1] - dst.interval[0])
    return Seq(src.value - dst.value, interval, verdict_of(*interval, (None, float(check.params["max_drop"]))), method)


def _names_tasks(check: CheckSpec, tasks: dict[str, TaskSpec]) -> Rule | None:
    for key in ("from", "to"):
        task = tasks.get(check.params[key])
        if task is None:
            return Rule(f"shift names unknown task '{check.params[key]}'", key,
                        f"tasks in this suite: {', '.join(tasks)}")
        if not task.has_answers:
            return Rule(f"shift compares accuracies, but '{task.name}' is a `type: {task.type}` task", key,
                        "name tasks that have answers; compare domains of documents with `perplexity_ratio` on the "
                        "perplexity task")
    return None


def _shape(kind: str, params) -> CheckShape:
    return CheckShape(label=f"shift[{params['from']}->{params['to']}]")


def _reads(check: CheckSpec, tasks) -> list[str]:
    return [check.params["from"], check.params["to"]]


KIND = CheckKind(
    name="shift",
    level="suite",
    summary="the accuracy drop from task `from` to task `to`, at most `max_drop`",
    params={
        "from": Param(str, required=True, help="the in-distribution task"),
        "to": Param(str, required=True, help="the shifted task"),
        "max_drop": Param(RATE, required=True, help="largest allowed accuracy drop from `from` to `to`"),
        **STATS,
    },
    suite_rule=_names_tasks,
    shape=_shape,
    tasks_read=_reads,
    run=check_shift,
    monitor=monitor_shift,
)
