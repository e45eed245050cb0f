"""A sequentially scored check's `CheckResult`: from its sequence when it settled (a check without a
sequence: from its fixed-n interval at the look that decided it), else from the fixed-n interval on
all the items at the final test's share of α (run.py); on a task scored in full for another reason,
the fixed-n check at 1 − α."""

from __future__ import annotations

from dataclasses import replace

from ..checks import INCONCLUSIVE, CheckResult
from ..checks.monitor import at_confidence
from .run import DECIDED, FINAL, FULL, FUTILE, CheckState, SequentialRun


def check_result(run: SequentialRun, name: str) -> CheckResult:
    state = run.states[name]
    if run.blockers:
        result = state.final(state.check, run.outcome(), name)
        return _with(result, run, state, FULL, f"its task is scored in full ({run.blockers[0]}): fixed-n interval "
                                             f"on all {run.n_scored} items, as the confident gate")
    if state.why_not is not None and state.status == DECIDED:
        return _with(state.look_result, run, state, DECIDED,
                     f"no sequence ({state.why_not}): decided after {state.items} of {run.n} items by its fixed-n "
                     f"interval at {state.look_confidence:.4g} (its look at half the task, fixed in advance)")
    if state.settled and not (state.status == FUTILE and run.exhausted):
        return _from_sequence(run, state)
    level = state.final_confidence
    result = state.final(at_confidence(state.check, level), run.outcome(), name)
    return _with(result, run, state, FINAL,
                 f"the sequence did not decide it in {run.n_scored} items: fixed-n interval at {level:.4g} on all "
                 f"of them (the sequence had {state.alpha_sequence:.3g} of the check's α = {state.alpha:.3g})")


def _from_sequence(run: SequentialRun, state: CheckState) -> CheckResult:
    seq, level = state.seq, state.final_confidence
    base = state.final(at_confidence(state.check, level), run.outcome(state.units), state.name)
    if state.status == DECIDED:
        note = f"decided after {state.items} of {run.n} items by its anytime-valid sequence"
    else:
        note = (f"stopped for futility after {state.items} of {run.n} items: no extreme completion of the "
                f"remaining {run.n - state.items} items (each group all right or all wrong) could decide it")
    result = replace(base, value=seq.value if seq.value == seq.value else base.value, interval=seq.interval,
                     method=seq.method, confidence=level, verdict=seq.verdict, needed_n=None,
                     limits=seq.limits or base.limits)
    if state.status == FUTILE:  # the fixed-n estimate of the items that would have decided it
        result = replace(result, verdict=INCONCLUSIVE, needed_n=base.needed_n)
    return _with(result, run, state, state.status, note)


def _with(result: CheckResult, run: SequentialRun, state: CheckState, how: str, note: str) -> CheckResult:
    items = state.items if how in (DECIDED, FUTILE) else run.n_scored
    details = {**result.details, "sequential": {"how": how, "n": run.n, "n_scored": items,
                                                "items_saved": run.n - items}}
    if state.seq is not None and state.seq.groups:
        details["sequential"]["groups"] = state.seq.groups
    return replace(result, notes=(note,) + tuple(result.notes), details=details)
