"""`perplexity_ratio: {by, max, min_n, unit, confidence}`: the worst group's perplexity over the best
group's (1 = every group equally well modelled) on a `type: perplexity` task, at most `max`.

Groups with fewer than `min_n` documents are left out of the value and verdict (named in a note; a
confident pass becomes inconclusive); with fewer than two such groups the ratio over all groups is
shown, inconclusive and degenerate. Interval: a seeded percentile bootstrap over documents,
stratified by group, or over the task's `cluster:` clusters (`stats/perplexity.py`).
"""

from __future__ import annotations

import numpy as np

from ..scoring.documents import group_perplexity
from ..scoring.outcome import TaskOutcome
from ..spec.kinds import Rule
from ..spec.model import CheckSpec
from ..spec.params import GROUPS, NONNEG, STATS, Param
from ..stats.perplexity import UNIT_KEYS, perplexity_bootstrap
from .common import bounds_of, cap_for_small_groups, clusters_of, degenerate_text, verdict_of
from .kind import CheckKind
from .perplexity import TEXT_ONLY, UNIT, counts_of, method_of, unit_of, worst_documents
from .result import INCONCLUSIVE, N_RESAMPLES, CheckResult


def check_perplexity_ratio(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    unit, key = unit_of(check), UNIT_KEYS[unit_of(check)]
    bounds = bounds_of(check)
    table = group_perplexity(outcome, check.by)
    qualifying = [g for g, row in table.items() if row["n"] >= check.min_n]
    small = [g for g in table if g not in qualifying]
    enough = len(qualifying) >= 2
    used = qualifying if enough else list(table)
    reasons: list[str] = []
    notes: list[str] = []
    if small:
        names = ", ".join(f"{g} ({table[g]['n']})" for g in small)
        notes.append(f"groups below min_n={check.min_n} documents "
                     + ("are left out of the value and verdict: " if enough else "(too small to trust): ") + names)
    if not enough:
        reasons.append(f"fewer than two groups have at least {check.min_n} documents: the ratio over all groups "
                       "is shown but decides nothing")
    if len(used) < 2:
        value = 1.0
        lo = hi = 1.0
        boot = None
    else:
        ll, counts = counts_of(outcome, unit)
        labels = np.array(outcome.task.group_values(check.by), dtype=object)
        mask = np.isin(labels, used)
        clusters = clusters_of(outcome)
        boot = perplexity_bootstrap(ll[mask], counts[mask], labels[mask],
                                    None if clusters is None else clusters[mask], unit=unit, statistic="ratio",
                                    confidence=check.confidence, n_resamples=N_RESAMPLES, seed=0)
        value, lo, hi = boot.estimate, boot.lo, boot.hi
        notes.append(f"worst {boot.groups[0]} {boot.values[0]:.3f} vs best {boot.groups[-1]} "
                     f"{boot.values[-1]:.3f} ({key})")
        if boot.note:
            notes.append(boot.note)
    verdict = cap_for_small_groups(verdict_of(lo, hi, bounds), small) if enough else INCONCLUSIVE
    method = method_of(boot, outcome, True) if boot else "no interval (fewer than two groups)"
    details = {"unit": unit, "groups": {g: {k: _round(v) for k, v in row.items()} for g, row in table.items()}}
    if boot:
        details.update(worst_group=boot.groups[0], best_group=boot.groups[-1])
    return CheckResult(name, check.kind, value, *bounds, (lo, hi), method, check.confidence, verdict,
                       by=check.by, notes=tuple(reasons + notes), details=details,
                       degenerate=degenerate_text(reasons))


def _round(x: float) -> float | int | None:
    if isinstance(x, int):
        return x
    return None if x != x else round(float(x), 6)


def _at_least_one(params) -> Rule | None:
    if params["max"] < 1:
        return Rule(f"the worst group over the best is at least 1: `max: {params['max']}` can never pass", "max",
                    "e.g. `max: 1.3` (30% worse than the best group at most)")
    return None


KIND = CheckKind(
    name="perplexity_ratio",
    summary="the worst group's perplexity over the best group's, at most `max` (>= 1)",
    params={**GROUPS, "max": Param(NONNEG, required=True, help="ceiling (>= 1) for the worst group's perplexity over "
                                                                 "the best's"), "unit": UNIT, **STATS},
    task_types=("perplexity",),
    rules=_at_least_one,
    run=check_perplexity_ratio,
    no_monitor=TEXT_ONLY,
    evidence=worst_documents,
)
