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

from ..scoring.documents import document_arrays, task_perplexity
from ..scoring.outcome import TaskOutcome
from ..spec.kinds import Rule
from ..spec.model import CheckSpec
from ..spec.params import NONNEG, STATS, Param
from ..stats.perplexity import UNIT_KEYS, UNITS, PerplexityBootstrap, perplexity_bootstrap
from .common import bounds_of, clusters_of, verdict_of
from .rules import plain_shape
from .kind import CheckKind
from .result import N_RESAMPLES, CheckResult


def unit_of(check: CheckSpec) -> str:
    return str(check.params.get("unit", "word"))


def counts_of(outcome: TaskOutcome, unit: str) -> tuple[np.ndarray, np.ndarray]:
    ll, words, bytes_ = document_arrays(outcome)
    return ll, (words if unit == "word" else bytes_)


def method_of(boot: PerplexityBootstrap, outcome: TaskOutcome, stratified: bool) -> str:
    cluster = outcome.task.spec.cluster
    unit = f"'{cluster}' clusters" if cluster else "documents"
    strat = ", stratified by group" if stratified else ""
    prefix = "cluster bootstrap" if cluster else "bootstrap"
    return f"{prefix} over {boot.n_clusters} {unit} ({boot.n_resamples} resamples{strat}, percentile)"


def check_perplexity(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    unit = unit_of(check)
    bounds = bounds_of(check)
    ll, counts = counts_of(outcome, unit)
    boot = perplexity_bootstrap(ll, counts, clusters=clusters_of(outcome), unit=unit, statistic="value",
                                confidence=check.confidence, n_resamples=N_RESAMPLES, seed=0)
    verdict = verdict_of(boot.lo, boot.hi, bounds)
    summary = task_perplexity(outcome)
    return CheckResult(name, check.kind, boot.estimate, *bounds, (boot.lo, boot.hi), method_of(boot, outcome, False),
                       check.confidence, verdict, notes=(boot.note,) if boot.note else (),
                       details={"unit": unit, **{k: summary[k] for k in UNIT_KEYS.values()}})


def worst_documents(check, result, outcome: TaskOutcome, limit: int, width: int) -> list[str]:
    """Under a failing perplexity check: the documents the model fits worst (highest word
    perplexity), in the worst group for `perplexity_ratio`."""
    worst = result.details.get("worst_group") if check.by else None
    labels = outcome.task.group_values(check.by) if check.by else [None] * outcome.n
    rows = [(inst, item.document, g) for inst, item, g in zip(outcome.task.instances, outcome.items, labels)
            if worst is None or g == worst]
    rows.sort(key=lambda r: r[1][0] / r[1][1])  # log-likelihood per word, lowest first
    where = f" in group {worst!r}" if worst is not None else ""
    lines = [f"  highest-perplexity documents{where} ({min(limit, len(rows))} of {len(rows)}):"]
    for inst, (ll, words, _), g in rows[:limit]:
        head = f"    #{inst.index}" + (f" [{g}]" if g is not None else "") + f" word ppl {np.exp(-ll / words):.1f} | "
        text = " ".join(inst.prompt.split())
        room = max(10, width - len(head))
        lines.append(head + (text if len(text) <= room else text[:room - 1] + "…"))
    return lines


UNIT = Param(str, help="word (default), byte or bits_per_byte", choices=UNITS)
TEXT_ONLY = "perplexity is unbounded"


def _positive(params) -> Rule | None:
    if params["max"] <= 0:
        return Rule(f"a perplexity is positive: `max: {params['max']}` can never pass", "max",
                    "give the largest perplexity you accept, e.g. `max: 40`")
    return None


KIND = CheckKind(
    name="perplexity",
    summary="the perplexity of a `type: perplexity` task's documents (word, byte or bits per byte), at most `max`",
    params={"max": Param(NONNEG, required=True, help="ceiling for the task's perplexity (in `unit`)"), "unit": UNIT,
            **STATS},
    task_types=("perplexity",),
    rules=_positive,
    shape=plain_shape,
    run=check_perplexity,
    no_monitor=TEXT_ONLY,
    evidence=worst_documents,
)
