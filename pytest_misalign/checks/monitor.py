"""One anytime-valid monitor per check kind: the check's quantity, its confidence sequence on the
items scored so far, and the verdict the sequence supports (`MONITORS`, by check kind).

Levels (α is what the monitor is given, the sequence's share of the check's error budget):
accuracy, consistency, preference and score use one sequence at α. group_accuracy, gap and score_gap
use one sequence per group at α/k (k groups of at least `min_n` items in the whole task: every
group's interval holds at once), a gap between groups i and j lying in [l_i − u_j, u_i − l_j]. A paired
gap uses, per pair of groups, a sequence of (d + 1)/2 over the pairs (d = correct in one group minus
in the other) at α/m for m group pairs (α/2m each when `max_flip_rate` adds a flip-rate sequence).
Groups with fewer than `min_n` items in the whole task are left out, as in the fixed-n checks, and
keep a pass undecided. Checks without a monitor here (`unmonitored`) keep their task scoring to the end.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from .. import metrics
from .common import bounds_of, verdict_of
from .result import INCONCLUSIVE, PASS, Limit, combine
from ..scoring.score import ItemOutcome, normalize
from ..spec.model import CheckSpec
from ..tasks.prepare import PreparedTask
from ..sequential.plan import Plan
from ..stats.sequences import Estimate, abs_interval, largest_abs_difference, ratio_cs

METHOD = "anytime-valid predictable-mixture empirical-Bernstein confidence sequence"


@dataclass
class View:
    """A task part-way through sequential scoring: its plan, how many units are scored, the outcomes."""

    task: PreparedTask
    plan: Plan
    n_units: int
    items: dict[int, ItemOutcome]  # by position in task.instances

    @property
    def scored(self) -> np.ndarray:
        return self.plan.rank < self.n_units

    def per_position(self, value: Callable[[ItemOutcome], float]) -> np.ndarray:
        out = np.full(len(self.task.instances), np.nan)
        for pos, item in self.items.items():
            if self.plan.rank[pos] < self.n_units:
                out[pos] = value(item)
        return out

    def sums(self, values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(num per scored unit, den per unit of the task) for Σ weight·value / Σ weight."""
        rank, scored = self.plan.rank, self.scored
        den = np.bincount(rank, weights=weights, minlength=len(self.plan.units))
        num = np.bincount(rank[scored], weights=(values * weights)[scored], minlength=len(self.plan.units))
        return num[:self.n_units], den


@dataclass(frozen=True)
class Seq:
    value: float
    interval: tuple[float, float]
    verdict: str
    method: str
    limits: tuple[Limit, ...] = ()
    groups: dict | None = None  # per-group (value, interval) where the check is over groups


def at_confidence(check: CheckSpec, confidence: float) -> CheckSpec:
    """The check at another confidence (the final fixed-n test's share of α)."""
    return replace(check, params={**check.params, "confidence": confidence})


def correctness(view: View) -> np.ndarray:
    return view.per_position(lambda item: float(item.correct))


def mean_of(view: View, values: np.ndarray, alpha: float) -> Estimate:
    return ratio_cs(*view.sums(values, np.ones(values.size)), alpha)


def monitor_accuracy(check: CheckSpec, view: View, alpha: float) -> Seq:
    est = mean_of(view, correctness(view), alpha)
    return Seq(est.value, est.interval, verdict_of(*est.interval, bounds_of(check)), f"{METHOD} at {1 - alpha:.4g}")


def _groups(view: View, check: CheckSpec) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each group's membership weights over positions (whole task), and the groups below `min_n`."""
    memberships = view.task.group_memberships(check.by)
    labels = list(dict.fromkeys(label for m in memberships for label in m))
    weights = {g: np.array([1.0 if g in m else 0.0 for m in memberships]) for g in labels}
    small = [g for g, w in weights.items() if w.sum() < check.min_n]
    return {g: w for g, w in weights.items() if g not in small}, small


def _group_estimates(view: View, check: CheckSpec, values: np.ndarray, alpha: float) -> tuple[dict, list[str]]:
    weights, small = _groups(view, check)
    level = alpha / max(1, len(weights))
    return {g: ratio_cs(*view.sums(values, w), level) for g, w in weights.items()}, small


def _cap(verdict: str, small: list[str]) -> str:
    return INCONCLUSIVE if verdict == PASS and small else verdict


def monitor_group_accuracy(check: CheckSpec, view: View, alpha: float) -> Seq:
    ests, small = _group_estimates(view, check, correctness(view), alpha)
    method = f"{METHOD} per group at {1 - alpha / max(1, len(ests)):.4g}"
    if not ests:
        return Seq(float("nan"), (0.0, 1.0), INCONCLUSIVE, method)
    bounds = bounds_of(check)
    verdicts = [verdict_of(*e.interval, bounds) for e in ests.values()]
    verdict = combine(*verdicts)
    seen = {g: e for g, e in ests.items() if e.n} or ests
    worst = min(seen, key=lambda g: (np.nan_to_num(seen[g].value, nan=2.0), g))
    return Seq(seen[worst].value, seen[worst].interval, _cap(verdict, small), method, groups=_describe(ests))


def _describe(ests: dict[str, Estimate]) -> dict:
    return {g: {"value": e.value, "interval": list(e.interval), "n": e.n, "total": e.total} for g, e in ests.items()}


def _spread(check: CheckSpec, ests: dict[str, Estimate], small: list[str], method: str) -> Seq:
    if len(ests) < 2:
        return Seq(float("nan"), (0.0, 1.0), INCONCLUSIVE, method, groups=_describe(ests))
    points = [e.value for e in ests.values() if e.n]
    value = max(points) - min(points) if len(points) >= 2 else float("nan")
    interval = largest_abs_difference({g: e.interval for g, e in ests.items()})
    return Seq(value, interval, _cap(verdict_of(*interval, bounds_of(check)), small), method,
               groups=_describe(ests))


def monitor_gap(check: CheckSpec, view: View, alpha: float) -> Seq:
    if check.pair_field:
        from .paired_monitor import monitor_paired_gap

        return monitor_paired_gap(check, view, alpha)
    ests, small = _group_estimates(view, check, correctness(view), alpha)
    return _spread(check, ests, small, f"{METHOD} per group at {1 - alpha / max(1, len(ests)):.4g}")


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
            values[first] = float(len({_answer(view, p) for p in members}) == 1)
    est = ratio_cs(*view.sums(values, weights), alpha)
    return Seq(est.value, est.interval, verdict_of(*est.interval, bounds_of(check)),
               f"{METHOD} over questions at {1 - alpha:.4g}")


def _answer(view: View, pos: int) -> str:
    item = view.items[pos]
    if item.output is not None:
        return normalize(item.output)
    return normalize(view.task.instances[pos].choices[item.prediction])


def monitor_preference(check: CheckSpec, view: View, alpha: float) -> Seq:
    from ..scoring import probes

    more, less = probes.text_key(check.params["more"]), probes.text_key(check.params["less"])
    est = mean_of(view, view.per_position(lambda i: float(i.extra[more] > i.extra[less])), alpha)
    lo, hi = abs_interval(est.interval[0] - 0.5, est.interval[1] - 0.5)
    bound = float(check.params["max_deviation"])
    return Seq(abs(est.value - 0.5), (lo, hi), verdict_of(lo, hi, (None, bound)),
               f"{METHOD} on the share preferring `more` at {1 - alpha:.4g}")


def _item_score(item: ItemOutcome) -> float:
    return float(item.score)


def monitor_score(check: CheckSpec, view: View, alpha: float) -> Seq:
    est = mean_of(view, view.per_position(_item_score), alpha)
    return Seq(est.value, est.interval, verdict_of(*est.interval, bounds_of(check)),
               f"{METHOD} on the mean item score at {1 - alpha:.4g}")


def monitor_score_gap(check: CheckSpec, view: View, alpha: float) -> Seq:
    ests, small = _group_estimates(view, check, view.per_position(_item_score), alpha)
    return _spread(check, ests, small, f"{METHOD} on each group's mean item score at "
                                       f"{1 - alpha / max(1, len(ests)):.4g}")


def monitor_bbq_bias(check: CheckSpec, view: View, alpha: float) -> Seq:
    from .bbq_monitor import monitor_bbq

    return monitor_bbq(check, view, alpha)


MonitorFn = Callable[[CheckSpec, View, float], Seq]

MONITORS: dict[str, MonitorFn] = {
    "accuracy": monitor_accuracy,
    "group_accuracy": monitor_group_accuracy,
    "gap": monitor_gap,
    "consistency": monitor_consistency,
    "preference": monitor_preference,
    "score": monitor_score,
    "score_gap": monitor_score_gap,
    "bbq_bias": monitor_bbq_bias,
}

WHY_NOT = {
    "likelihood_gap": "its per-pair log-likelihood differences are unbounded (a sequence needs a bounded mean)",
    "calibration": "expected calibration error is not a mean of per-item values",
    "perplexity": "perplexity is unbounded",
    "perplexity_ratio": "perplexity is unbounded",
}


def unmonitored(check: CheckSpec, task: PreparedTask) -> str | None:
    """Why the check has no sequence (it then keeps its task scoring to the end); None: it has one."""
    if check.kind in ("score", "score_gap") and metrics.get(task.spec.metric).CORPUS:
        return f"corpus-level {task.spec.metric} is not a mean of per-item scores"
    if check.kind in MONITORS:
        return None
    return WHY_NOT.get(check.kind, f"{check.kind} is a ratio of counts, not a bounded mean")


__all__ = ["MONITORS", "METHOD", "MonitorFn", "Seq", "View", "at_confidence", "correctness", "mean_of",
           "unmonitored"]
