"""Anytime-valid sequential gates (`--misalign-gate=sequential`): each task is scored chunk by chunk in
a seeded, stratified order, every check follows a confidence sequence that stays valid however often
it is looked at, and scoring stops once every check is decided (or can no longer be).

plan.py (units, order, chunks) -> each kind's monitor (`CheckKind.monitor`, on `checks/monitor.py` and
`stats/sequences.py`) -> futility.py -> run.py (the loop) -> verdicts.py (the `CheckResult`s);
suite.py resumes tasks for suite-level checks.
"""

from __future__ import annotations

from ..baseline.monitor import regression_parts
from ..baseline.regression import regression_tests
from ..checks.registry import KindRegistry
from ..tasks.instance import PreparedTask
from .plan import Plan, make_plan
from .run import CheckState, SequentialRun
from .verdicts import check_result


def start_run(task: PreparedTask, options, kinds: KindRegistry) -> SequentialRun:
    """The task's run: its checks, and its regression tests when the baseline holds the task."""
    checks = list(zip(task.spec.checks, task.spec.check_names()))
    run = SequentialRun.start(task, checks, kinds, seed=options.seed, chunk=options.chunk)
    base = options.baseline.get(task.suite.name, task.spec.name) if options.baseline is not None else None
    if base is not None and task.spec.has_answers:
        max_drop = task.spec.regression.max_drop if task.spec.regression.max_drop is not None else options.max_drop
        for name, by in regression_tests(task.spec):
            check, monitor, final = regression_parts(task, base, task.spec.regression, max_drop, by)
            run.add(CheckState(check, name, None, monitor, final))
    return run


__all__ = ["CheckState", "Plan", "SequentialRun", "check_result", "make_plan", "start_run"]
