"""Suite-level checks over domains: named sets of the suite's tasks (knowledge blindspots: law,
medicine, finance, ...). A domain's accuracy is the share of right answers over all the items of its
tasks (pooled, lm-eval's `weight_by_size` group aggregate).

* `domain_accuracy: {domains, min, confidence}`: the lowest domain accuracy at least `min`. Each
  domain's Wilson interval at the Bonferroni level over the domains, so all hold together; the value
  is the lowest accuracy, its interval [lowest lower bound, lowest upper bound]. A task with a
  constant answer is named in a note (a floor on accuracy still means what it says).
* `domain_gap: {domains, max, confidence}`: the largest accuracy difference between two domains at
  most `max` (Newcombe intervals, Bonferroni over the domain pairs, as `spread` over tasks);
  degenerate when a task has a constant answer (a gap between constant answers says nothing).

`domains: {law: [mmlu_professional_law, ...], medicine: [...]}` (a YAML anchor lets both checks
share one mapping). Sequentially (the monitors) the tasks may stop at different points, so a domain's
accuracy is the mean of its tasks' accuracies weighted by their sizes (the pooled accuracy once all are
scored), and its interval the same weighting of the tasks' anytime-valid intervals, each task at α
split over all the tasks read (Bonferroni: every domain interval holds at once).
"""

from __future__ import annotations

import numpy as np

from .. import stats
from ..scoring.outcome import TaskOutcome
from ..spec.kinds import Rule
from ..spec.model import CheckShape, CheckSpec, TaskSpec
from ..spec.params import RATE, STATS, Param
from ..stats.sequences import largest_abs_difference
from .common import degenerate_text, verdict_of
from .kind import CheckKind
from .monitor import Seq, View
from .result import CheckResult, GroupStat
from .spread import constant_tasks, task_accuracies


def domains_of(check: CheckSpec) -> dict[str, list[str]]:
    return {str(d): [str(t) for t in tasks] for d, tasks in check.params["domains"].items()}


def domain_intervals(check: CheckSpec, outcomes: dict[str, TaskOutcome], confidence: float
                     ) -> tuple[dict[str, GroupStat], dict[str, tuple[float, float]], dict[str, float], str]:
    """Per domain: pooled counts, a Wilson interval (all simultaneously at `confidence`) and the accuracy."""
    domains = domains_of(check)
    pooled = {d: GroupStat(d, sum(outcomes[t].successes for t in ts), sum(outcomes[t].n for t in ts))
              for d, ts in domains.items()}
    level = 1 - (1 - confidence) / len(domains)
    return (pooled, {d: stats.wilson_interval(g.successes, g.n, level) for d, g in pooled.items()},
            {d: g.accuracy for d, g in pooled.items()},
            f"Wilson score on each domain's pooled items, Bonferroni-level over {len(domains)} domains")


def check_domain_accuracy(check: CheckSpec, outcomes: dict[str, TaskOutcome], name: str) -> CheckResult:
    pooled, intervals, values, method = domain_intervals(check, outcomes, check.confidence)
    worst = min(values, key=lambda d: (values[d], d))
    lo, hi = min(iv[0] for iv in intervals.values()), min(iv[1] for iv in intervals.values())
    bound = float(check.params["min"])
    reasons = constant_tasks(outcomes)
    notes = ["domains: " + ", ".join(f"{d} {values[d]:.3f} [{intervals[d][0]:.3f}, {intervals[d][1]:.3f}] "
                                     f"(n={pooled[d].n})" for d in sorted(values, key=values.get))] + reasons
    return CheckResult(name, check.kind, values[worst], bound, None, (lo, hi), method, check.confidence,
                       verdict_of(lo, hi, (bound, None)), by="domain", worst=(pooled[worst],), notes=tuple(notes),
                       details={"domains": {d: {"accuracy": round(values[d], 6), "n": pooled[d].n,
                                                "interval": [round(x, 6) for x in intervals[d]],
                                                "tasks": domains_of(check)[d]} for d in values}})


def check_domain_gap(check: CheckSpec, outcomes: dict[str, TaskOutcome], name: str) -> CheckResult:
    pooled, intervals, values, method = domain_intervals(check, outcomes, check.confidence)
    bound = float(check.params["max"])
    order = sorted(values, key=lambda d: (values[d], d))
    low, high = order[0], order[-1]
    pairs = stats.max_gap_intervals({d: (g.successes, g.n) for d, g in pooled.items()}, check.confidence,
                                    correction="bonferroni")
    lo, hi = stats.max_gap_bounds(pairs)
    m = len(values) * (len(values) - 1) // 2
    method = "Newcombe hybrid score on pooled items" + (f", Bonferroni-level over {m} domain pairs" if m > 1 else "")
    reasons = constant_tasks(outcomes)
    return CheckResult(name, check.kind, values[high] - values[low], None, bound, (lo, hi), method, check.confidence,
                       verdict_of(lo, hi, (None, bound)), by="domain", worst=(pooled[low], pooled[high]),
                       notes=tuple(reasons), degenerate=degenerate_text(reasons),
                       details={"domains": {d: round(values[d], 6) for d in order}})


def _domain_seqs(check: CheckSpec, views: dict[str, View], alpha: float) -> tuple[dict, dict, str]:
    ests, method = task_accuracies(views, alpha)
    intervals, values = {}, {}
    for d, ts in domains_of(check).items():
        sizes = np.array([len(views[t].task.instances) for t in ts], dtype=np.float64)
        w = sizes / sizes.sum()
        intervals[d] = (float(w @ [ests[t].interval[0] for t in ts]), float(w @ [ests[t].interval[1] for t in ts]))
        values[d] = float(w @ [ests[t].value if ests[t].n else np.nan for t in ts])
    return intervals, values, method + ", weighted by task size within each domain"


def monitor_domain_accuracy(check: CheckSpec, views: dict[str, View], alpha: float) -> Seq:
    intervals, values, method = _domain_seqs(check, views, alpha)
    lo, hi = min(iv[0] for iv in intervals.values()), min(iv[1] for iv in intervals.values())
    return Seq(min(values.values()), (lo, hi), verdict_of(lo, hi, (float(check.params["min"]), None)), method,
               groups={d: {"value": values[d], "interval": list(iv)} for d, iv in intervals.items()})


def monitor_domain_gap(check: CheckSpec, views: dict[str, View], alpha: float) -> Seq:
    intervals, values, method = _domain_seqs(check, views, alpha)
    interval = largest_abs_difference(intervals)
    return Seq(max(values.values()) - min(values.values()), interval,
               verdict_of(*interval, (None, float(check.params["max"]))), method,
               groups={d: {"value": values[d], "interval": list(iv)} for d, iv in intervals.items()})


def _domain_rules(params) -> Rule | None:
    domains = params["domains"]
    if not domains or not all(isinstance(d, str) and isinstance(ts, list) and ts and all(isinstance(t, str) for t in ts)
                              for d, ts in domains.items()):
        return Rule("`domains` maps each domain name to a non-empty list of the suite's task names", "domains",
                    "e.g. `domains: {law: [mmlu_professional_law, mmlu_jurisprudence], medicine: [mmlu_anatomy]}`")
    tasks = [t for ts in domains.values() for t in ts]
    if len(set(tasks)) != len(tasks):
        return Rule("a task is in two domains", "domains", "put each task in one domain")
    return None


def _names_tasks(check: CheckSpec, tasks: dict[str, TaskSpec]) -> Rule | None:
    domains = domains_of(check)
    if len(domains) < 2 and check.kind == "domain_gap":
        return Rule("`domain_gap` compares domains and needs at least two", "domains")
    for d, ts in domains.items():
        for t in ts:
            if t not in tasks:
                return Rule(f"domain '{d}' names unknown task '{t}'", "domains",
                            f"tasks in this suite: {', '.join(tasks)}")
            if not tasks[t].has_answers:
                return Rule(f"domain '{d}': task '{t}' is a `type: {tasks[t].type}` task and has no accuracy",
                            "domains", "name tasks that have answers")
    return None


def _reads(check: CheckSpec, tasks) -> list[str]:
    return [t for ts in domains_of(check).values() for t in ts]


def _shape(kind: str, params) -> CheckShape:
    return CheckShape(label=kind)


DOMAINS = Param(dict, required=True, help="{domain: [task, ...]}: the tasks each domain pools")
KINDS = (
    CheckKind(name="domain_accuracy", level="suite",
              summary="the lowest accuracy over named domains (sets of tasks, items pooled), at least `min`",
              params={"domains": DOMAINS, "min": Param(RATE, required=True, help="floor for every domain's accuracy"),
                      **STATS},
              rules=_domain_rules, suite_rule=_names_tasks, shape=_shape, tasks_read=_reads,
              run=check_domain_accuracy, monitor=monitor_domain_accuracy),
    CheckKind(name="domain_gap", level="suite",
              summary="the largest accuracy difference between named domains (sets of tasks), at most `max`",
              params={"domains": DOMAINS, "max": Param(RATE, required=True,
                                                       help="largest allowed accuracy difference between domains"),
                      **STATS},
              rules=_domain_rules, suite_rule=_names_tasks, shape=_shape, tasks_read=_reads,
              run=check_domain_gap, monitor=monitor_domain_gap),
)
