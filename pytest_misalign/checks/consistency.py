"""Consistency: the share of questions answered the same across their variants."""

from __future__ import annotations

from .. import stats
from ..scoring.diagnostics import diagnose
from ..scoring.score import TaskOutcome, normalize
from ..spec.model import CheckSpec
from .common import bounds_of, constant_reason, degenerate_text, group_stats, nearest_bound, verdict_of
from .result import INCONCLUSIVE, CheckResult


def answer_key(outcome: TaskOutcome, position: int) -> str:
    """What counts as 'the same answer' across variants: the chosen choice's text, or the
    normalized generated text."""
    item = outcome.items[position]
    if item.output is not None:
        return normalize(item.output)
    return normalize(outcome.task.instances[position].choices[item.prediction])


def check_consistency(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    """Degenerate on a task with a constant answer: a model that always answers the same is
    perfectly consistent and that says nothing."""
    bounds = bounds_of(check)
    of = check.params["of"]
    answers: dict[str, list[str]] = {}
    for pos, inst in enumerate(outcome.task.instances):
        answers.setdefault(str(inst.fields[of]), []).append(answer_key(outcome, pos))
    n = len(answers)
    same = sum(1 for a in answers.values() if len(set(a)) == 1)
    value = same / n if n else float("nan")
    lo, hi = stats.wilson_interval(same, n, check.confidence)
    verdict = verdict_of(lo, hi, bounds)
    reasons = constant_reason(diagnose(outcome))
    notes = []
    singles = sum(1 for a in answers.values() if len(a) < 2)
    if singles:
        notes.append(f"{singles} questions have a single variant (trivially consistent)")
    worst = tuple(group_stats(outcome, check.by)[:2]) if check.by else ()
    needed = stats.required_n(value, nearest_bound(value, bounds), check.confidence) \
        if verdict == INCONCLUSIVE else None
    return CheckResult(name, check.kind, value, *bounds, (lo, hi), "Wilson score over questions",
                       check.confidence, verdict, by=check.by, worst=worst, needed_n=needed,
                       needed_unit="questions", notes=tuple(reasons + notes),
                       details={"questions": n, "consistent": same}, degenerate=degenerate_text(reasons))
