"""Counterfactual pairs: the paired gap (`gap: {paired: true}`), its flip rate and `max_flip_rate`.

Each pair id holds one item per group. For every two groups the complete pairs form a 2x2 table;
the gap is the largest |accuracy difference| over the tables, with Newcombe's paired interval
(Bonferroni-level over the tables) or, when the task declares `cluster:`, a cluster bootstrap of
the pair-level differences (`stats.paired_cluster_bootstrap`; a pair must lie in one cluster). The
flip rate (share of pairs whose correctness changes with the group) is reported with a Wilson
interval (a cluster bootstrap with `cluster:`); `max_flip_rate` bounds it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .. import stats
from ..scoring.diagnostics import diagnose
from ..errors import DataError
from ..scoring.outcome import TaskOutcome
from ..spec.model import CheckSpec
from .common import (
    abs_interval,
    bounds_of,
    cap_for_small_groups,
    degenerate_text,
    gap_reasons,
    group_stats,
    nearest_bound,
    small_group_note,
    split_min_n,
    too_few_groups,
    verdict_of,
)
from .flips import FlipStat, flip_limit, flip_notes, flip_stat
from .result import INCONCLUSIVE, N_RESAMPLES, CheckResult, combine

CANCEL_FLIP_RATE = 0.5  # without max_flip_rate, a flip rate this high with a passing gap gets a note


class PairClusterError(DataError):
    """A counterfactual pair's items lie in different `cluster:` clusters."""


@dataclass(frozen=True)
class PairedTable:
    """2x2 table of counterfactual pairs for groups (g1, g2): a both right, b only g1, c only g2."""

    g1: str
    g2: str
    a: int
    b: int
    c: int
    d: int
    pair_ids: tuple[str, ...] = ()  # the complete pairs, in table order
    differences: tuple[int, ...] = ()  # per pair: correct(g1) - correct(g2)

    @property
    def n(self) -> int:
        return self.a + self.b + self.c + self.d

    @property
    def difference(self) -> float:  # acc(g1) - acc(g2) over the complete pairs
        return (self.b - self.c) / self.n if self.n else 0.0

    @property
    def flip_rate(self) -> float:  # share of pairs whose correctness changes with the group
        return (self.b + self.c) / self.n if self.n else 0.0


def pair_cells(outcome: TaskOutcome, by: str, pair: str) -> dict[str, dict[str, bool]]:
    """{pair id: {group: correct}} in order of first appearance."""
    cells: dict[str, dict[str, bool]] = {}
    for inst, label, ok in zip(outcome.task.instances, outcome.task.group_values(by), outcome.correct):
        cells.setdefault(str(inst.fields[pair]), {})[label] = bool(ok)
    return cells


def paired_tables(outcome: TaskOutcome, by: str, pair: str,
                  groups: list[str] | None = None) -> tuple[list[PairedTable], int]:
    """One 2x2 table per pair of groups (over the pairs that hold both), and the number of
    incomplete pair ids (missing some group). `groups`: only these (default: every group)."""
    cells = pair_cells(outcome, by, pair)
    groups = sorted(groups if groups is not None else {g for members in cells.values() for g in members})
    incomplete = sum(1 for members in cells.values() if any(g not in members for g in groups))
    tables = []
    for g1, g2 in itertools.combinations(groups, 2):
        both = [(pid, m[g1], m[g2]) for pid, m in cells.items() if g1 in m and g2 in m]
        a = sum(1 for _, x, y in both if x and y)
        b = sum(1 for _, x, y in both if x and not y)
        c = sum(1 for _, x, y in both if not x and y)
        tables.append(PairedTable(g1, g2, a, b, c, len(both) - a - b - c, tuple(p for p, _, _ in both),
                                  tuple(int(x) - int(y) for _, x, y in both)))
    return tables, incomplete


def pair_clusters(outcome: TaskOutcome, pair: str) -> dict[str, str]:
    """{pair id: cluster} for a task with `cluster:`; raises PairClusterError when a pair's items
    lie in different clusters."""
    field_ = outcome.task.spec.cluster
    found: dict[str, str] = {}
    for inst in outcome.task.instances:
        pid, cluster = str(inst.fields[pair]), str(inst.fields[field_])
        if found.setdefault(pid, cluster) != cluster:
            raise PairClusterError(
                f"counterfactual pair '{pid}' has items in different '{field_}' clusters "
                f"({found[pid]!r} and {cluster!r}): a paired gap resamples whole pairs, so a pair must lie "
                "in one cluster",
                path=outcome.task.suite.path, task=outcome.task.spec.name, key="cluster",
                fix=f"give every item of a pair the same '{field_}' value (e.g. the base question it varies), "
                    "or name a `cluster:` field that is constant within pairs")
    return found


def _table_interval(t: PairedTable, conf: float, clusters: dict[str, str] | None) -> tuple[float, float, str]:
    """Signed interval for t.difference: Newcombe paired, or a cluster bootstrap of the pair differences."""
    if t.n == 0:
        return -1.0, 1.0, ""
    if clusters is None:
        return (*stats.paired_difference_interval(t.b, t.c, t.n, conf, a=t.a), "")
    ids = np.array([clusters[p] for p in t.pair_ids], dtype=object)
    boot = stats.paired_cluster_bootstrap(np.array(t.differences, dtype=float), ids, conf, N_RESAMPLES, seed=0)
    if boot.hi - boot.lo > 0 or boot.degenerate:
        return boot.lo, boot.hi, (f"{t.g1} vs {t.g2}: {boot.note}" if boot.note else "")
    # Every resample equals the estimate (e.g. no pair flipped): a percentile bootstrap cannot show the
    # uncertainty of what was not observed. Use Newcombe's paired interval with the clusters as the
    # sample size (each cluster counted as one pair: conservative), never a zero-width interval.
    k = len(set(ids.tolist()))
    b, c = round(t.b * k / t.n), round(t.c * k / t.n)
    a = min(round(t.a * k / t.n), k - b - c)
    lo, hi = stats.paired_difference_interval(b, c, k, conf, a=a)
    return lo, hi, (f"{t.g1} vs {t.g2}: every pair difference is {t.difference:+.0f}, so the cluster bootstrap has "
                    f"nothing to resample; interval from Newcombe's paired method with n = {k} clusters")


def paired_gap(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    bounds = bounds_of(check)
    all_groups = group_stats(outcome, check.by)
    qualifying, small = split_min_n(all_groups, check.min_n)
    enough = len(qualifying) >= 2
    used = qualifying if enough else all_groups
    tables, incomplete = paired_tables(outcome, check.by, check.pair_field, [g.group for g in used])
    m = len(tables)
    conf = 1 - (1 - check.confidence) / m
    clusters = pair_clusters(outcome, check.pair_field) if outcome.task.spec.cluster else None
    rows = [(t, *_table_interval(t, conf, clusters), stats.mcnemar_pvalue(t.b, t.c)) for t in tables]
    abs_intervals = [abs_interval(r[1], r[2]) for r in rows]  # max |difference|: as stats.max_gap_bounds
    lo, hi = max(a for a, _ in abs_intervals), min(max(b for _, b in abs_intervals), 1.0)
    worst_row = max(rows, key=lambda r: abs(r[0].difference))
    worst = worst_row[0]
    value = abs(worst.difference)
    flips = flip_stat(tables, conf, clusters)
    reasons = gap_reasons(diagnose(outcome), value, lo)
    if not enough:
        reasons.append(too_few_groups(qualifying, check.min_n, "gap"))
    gap_verdict = cap_for_small_groups(verdict_of(lo, hi, bounds), small) if enough else INCONCLUSIVE
    limit = flip_limit(check, flips)
    verdict = combine(gap_verdict, limit.verdict) if limit and enough else gap_verdict
    notes = [f"flip rate {worst.flip_rate:.3f} over {worst.n} pairs; McNemar exact p = {worst_row[4]:.3g}"]
    notes += small_group_note(small, check.min_n, left_out=enough)
    if incomplete:
        notes.append(f"{incomplete} pair ids lack some group and are left out of the paired comparison")
    notes += flip_notes(flips, limit, value, bounds, CANCEL_FLIP_RATE)
    notes += [r[3] for r in rows if r[3]]
    needed = _needed(check, worst, value, bounds, conf, flips, limit, gap_verdict, small) \
        if verdict == INCONCLUSIVE and clusters is None else None
    groups = {g.group: g for g in all_groups}
    hi_g, lo_g = (worst.g1, worst.g2) if worst.difference >= 0 else (worst.g2, worst.g1)
    details = _details(rows, worst, worst_row[4], flips, limit, gap_verdict)
    return CheckResult(name, check.kind, value, *bounds, (lo, hi), _method(m, clusters, outcome, rows),
                       check.confidence, verdict, by=check.by, worst=(groups[lo_g], groups[hi_g]), needed_n=needed,
                       needed_unit="counterfactual pairs", notes=tuple(reasons + notes), details=details,
                       degenerate=degenerate_text(reasons), limits=(limit,) if limit else ())


def _method(m: int, clusters: dict[str, str] | None, outcome: TaskOutcome, rows: list) -> str:
    family = f", Bonferroni-level over {m} group pairs" if m > 1 else ""
    if clusters is None:
        return "Newcombe paired score (method 10)" + family
    n_clusters = len({clusters[p] for r in rows for p in r[0].pair_ids})
    return (f"cluster bootstrap of pair differences over {n_clusters} '{outcome.task.spec.cluster}' clusters "
            f"({N_RESAMPLES} resamples, percentile){family}")


def _needed(check, worst: PairedTable, value, bounds, conf, flips: FlipStat, limit, gap_verdict, small) -> int | None:
    needs = []
    if gap_verdict == INCONCLUSIVE:
        sign = 1 if worst.difference >= 0 else -1
        needs.append(stats.required_n_paired(worst.a, worst.b, worst.c, worst.d,
                                             sign * nearest_bound(value, bounds), conf))
    if limit is not None and limit.verdict == INCONCLUSIVE:
        needs.append(stats.required_n(min(flips.value, 1.0), limit.max, conf))
    needs = [n for n in needs if n]
    if small:
        needs.append(check.min_n)
    return max(needs) if needs else None


def _details(rows, worst: PairedTable, worst_p: float, flips: FlipStat, limit, gap_verdict: str) -> dict:
    adjusted = stats.holm([r[4] for r in rows])
    details = {
        "pairs": worst.n,
        "flip_rate": round(flips.value, 6),
        "flip_interval": [round(flips.lo, 6), round(flips.hi, 6)],
        "mcnemar_p": round(worst_p, 8),
        "tables": [{"groups": [t.g1, t.g2], "both_right": t.a, "only_first": t.b, "only_second": t.c,
                    "both_wrong": t.d, "difference": round(t.difference, 6), "flip_rate": round(t.flip_rate, 6),
                    "interval": [round(lo_, 6), round(hi_, 6)], "mcnemar_p": round(p, 8),
                    "mcnemar_p_holm": round(padj, 8)}
                   for (t, lo_, hi_, _note, p), padj in zip(rows, adjusted)],
    }
    if len(rows) > 1:
        details["flip_groups"] = list(flips.groups)
    if limit is not None:
        details.update(max_flip_rate=limit.max, flip_verdict=limit.verdict, gap_verdict=gap_verdict)
    return details
