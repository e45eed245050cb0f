"""The paired-gap monitor: per pair of groups, a sequence of (d + 1)/2 over the counterfactual pairs
(d = correct in one group minus correct in the other, in [−1, 1]), and with `max_flip_rate` a
sequence of the flip indicator; the check's value is the largest |mean d| over the group pairs."""

from __future__ import annotations

import itertools

import numpy as np

from .common import bounds_of, verdict_of
from .result import INCONCLUSIVE, PASS, Limit, combine
from ..spec.model import CheckSpec
from .monitor import METHOD, Seq, View
from ..stats.sequences import largest_abs, ratio_cs, signed


def _cells(view: View, check: CheckSpec) -> dict[str, dict[str, int]]:
    """{pair id: {group: position}} over the whole task."""
    cells: dict[str, dict[str, int]] = {}
    for pos, (inst, label) in enumerate(zip(view.task.instances, view.task.group_values(check.by))):
        cells.setdefault(str(inst.fields[check.pair_field]), {})[label] = pos
    return cells


def _pair_sums(view: View, cells, g1: str, g2: str, correct: np.ndarray, flip: bool):
    """(num per scored unit, den per unit) over the pairs holding both groups."""
    units = len(view.plan.units)
    num, den = np.zeros(units), np.zeros(units)
    for members in cells.values():
        if g1 not in members or g2 not in members:
            continue
        unit = view.plan.rank[members[g1]]
        den[unit] += 1.0
        if unit < view.n_units:
            x, y = correct[members[g1]], correct[members[g2]]
            num[unit] += float(x != y) if flip else (x - y + 1.0) / 2.0
    return num[:view.n_units], den


def monitor_paired_gap(check: CheckSpec, view: View, alpha: float) -> Seq:
    cells = _cells(view, check)
    counts: dict[str, int] = {}
    for members in cells.values():
        for g in members:
            counts[g] = counts.get(g, 0) + 1
    groups = sorted(g for g, n in counts.items() if n >= check.min_n)
    small = [g for g in counts if g not in groups]
    pairs = list(itertools.combinations(groups, 2))
    max_flip = check.params.get("max_flip_rate")
    level = alpha / max(1, len(pairs)) / (2 if max_flip is not None else 1)
    method = f"{METHOD} on paired differences (d + 1)/2 per group pair at {1 - level:.4g}"
    if not pairs:
        return Seq(float("nan"), (0.0, 1.0), INCONCLUSIVE, method)
    correct = view.per_position(lambda item: float(item.correct))
    gaps = [ratio_cs(*_pair_sums(view, cells, g1, g2, correct, False), level) for g1, g2 in pairs]
    interval = largest_abs([signed(e) for e in gaps])
    points = [abs(2 * e.value - 1) for e in gaps if e.n]
    value = max(points) if points else float("nan")
    verdict = verdict_of(*interval, bounds_of(check))
    limits: tuple[Limit, ...] = ()
    if max_flip is not None:
        flips = [ratio_cs(*_pair_sums(view, cells, g1, g2, correct, True), level) for g1, g2 in pairs]
        f_iv = (max(e.interval[0] for e in flips), max(e.interval[1] for e in flips))
        f_val = max((e.value for e in flips if e.n), default=float("nan"))
        f_verdict = verdict_of(*f_iv, (None, float(max_flip)))
        limits = (Limit("flip rate", "max_flip_rate", f_val, float(max_flip), f_iv, f_verdict),)
        verdict = combine(verdict, f_verdict)
    if verdict == PASS and small:
        verdict = INCONCLUSIVE
    return Seq(value, interval, verdict, method, limits=limits)
