"""Regression against a baseline (an earlier `--misalign-json` results file): what moved, and where.

Items are matched by the one rule in `baseline.match_items` (same `index` and item `key`); items whose
prompt, choices or answer changed, and items in only one run, are dropped from the comparison and
counted in a note, never an error. No shared item at all: an `inconclusive` result that says why
(`degenerate` set; it fails the point gate and strict mode), never an exception and never a pass.

API (wired by plugin.py)
------------------------
``regression_tests(spec: TaskSpec) -> list[tuple[str, str | None]]``
    The regression tests of a task the baseline holds, as (test name, by): ``("regression", None)``
    first, then ``("regression[FIELD]", FIELD)`` for `regression.by` and every `by:` of the task's
    checks (gap, group_accuracy, consistency), in that order, without repeats.

``run_regression(outcome: TaskOutcome, base: BaselineTask, spec: RegressionSpec, default_max_drop: float,
by: str | None = None, name: str = "regression") -> CheckResult``
    ``by=None``: the paired accuracy drop (baseline - candidate) on the shared items against
    `max_drop` (`spec.max_drop`, else `default_max_drop`), interval Newcombe's paired score (method 10),
    McNemar's exact p in the notes. With `spec.max_broken` also the items right in the baseline and
    wrong now: an int is a count, a float in [0, 1) a share of the shared items; point gate on the
    count/share, confident gate on its Wilson interval. It is the result's `Limit` ("broken share",
    param `max_broken`); two limits, one verdict: fail if either fails, pass if both pass, else
    inconclusive (the point verdict likewise, via `CheckResult.limits`). `details["drop_verdict"]` is
    the drop's own verdict.
    ``by=FIELD``: the paired drop in each group of FIELD (the candidate item's value), Newcombe paired
    intervals at the Bonferroni level over the groups; value = the worst group's drop, interval =
    the simultaneous bound for the largest drop. Groups with fewer than `spec.min_n` shared items
    are named in a note and kept out of the point gate (a confident pass becomes inconclusive while
    any exists; with no group that large the point gate has nothing to gate and passes, the verdict
    cannot pass, and `degenerate` says why, which fails strict mode).
    With `cluster:` on the task every interval (overall, per group, broken share) comes from a
    cluster bootstrap over the paired differences (candidate - baseline per item).
    The result's `confidence` is `spec.confidence`; `details` carry the counts for the results JSON.

`RegressionResult` is a `CheckResult` whose point verdict can be set (`point_override`, see there).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .. import stats
from .match import BaselineError, BaselineTask, ItemMatch, match_items, run_items
from ..checks import FAIL, INCONCLUSIVE, PASS, CheckResult, Limit
from ..checks.result import DECIMALS, N_RESAMPLES, combine
from ..errors import SuiteError
from ..scoring.outcome import TaskOutcome
from ..spec.model import RegressionSpec, TaskSpec
from ..tasks.instance import group_label

NEWCOMBE = "Newcombe paired score (method 10) on candidate - baseline"


@dataclass(frozen=True)
class RegressionResult(CheckResult):
    """A CheckResult whose point verdict can be set: a group regression where no group has `min_n`
    shared items gates nothing by its point estimate (PASS), and no shared item at all is a FAIL.
    An inconclusive degenerate result explains itself by `degenerate`."""

    point_override: str | None = None

    @property
    def point_verdict(self) -> str:
        return self.point_override if self.point_override is not None else super().point_verdict

    def inconclusive_text(self) -> str:
        return self.degenerate or super().inconclusive_text()


def regression_tests(spec: TaskSpec) -> list[tuple[str, str | None]]:
    """("regression", None), then ("regression[FIELD]", FIELD) per group field (see module doc)."""
    return [("regression", None)] + [(f"regression[{by}]", by) for by in group_fields(spec)]


def group_fields(spec: TaskSpec) -> list[str]:
    """`regression.by`, then every `by:` field of the task's checks, without repeats."""
    names = [spec.regression.by] + [c.by for c in spec.checks]
    return [n for n in dict.fromkeys(names) if isinstance(n, str) and n]


# -- the paired table of shared items ------------------------------------------------------------

@dataclass(frozen=True)
class Pairs:
    """The shared items, aligned: candidate right (`now`), baseline right (`before`), clusters."""

    now: np.ndarray
    before: np.ndarray
    clusters: np.ndarray | None

    @property
    def n(self) -> int:
        return len(self.now)

    @property
    def a(self) -> int:  # both right
        return int(np.sum(self.now & self.before))

    @property
    def b(self) -> int:  # fixed: wrong in the baseline, right now
        return int(np.sum(self.now & ~self.before))

    @property
    def c(self) -> int:  # broken: right in the baseline, wrong now
        return int(np.sum(~self.now & self.before))

    @property
    def d(self) -> int:  # both wrong
        return self.n - self.a - self.b - self.c

    @property
    def drop(self) -> float:
        return (self.c - self.b) / self.n

    def subset(self, mask: np.ndarray) -> Pairs:
        return Pairs(self.now[mask], self.before[mask], None if self.clusters is None else self.clusters[mask])

    def counts_text(self) -> str:
        n, p = self.n, stats.mcnemar_pvalue(self.b, self.c)
        return (f"baseline {(self.a + self.c) / n:.3f} -> candidate {(self.a + self.b) / n:.3f} on {n} common "
                f"items; {self.b} fixed, {self.c} broken; McNemar exact p = {p:.3g}")

    def details(self) -> dict:
        n = self.n
        return {"common_items": n, "fixed": self.b, "broken": self.c, "both_right": self.a, "both_wrong": self.d,
                "mcnemar_p": round(stats.mcnemar_pvalue(self.b, self.c), 8),
                "baseline_accuracy": round((self.a + self.c) / n, 6),
                "candidate_accuracy": round((self.a + self.b) / n, 6)}


def shared_pairs(outcome: TaskOutcome, base: BaselineTask, match: ItemMatch) -> tuple[Pairs, list[int]]:
    """The paired table over `match.shared`, and each shared item's position in the outcome."""
    position = {item.index: pos for pos, item in enumerate(outcome.items)}
    where = [position[i] for i in match.shared]
    now = np.array([bool(outcome.items[p].correct) for p in where], dtype=bool)
    before = np.array([bool(base.items[i]["correct"]) for i in match.shared], dtype=bool)
    field_ = outcome.task.spec.cluster
    clusters = None
    if field_:
        clusters = np.array([str(outcome.task.instances[p].fields[field_]) for p in where], dtype=object)
    return Pairs(now, before, clusters), where


# -- intervals ------------------------------------------------------------------------------------

def paired_bootstrap(pairs: Pairs, confidence: float) -> stats.BootstrapResult:
    """Cluster bootstrap of mean(candidate - baseline) over the pairs' clusters (whole clusters are
    resampled, so every item keeps both of its runs)."""
    differences = pairs.now.astype(float) - pairs.before.astype(float)
    return stats.paired_cluster_bootstrap(differences, pairs.clusters, confidence, N_RESAMPLES, 0)


def drop_interval(pairs: Pairs, confidence: float, cluster: str | None) -> tuple[float, float, str, str]:
    """(lo, hi) for the drop baseline - candidate, the method, and a note ('' when none)."""
    if pairs.clusters is None:
        lo, hi = stats.paired_difference_interval(pairs.b, pairs.c, pairs.n, confidence, a=pairs.a)
        return -hi + 0.0, -lo + 0.0, NEWCOMBE, ""  # + 0.0: no "-0.000"
    boot = paired_bootstrap(pairs, confidence)
    method = (f"cluster bootstrap of paired differences candidate - baseline over {boot.n_clusters} "
              f"'{cluster}' clusters ({boot.n_resamples} resamples, percentile)")
    return -boot.hi + 0.0, -boot.lo + 0.0, method, boot.note


def _verdict(lo: float, hi: float, limit: float) -> str:
    return stats.verdict(round(lo, DECIMALS), round(hi, DECIMALS), max=limit)


@dataclass(frozen=True)
class Gate:
    limit: Limit
    note: str
    details: dict


def broken_gate(pairs: Pairs, limit: int | float, confidence: float, cluster: str | None) -> Gate:
    """`max_broken`: items right in the baseline and wrong now, as a count (int) or a share (float);
    a `Limit` on the broken share (a count k is the share k / shared items)."""
    count = isinstance(limit, int) and not isinstance(limit, bool)
    share, threshold = pairs.c / pairs.n, (limit / pairs.n if count else float(limit))
    if pairs.clusters is None:
        lo, hi = stats.wilson_interval(pairs.c, pairs.n, confidence)
        method = "Wilson"
    else:
        boot = stats.cluster_bootstrap(pairs.before & ~pairs.now, pairs.clusters, confidence=confidence,
                                       n_resamples=N_RESAMPLES, seed=0)
        lo, hi, method = boot.lo, boot.hi, f"cluster bootstrap over '{cluster}'"
    param = f"max_broken: {limit} items" if count else "max_broken"
    gate = Limit("broken share", param, share, threshold, (lo, hi), _verdict(lo, hi, threshold))
    wanted = f"<= {limit} items" if count else f"a share <= {limit:g}"
    note = (f"max_broken {wanted}: {pairs.c} broken (right in the baseline, wrong now) and {pairs.b} fixed of "
            f"{pairs.n} shared items; broken share {share:.3f}, {confidence:.0%} {method} [{lo:.3f}, {hi:.3f}]: "
            f"point {gate.point_verdict}, verdict {gate.verdict}")
    details = {"max_broken": limit, "broken_share": round(share, 6), "broken_interval": [round(lo, 6), round(hi, 6)],
               "broken_method": method, "broken_verdict": gate.verdict, "broken_point_verdict": gate.point_verdict}
    return Gate(gate, note, details)


# -- the checks -----------------------------------------------------------------------------------

def run_regression(outcome: TaskOutcome, base: BaselineTask, spec: RegressionSpec, default_max_drop: float,
                   by: str | None = None, name: str = "regression") -> CheckResult:
    """One regression test (see the module doc): overall (`by=None`) or per group of `by`."""
    max_drop = spec.max_drop if spec.max_drop is not None else default_max_drop
    match = match_items(base.items, run_items(outcome))
    if not match.shared:
        return _nothing_shared(base, match, spec, max_drop, by, name)
    pairs, where = shared_pairs(outcome, base, match)
    notes = _match_notes(outcome, base, match)
    if by is None:
        result = _overall(outcome, base, spec, max_drop, pairs, notes, name)
    else:
        result = _by_group(outcome, base, spec, max_drop, pairs, _labels(outcome, by, where), by, notes, name)
    return replace(result, details={**result.details, **match_details(match)})


def match_details(match: ItemMatch) -> dict:
    return {"items_changed": len(match.changed), "items_only_baseline": len(match.only_old),
            "items_only_run": len(match.only_new)}


def _overall(outcome: TaskOutcome, base: BaselineTask, spec: RegressionSpec, max_drop: float, pairs: Pairs,
             match_notes: list[str], name: str) -> RegressionResult:
    conf, cluster = spec.confidence, outcome.task.spec.cluster
    lo, hi, method, boot_note = drop_interval(pairs, conf, cluster)
    verdict = _verdict(lo, hi, max_drop)
    needed = None
    if verdict == INCONCLUSIVE and pairs.clusters is None:
        needed = stats.required_n_paired(pairs.a, pairs.b, pairs.c, pairs.d, -max_drop, conf)
    notes = [pairs.counts_text()]
    details = {**pairs.details(), "baseline_model": base.model, "drop_verdict": verdict}
    limits = ()
    if spec.max_broken is not None:
        gate = broken_gate(pairs, spec.max_broken, conf, cluster)
        verdict, limits = combine(verdict, gate.limit.verdict), (gate.limit,)
        notes.append(gate.note)
        details.update(gate.details)
    notes += match_notes + ([boot_note] if boot_note else [])
    return RegressionResult(name, "regression", pairs.drop, None, max_drop, (lo, hi), method, conf, verdict,
                            needed_n=needed, needed_unit="paired items", notes=tuple(notes), details=details,
                            limits=limits)


@dataclass(frozen=True)
class GroupRow:
    group: str
    pairs: Pairs
    lo: float
    hi: float
    gated: bool  # at least min_n shared items: in the point gate
    note: str

    def to_json(self) -> dict:
        return {"group": self.group, "n": self.pairs.n, "gated": self.gated, "drop": round(self.pairs.drop, 6),
                "interval": [round(self.lo, 6), round(self.hi, 6)], **self.pairs.details()}


def _group_rows(pairs: Pairs, labels: np.ndarray, spec: RegressionSpec, cluster: str | None
                ) -> tuple[list[GroupRow], float, str]:
    """Every group's paired drop, at the Bonferroni level over the groups the gate considers."""
    groups = sorted(set(labels))
    sizes = {g: int(np.sum(labels == g)) for g in groups}
    gated = {g for g in groups if sizes[g] >= spec.min_n}
    m = len(gated) or len(groups)
    conf = 1 - (1 - spec.confidence) / m
    rows = []
    for g in groups:
        sub = pairs.subset(labels == g)
        lo, hi, _, note = drop_interval(sub, conf, cluster)
        rows.append(GroupRow(g, sub, lo, hi, g in gated, note))
    method = f"{NEWCOMBE}, per group" if cluster is None else (
        f"cluster bootstrap of paired differences candidate - baseline within each group over '{cluster}' "
        f"clusters ({N_RESAMPLES} resamples, percentile)")
    if m > 1:
        method += f", Bonferroni-level over {m} groups (each at {conf:.4f})"
    return rows, conf, method


def _by_group(outcome: TaskOutcome, base: BaselineTask, spec: RegressionSpec, max_drop: float, pairs: Pairs,
              labels: np.ndarray, by: str, match_notes: list[str], name: str) -> RegressionResult:
    rows, conf, method = _group_rows(pairs, labels, spec, outcome.task.spec.cluster)
    considered = [r for r in rows if r.gated] or rows
    worst = max(considered, key=lambda r: (round(r.pairs.drop, DECIMALS), r.hi))
    lo, hi = max(r.lo for r in considered), max(r.hi for r in considered)
    small = [r for r in rows if not r.gated]
    verdict = _verdict(lo, hi, max_drop)
    verdict = INCONCLUSIVE if small and verdict == PASS else verdict
    gated = any(r.gated for r in rows)
    point = (PASS if round(worst.pairs.drop, DECIMALS) <= max_drop else FAIL) if gated else PASS
    notes = [f"worst group {by}={worst.group}: " + worst.pairs.counts_text()]
    notes += _small_notes(small, spec.min_n, by, gated)
    notes += match_notes + [f"{r.group}: {r.note}" for r in rows if r.note]
    needed = None
    if verdict == INCONCLUSIVE and pairs.clusters is None and gated:
        w = worst.pairs
        needed = stats.required_n_paired(w.a, w.b, w.c, w.d, -max_drop, conf)
    details = {**worst.pairs.details(), "worst_group": worst.group, "baseline_model": base.model,
               "shared_items": pairs.n, "groups": [r.to_json() for r in rows]}
    degenerate = None if gated else f"no group of '{by}' has min_n={spec.min_n} shared items"
    return RegressionResult(name, "regression", worst.pairs.drop, None, max_drop, (lo, hi), method, spec.confidence,
                            verdict, by=by, needed_n=needed, needed_unit=f"shared items in group {worst.group}",
                            notes=tuple(notes), details=details, degenerate=degenerate, point_override=point)


def _small_notes(small: list[GroupRow], min_n: int, by: str, gated: bool) -> list[str]:
    if not small:
        return []
    named = ", ".join(f"{r.group} ({r.pairs.n}, drop {r.pairs.drop:+.3f})" for r in small)
    if not gated:
        return [f"no group of '{by}' has min_n={min_n} shared items: nothing for the point gate, and the "
                f"interval cannot pass; groups: {named}"]
    return [f"groups below min_n={min_n} shared items, kept out of the point gate: {named}"]


def _labels(outcome: TaskOutcome, by: str, where: list[int]) -> np.ndarray:
    """Each shared item's group under `by` (the candidate's item fields)."""
    instances = outcome.task.instances
    missing = next((instances[p].index for p in where if by not in instances[p].fields), None)
    if missing is not None:
        task = outcome.task.spec
        raise SuiteError(f"field '{by}' is missing from item {missing}", path=outcome.task.suite.path,
                         line=task.line, task=task.name, key="regression.by",
                         fix="`by:` must name a field every item has")
    return np.array([group_label(instances[p].fields[by]) for p in where], dtype=object)


def _match_notes(outcome: TaskOutcome, base: BaselineTask, match: ItemMatch) -> list[str]:
    notes = []
    if match.dropped:
        notes.append(match.summary())
    if match.changed:
        shown = ", ".join(map(str, match.changed[:10])) + (", ..." if len(match.changed) > 10 else "")
        notes.append(f"changed items (not compared): index {shown}")
    if base.suite_sha256 and outcome.task.suite.sha256 != base.suite_sha256 and not match.changed:
        notes.append("the suite file changed since the baseline, but the compared items did not")
    return notes


def _nothing_shared(base: BaselineTask, match: ItemMatch, spec: RegressionSpec, max_drop: float,
                    by: str | None, name: str) -> RegressionResult:
    notes = [match.summary()]
    if match.changed:
        common = len(match.changed)
        notes.append(f"{common} of {common} items differ from the baseline's (first: index {match.changed[0]}): "
                     f"the prompt, choices or answer changed")
        notes.append("fix: regenerate the baseline with the current suite file")
    else:
        notes.append("fix: use the same data and limit for the baseline and this run")
    details = {"common_items": 0, **match_details(match), "baseline_model": base.model}
    return RegressionResult(name, "regression", float("nan"), None, max_drop, (-1.0, 1.0),
                            "no interval (no shared items)", spec.confidence, INCONCLUSIVE, by=by,
                            notes=tuple(notes), details=details,
                            degenerate="no item is shared with the baseline",
                            point_override=PASS)  # a changed suite is reported, not failed (strict fails it)


def compare(outcome: TaskOutcome, base: BaselineTask, max_drop: float, confidence: float,
            name: str = "regression") -> CheckResult:
    """The older entry point: the overall paired regression, refusing (BaselineError) a baseline whose
    items changed or that shares no item. The plugin uses `regression.run_regression`, which drops
    changed items and answers 'inconclusive' when nothing is shared."""
    match = match_items(base.items, run_items(outcome))
    if match.changed:
        common = len(match.changed) + match.n
        raise BaselineError(
            f"{len(match.changed)} of {common} items differ from the baseline's (first: index {match.changed[0]}): "
            f"the prompt, choices or answer changed, so the results are not comparable\n"
            f"  fix: regenerate the baseline with the current suite file")
    if not match.shared:
        raise BaselineError(f"no item index of task '{base.task}' appears in both the run and the baseline "
                            f"(run: {len(outcome.items)} items, baseline: {len(base.items)})\n"
                            f"  fix: use the same data and limit for both runs")
    return run_regression(outcome, base, RegressionSpec(max_drop=max_drop, confidence=confidence), max_drop,
                          None, name)
