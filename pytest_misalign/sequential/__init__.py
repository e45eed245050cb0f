"""Anytime-valid sequential gates (`--misalign-gate=sequential`): each task is scored chunk by chunk in
a seeded, stratified order, every check follows a confidence sequence that stays valid however often
it is looked at, and scoring stops once every check is decided (or can no longer be).

plan.py (units, order, chunks) -> monitors.py / paired.py (a sequence per check kind, on
sequences.py) -> futility.py -> run.py (the loop) -> verdicts.py (the `CheckResult`s).
"""

from __future__ import annotations

from ..tasks.prepare import PreparedTask
from ..checks.monitor import MONITORS, Seq, View, unmonitored
from .plan import Plan, make_plan
from .run import SequentialRun
from .verdicts import check_result


def start_run(task: PreparedTask, options) -> SequentialRun:
    """The task's run: its checks, and its regression tests when the baseline holds the task."""
    from ..baseline.regression import regression_tests
    from ..baseline.monitor import regression_state

    checks = list(zip(task.spec.checks, task.spec.check_names()))
    run = SequentialRun.start(task, checks, seed=options.seed, chunk=options.chunk)
    base = options.baseline.get(task.suite.name, task.spec.name) if options.baseline is not None else None
    if base is not None and not task.spec.is_perplexity:
        max_drop = task.spec.regression.max_drop if task.spec.regression.max_drop is not None else options.max_drop
        for name, by in regression_tests(task.spec):
            run.add(regression_state(task, base, task.spec.regression, max_drop, by, name))
    return run


__all__ = ["MONITORS", "Plan", "Seq", "SequentialRun", "View", "check_result", "make_plan",
           "start_run", "unmonitored"]
