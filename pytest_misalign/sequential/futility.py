"""Futility: stop monitoring a check that the remaining items cannot decide any more.

A check is futile when no extreme completion of its unscored items decides it, neither by its
sequence at the last item (the running intersection makes the sequence at the end the narrowest on
any path) nor by the final fixed-n test. The completions tried: every group of the check's `by`
all right or all wrong (2^k of them for k <= 4 groups; else everything right, everything wrong).
These are the completions that push a monotone quantity (accuracy, a group's accuracy, a gap)
furthest either way. Only for correctness-based kinds (they declare `futility=True`) on tasks without
`cluster:` (there the final test is a bootstrap, too slow to rerun after every chunk).
"""

from __future__ import annotations

import itertools

from ..checks import INCONCLUSIVE
from ..scoring.outcome import ItemOutcome, TaskOutcome
from ..spec.model import CheckSpec
from ..checks.kind import MonitorFn
from ..checks.monitor import View, at_confidence

MAX_GROUPS = 4


def _completions(check: CheckSpec, view: View):
    if not check.by:
        yield lambda pos: True
        yield lambda pos: False
        return
    labels = view.task.group_values(check.by)
    groups = list(dict.fromkeys(labels))
    if len(groups) > MAX_GROUPS:
        yield lambda pos: True
        yield lambda pos: False
        return
    for flags in itertools.product((True, False), repeat=len(groups)):
        right = dict(zip(groups, flags))
        yield lambda pos, right=right: right[labels[pos]]


def _synthetic(inst, right: bool) -> ItemOutcome:
    """An item answered right or wrong (for multiple choice: the gold choice or the next one)."""
    if isinstance(inst.answer, int) and inst.choices:
        prediction = inst.answer if right else (inst.answer + 1) % max(2, len(inst.choices))
        return ItemOutcome(inst.index, inst.answer, prediction % len(inst.choices), right)
    return ItemOutcome(inst.index, inst.answer, str(inst.answer) if right else "", right,
                       output=str(inst.answer) if right else "")


def futile(check: CheckSpec, view: View, monitor: MonitorFn, final, alpha_seq: float,
           final_confidence: float) -> bool:
    """True when no tried completion of the remaining items decides the check (see the module doc)."""
    n = len(view.task.instances)
    final_check = at_confidence(check, final_confidence)
    for right in _completions(check, view):
        items = dict(view.items)
        for pos in range(n):
            if pos not in items:
                items[pos] = _synthetic(view.task.instances[pos], right(pos))
        full = View(view.task, view.plan, len(view.plan.units), items)
        if monitor(check, full, alpha_seq).verdict != INCONCLUSIVE:
            return False
        outcome = TaskOutcome(view.task, [items[pos] for pos in range(n)])
        if final(final_check, outcome, "futility").verdict != INCONCLUSIVE:
            return False
    return True
