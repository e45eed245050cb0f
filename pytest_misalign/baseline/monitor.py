"""Regression against a baseline, decided sequentially on the items both runs share.

Per shared item d = correct now − correct in the baseline ∈ {−1, 0, 1}; the drop is −mean d, followed
by a sequence of (d + 1)/2. Per group of `by` (groups with at least `min_n` shared items): one
sequence per group at α/k, the largest drop bounded by the largest upper bound. `max_broken` (items
right in the baseline and wrong now) adds a sequence of the broken indicator; the α then halves.
The final fixed-n test is `regression.run_regression` itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .match import BaselineTask
from ..checks.common import verdict_of
from ..checks.result import INCONCLUSIVE, PASS, Limit, combine
from .regression import run_regression
from ..spec.model import CheckShape, CheckSpec, RegressionSpec
from ..tasks.instance import PreparedTask, group_label
from ..checks.monitor import METHOD, Seq, View
from ..stats.sequences import ratio_cs, signed


def regression_parts(task: PreparedTask, base: BaselineTask, spec: RegressionSpec, max_drop: float,
                     by: str | None) -> tuple[CheckSpec, "RegressionMonitor", "RegressionFinal"]:
    """One regression test for the sequential gate: its check, its monitor and its final fixed-n test."""
    keys = task.item_keys()
    before = {}
    for pos, inst in enumerate(task.instances):
        old = base.items.get(inst.index)
        if old is not None and old.get("key") in (None, keys[pos]):
            before[pos] = bool(old["correct"])
    params = {"by": by, "max": max_drop, "confidence": spec.confidence, "min_n": spec.min_n}
    shape = CheckShape(label=f"regression[{by}]" if by else "regression", reads={"by": by} if by else {})
    check = CheckSpec("regression", params, task.spec.line, shape)
    return check, RegressionMonitor(before, spec, max_drop, by), RegressionFinal(base, spec, max_drop, by)


@dataclass(frozen=True)
class RegressionMonitor:
    """The monitor (a picklable callable: xdist workers send their runs back)."""

    before: dict[int, bool]  # position -> correct in the baseline, for the shared items
    spec: RegressionSpec
    max_drop: float
    by: str | None

    def __call__(self, check: CheckSpec, view: View, alpha: float) -> Seq:
        return _monitor(view, self.before, self.spec, self.max_drop, self.by, alpha)


@dataclass(frozen=True)
class RegressionFinal:
    """The fixed-n test: `regression.run_regression` at the check's (split) confidence."""

    base: BaselineTask
    spec: RegressionSpec
    max_drop: float
    by: str | None

    def __call__(self, check: CheckSpec, outcome, name: str):
        return run_regression(outcome, self.base, replace(self.spec, confidence=check.confidence), self.max_drop,
                              self.by, name)


def _sums(view: View, before: dict[int, bool], members: set[int] | None, value) -> tuple[np.ndarray, np.ndarray]:
    n = len(view.task.instances)
    weights = np.zeros(n)
    values = np.zeros(n)
    for pos, old in before.items():
        if members is None or pos in members:
            weights[pos] = 1.0
            item = view.items.get(pos)
            if item is not None:
                values[pos] = value(bool(item.correct), old)
    return view.sums(values, weights)


def _drop(view, before, members, alpha) -> tuple[float, tuple[float, float], int]:
    est = ratio_cs(*_sums(view, before, members, lambda now, old: (int(now) - int(old) + 1) / 2), alpha)
    lo, hi = signed(est)
    return -(2 * est.value - 1), (-hi, -lo), est.total


def _monitor(view: View, before: dict[int, bool], spec: RegressionSpec, max_drop: float, by: str | None,
             alpha: float) -> Seq:
    alpha = alpha / 2 if spec.max_broken is not None and by is None else alpha
    if by is None:
        value, interval, _ = _drop(view, before, None, alpha)
        verdict = verdict_of(*interval, (None, max_drop))
        limits = _broken(view, before, spec, alpha) if spec.max_broken is not None else ()
        if limits:
            verdict = combine(verdict, limits[0].verdict)
        return Seq(value, interval, verdict, f"{METHOD} on candidate − baseline at {1 - alpha:.4g}", limits)
    labels = {pos: group_label(view.task.instances[pos].fields[by]) for pos in before}
    groups: dict[str, set[int]] = {}
    for pos, g in labels.items():
        groups.setdefault(g, set()).add(pos)
    gated = {g: m for g, m in groups.items() if len(m) >= spec.min_n}
    level = alpha / max(1, len(gated))
    drops = {g: _drop(view, before, m, level) for g, m in gated.items()}
    method = f"{METHOD} on candidate − baseline per group at {1 - level:.4g}"
    if not drops:
        return Seq(float("nan"), (-1.0, 1.0), INCONCLUSIVE, method)
    lo, hi = max(d[1][0] for d in drops.values()), max(d[1][1] for d in drops.values())
    verdict = verdict_of(lo, hi, (None, max_drop))
    if verdict == PASS and len(gated) < len(groups):
        verdict = INCONCLUSIVE
    value = max((d[0] for d in drops.values() if d[0] == d[0]), default=float("nan"))
    return Seq(value, (lo, hi), verdict, method)


def _broken(view, before, spec: RegressionSpec, alpha: float) -> tuple[Limit, ...]:
    est = ratio_cs(*_sums(view, before, None, lambda now, old: float(old and not now)), alpha)
    limit = spec.max_broken
    count = isinstance(limit, int) and not isinstance(limit, bool)
    threshold = limit / max(1, est.total) if count else float(limit)
    return (Limit("broken share", f"max_broken: {limit} items" if count else "max_broken", est.value, threshold,
                  est.interval, verdict_of(*est.interval, (None, threshold))),)
