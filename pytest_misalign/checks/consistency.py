"""`consistency: {of, min, by, confidence}`: the share of questions (items sharing `of`) answered the
same across their variants, with a Wilson interval over questions."""

from __future__ import annotations

import numpy as np

from .. import stats
from ..scoring.diagnostics import diagnose
from ..scoring.match import normalize
from ..scoring.outcome import TaskOutcome
from ..spec.model import CheckShape, CheckSpec
from ..spec.params import RATE, STATS, Param
from .common import bounds_of, constant_reason, degenerate_text, group_stats, nearest_bound, verdict_of
from .evidence import consistency_evidence
from .kind import CheckKind
from .monitor import METHOD, Seq, View, answer_text
from ..stats.sequences import ratio_cs
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


def monitor_consistency(check: CheckSpec, view: View, alpha: float) -> Seq:
    """One observation per question (`of`): 1 when all its variants got the same answer."""
    of = check.params["of"]
    keys: dict[str, list[int]] = {}
    for pos, inst in enumerate(view.task.instances):
        keys.setdefault(str(inst.fields[of]), []).append(pos)
    values, weights = np.zeros(len(view.task.instances)), np.zeros(len(view.task.instances))
    for members in keys.values():
        first = members[0]
        weights[first] = 1.0
        if view.plan.rank[first] < view.n_units:
            values[first] = float(len({answer_text(view, p) for p in members}) == 1)
    est = ratio_cs(*view.sums(values, weights), alpha)
    return Seq(est.value, est.interval, verdict_of(*est.interval, bounds_of(check)),
               f"{METHOD} over questions at {1 - alpha:.4g}")


def _shape(kind: str, params) -> CheckShape:
    of, by = params["of"], params.get("by")
    return CheckShape(label=f"{kind}[{of}]", reads={"of": of, **({"by": by} if by else {})}, unit=of)


KIND = CheckKind(
    name="consistency",
    summary="the share of questions answered the same across their variants, at least `min`",
    params={
        "of": Param(str, required=True, help="item field identifying the question its variants share"),
        "min": Param(RATE, required=True, help="floor for the share of questions answered the same"),
        "by": Param(str, help="item field naming the variant (accuracy is reported per variant)"),
        **STATS,
    },
    shape=_shape,
    run=check_consistency,
    monitor=monitor_consistency,
    evidence=consistency_evidence,
)
