"""Perplexity checks on `type: perplexity` tasks, with bootstrap intervals over documents.

* `perplexity: {max, unit, confidence}`: the task's perplexity (word by default; `unit: byte` or
  `bits_per_byte`) must stay below `max`.
* `perplexity_ratio: {by, max, min_n, unit, confidence}`: the worst group's perplexity over the
  best group's (1 = every group equally well modelled) must stay below `max`. Groups with fewer
  than `min_n` documents are left out of the value and verdict (named in a note; a confident pass
  becomes inconclusive); with fewer than two such groups the ratio over all groups is shown,
  inconclusive and degenerate.

Intervals: seeded percentile bootstrap over documents, stratified by group (each group keeps its
number of documents), or over the task's `cluster:` clusters when it declares one
(`stats/perplexity.py`).
"""

from __future__ import annotations

import numpy as np

from ..scoring.documents import document_arrays, group_perplexity, task_perplexity
from ..scoring.score import TaskOutcome
from ..spec.model import CheckSpec
from ..stats.perplexity import UNIT_KEYS, PerplexityBootstrap, perplexity_bootstrap
from .common import bounds_of, cap_for_small_groups, clusters_of, degenerate_text, verdict_of
from .result import INCONCLUSIVE, N_RESAMPLES, CheckResult


def _unit(check: CheckSpec) -> str:
    return str(check.params.get("unit", "word"))


def _counts(outcome: TaskOutcome, unit: str) -> tuple[np.ndarray, np.ndarray]:
    ll, words, bytes_ = document_arrays(outcome)
    return ll, (words if unit == "word" else bytes_)


def _method(boot: PerplexityBootstrap, outcome: TaskOutcome, stratified: bool) -> str:
    cluster = outcome.task.spec.cluster
    unit = f"'{cluster}' clusters" if cluster else "documents"
    strat = ", stratified by group" if stratified else ""
    prefix = "cluster bootstrap" if cluster else "bootstrap"
    return f"{prefix} over {boot.n_clusters} {unit} ({boot.n_resamples} resamples{strat}, percentile)"


def check_perplexity(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    unit = _unit(check)
    bounds = bounds_of(check)
    ll, counts = _counts(outcome, unit)
    boot = perplexity_bootstrap(ll, counts, clusters=clusters_of(outcome), unit=unit, statistic="value",
                                confidence=check.confidence, n_resamples=N_RESAMPLES, seed=0)
    verdict = verdict_of(boot.lo, boot.hi, bounds)
    summary = task_perplexity(outcome)
    return CheckResult(name, check.kind, boot.estimate, *bounds, (boot.lo, boot.hi), _method(boot, outcome, False),
                       check.confidence, verdict, notes=(boot.note,) if boot.note else (),
                       details={"unit": unit, **{k: summary[k] for k in UNIT_KEYS.values()}})


def check_perplexity_ratio(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    unit, key = _unit(check), UNIT_KEYS[_unit(check)]
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
        ll, counts = _counts(outcome, unit)
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
    method = _method(boot, outcome, True) if boot else "no interval (fewer than two groups)"
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
