"""Suite-level checks under the sequential gate: `shift` and `spread` compare task accuracies, so
they follow one accuracy sequence per task they read (at the sequence's share of α, run.py, split over
those tasks; a difference
lying in [l_i − u_j, u_i − l_j]). Each task first stops on its own checks; while a suite check is
undecided, every task it reads that has items left scores one more chunk, and the sequences are
looked at again (they are time-uniform, so resuming a stopped task costs nothing in validity).
When all those tasks run out, the fixed-n check decides at the final test's share."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ..checks import INCONCLUSIVE, CheckResult, run_suite_check
from ..checks.common import bounds_of, verdict_of
from ..spec.model import CheckSpec
from ..checks.monitor import METHOD, Seq, View, at_confidence, correctness, mean_of
from .run import SEQUENCE_SHARE, SequentialRun
from ..stats.sequences import largest_abs_difference


def _accuracy(run: SequentialRun, alpha: float):
    view = View(run.task, run.plan, run.n_units, run.items)
    return mean_of(view, correctness(view), alpha)


def suite_monitor(check: CheckSpec, runs: dict[str, SequentialRun], alpha: float) -> Seq:
    level = alpha / len(runs)
    ests = {t: _accuracy(r, level) for t, r in runs.items()}
    method = f"{METHOD} per task accuracy at {1 - level:.4g}"
    if check.kind == "shift":
        src, dst = ests[check.params["from"]], ests[check.params["to"]]
        interval = (src.interval[0] - dst.interval[1], src.interval[1] - dst.interval[0])
        return Seq(src.value - dst.value, interval, verdict_of(*interval, (None, float(check.params["max_drop"]))),
                   method)
    interval = largest_abs_difference({t: e.interval for t, e in ests.items()})
    values = [e.value for e in ests.values()]
    return Seq(max(values) - min(values), interval, verdict_of(*interval, bounds_of(check)), method)


def suite_result(check: CheckSpec, runs: dict[str, SequentialRun], name: str,
                 advance: Callable[[SequentialRun], None]) -> CheckResult:
    """Resume the tasks until the suite check is decided or they run out; its `CheckResult`."""
    alpha = (1.0 - check.confidence) * SEQUENCE_SHARE
    level = 1.0 - (1.0 - check.confidence) * (1.0 - SEQUENCE_SHARE)
    at_level = at_confidence(check, level)
    seq = suite_monitor(check, runs, alpha)
    while seq.verdict == INCONCLUSIVE and any(not r.exhausted for r in runs.values()):
        for run in runs.values():
            if not run.exhausted:
                advance(run)
        seq = suite_monitor(check, runs, alpha)
    base = run_suite_check(at_level, {t: r.outcome() for t, r in runs.items()}, name)
    scored = ", ".join(f"{t} {r.n_scored} of {r.n}" for t, r in runs.items())
    if seq.verdict == INCONCLUSIVE:
        note = (f"the sequences did not decide it ({scored} items): fixed-n interval at {level:.4g} on all "
                f"of them (the sequences had {alpha:.3g} of its α)")
        result = base
    else:
        note = f"decided by anytime-valid sequences after {scored} items"
        result = replace(base, value=seq.value, interval=seq.interval, method=seq.method, confidence=level,
                         verdict=seq.verdict, needed_n=None)
    details = {**result.details, "sequential": {t: {"n": r.n, "n_scored": r.n_scored} for t, r in runs.items()}}
    return replace(result, notes=(note,) + tuple(result.notes), details=details)
