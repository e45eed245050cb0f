"""What every kind's anytime-valid monitor shares: the `View` of a task part-way through sequential
scoring, the `Seq` a monitor returns, and the helpers for means and groups of means.

A monitor (`CheckKind.monitor`) is the check's quantity with its confidence sequence on the items
scored so far, and the verdict the sequence supports. Levels (α is what the monitor is given, the
sequence's share of the check's error budget, `sequential/run.py`): a mean uses one sequence at α;
a check over groups uses one sequence per group at α/k (k groups of at least `min_n` items in the
whole task: every group's interval holds at once), and a difference between groups i and j lies in
[l_i − u_j, u_i − l_j]. Groups with fewer than `min_n` items in the whole task are left out, as in
the fixed-n checks, and keep a pass undecided. Each kind's own monitor is in its module.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from ..scoring.match import normalize
from ..scoring.outcome import ItemOutcome
from ..spec.model import CheckSpec
from ..stats.sequences import Estimate, largest_abs_difference, ratio_cs
from ..tasks.instance import PreparedTask
from .common import bounds_of, verdict_of
from .result import INCONCLUSIVE, PASS, Limit

METHOD = "anytime-valid hedged-capital betting confidence sequence"


@dataclass
class View:
    """A task part-way through sequential scoring: its plan (`sequential/plan.py`: `units`, and
    `rank[position]`, the scoring rank of an item's unit), how many units are scored, the outcomes."""

    task: PreparedTask
    plan: Any
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


def item_score(item: ItemOutcome) -> float:
    return float(item.score)


def mean_of(view: View, values: np.ndarray, alpha: float) -> Estimate:
    return ratio_cs(*view.sums(values, np.ones(values.size)), alpha)


def mean_seq(check: CheckSpec, view: View, values: np.ndarray, alpha: float, what: str = "") -> Seq:
    """One sequence for a bounded mean against the check's `min`/`max`."""
    est = mean_of(view, values, alpha)
    return Seq(est.value, est.interval, verdict_of(*est.interval, bounds_of(check)),
               f"{METHOD}{what} at {1 - alpha:.4g}")


def group_weights(view: View, check: CheckSpec) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each group's membership weights over positions (whole task), and the groups below `min_n`."""
    memberships = view.task.group_memberships(check.by)
    labels = list(dict.fromkeys(label for m in memberships for label in m))
    weights = {g: np.array([1.0 if g in m else 0.0 for m in memberships]) for g in labels}
    small = [g for g, w in weights.items() if w.sum() < check.min_n]
    return {g: w for g, w in weights.items() if g not in small}, small


def group_estimates(view: View, check: CheckSpec, values: np.ndarray, alpha: float) -> tuple[dict, list[str]]:
    """One sequence per group of `by` (at α/k), and the groups below `min_n` (left out)."""
    weights, small = group_weights(view, check)
    level = alpha / max(1, len(weights))
    return {g: ratio_cs(*view.sums(values, w), level) for g, w in weights.items()}, small


def cap_small(verdict: str, small: list[str]) -> str:
    """Small groups keep a pass undecided, as in the fixed-n checks."""
    return INCONCLUSIVE if verdict == PASS and small else verdict


def describe(ests: dict[str, Estimate]) -> dict:
    return {g: {"value": e.value, "interval": list(e.interval), "n": e.n, "total": e.total} for g, e in ests.items()}


def spread_seq(check: CheckSpec, ests: dict[str, Estimate], small: list[str], method: str) -> Seq:
    """The largest difference between the groups' means, from their sequences."""
    if len(ests) < 2:
        return Seq(float("nan"), (0.0, 1.0), INCONCLUSIVE, method, groups=describe(ests))
    points = [e.value for e in ests.values() if e.n]
    value = max(points) - min(points) if len(points) >= 2 else float("nan")
    interval = largest_abs_difference({g: e.interval for g, e in ests.items()})
    return Seq(value, interval, cap_small(verdict_of(*interval, bounds_of(check)), small), method,
               groups=describe(ests))


def answer_text(view: View, pos: int) -> str:
    """What counts as 'the same answer' across variants (as `consistency.answer_key`)."""
    item = view.items[pos]
    if item.output is not None:
        return normalize(item.output)
    return normalize(view.task.instances[pos].choices[item.prediction])
