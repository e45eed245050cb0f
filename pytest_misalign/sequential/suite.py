"""Suite-level checks under the sequential gate. A suite kind's monitor follows the tasks it reads
(`shift` and `spread`: one accuracy sequence per task, at the sequence's share of α, run.py, split over
those tasks; a difference lying in [l_i − u_j, u_i − l_j]). Each task first stops on its own checks;
while a suite check is undecided, every task it reads that has items left scores one more chunk, and
the sequences are looked at again (they are time-uniform, so resuming a stopped task costs nothing in
validity). When all those tasks run out, the fixed-n check decides at the final test's share. A suite
kind without a monitor has its tasks scored in full and is decided by its fixed-n check."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ..checks import INCONCLUSIVE, CheckResult
from ..checks.kind import CheckKind
from ..checks.monitor import View, at_confidence
from ..spec.model import CheckSpec
from .run import SEQUENCE_SHARE, SequentialRun


def _views(runs: dict[str, SequentialRun]) -> dict[str, View]:
    return {t: View(r.task, r.plan, r.n_units, r.items) for t, r in runs.items()}


def _resume(runs: dict[str, SequentialRun], advance: Callable[[SequentialRun], None]) -> None:
    for run in runs.values():
        if not run.exhausted:
            advance(run)


def suite_result(check: CheckSpec, kind: CheckKind, runs: dict[str, SequentialRun], name: str,
                 advance: Callable[[SequentialRun], None]) -> CheckResult:
    """Resume the tasks until the suite check is decided or they run out; its `CheckResult`."""
    if kind.monitor is None:
        return _unmonitored(check, kind, runs, name, advance)
    alpha = (1.0 - check.confidence) * SEQUENCE_SHARE
    level = 1.0 - (1.0 - check.confidence) * (1.0 - SEQUENCE_SHARE)
    at_level = at_confidence(check, level)
    seq = kind.monitor(check, _views(runs), alpha)
    while seq.verdict == INCONCLUSIVE and any(not r.exhausted for r in runs.values()):
        _resume(runs, advance)
        seq = kind.monitor(check, _views(runs), alpha)
    base = kind.run(at_level, {t: r.outcome() for t, r in runs.items()}, name)
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


def _unmonitored(check: CheckSpec, kind: CheckKind, runs: dict[str, SequentialRun], name: str,
                 advance: Callable[[SequentialRun], None]) -> CheckResult:
    """A suite kind without a sequence: every task it reads is scored in full, then the fixed-n check
    decides at 1 − α, exactly as under the confident gate."""
    while any(not r.exhausted for r in runs.values()):
        _resume(runs, advance)
    result = kind.run(check, {t: r.outcome() for t, r in runs.items()}, name)
    note = f"no sequence ({kind.no_monitor}): fixed-n interval on all items of its tasks, as the confident gate"
    details = {**result.details, "sequential": {t: {"n": r.n, "n_scored": r.n_scored} for t, r in runs.items()}}
    return replace(result, notes=(note,) + tuple(result.notes), details=details)
