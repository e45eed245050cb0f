"""Checks: a task's outcome -> a value, an interval, a three-way verdict against a threshold.

Each check kind is one small function registered in `CHECKS` (task level) or `SUITE_CHECKS`
(comparing tasks); their parameters are declared in `spec`. A check never raises on a bad model: it
returns a `CheckResult`. Which verdicts fail a test is the gate's business (`gate_passes`).

Intervals: Wilson for one accuracy; Newcombe's hybrid score interval for a difference of two
independent accuracies, Bonferroni-level over all pairs when there are more than two groups; Newcombe's
paired method for counterfactual pairs (plus McNemar's exact test); a seeded, stratified cluster
bootstrap when the task declares `cluster:`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from . import stats
from .scoring import TaskOutcome, normalize
from .spec import CheckSpec

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
GATES = ("point", "confident")
N_RESAMPLES = 10_000
_DECIMALS = 12  # rates are compared after rounding away floating-point noise


@dataclass(frozen=True)
class GroupStat:
    group: str
    successes: int
    n: int

    @property
    def accuracy(self) -> float:
        return self.successes / self.n if self.n else float("nan")

    def describe(self) -> str:
        return f"{self.group} {self.accuracy:.3f} (n={self.n})"


@dataclass(frozen=True)
class CheckResult:
    name: str  # test name, e.g. "gap[region]"
    kind: str
    value: float  # the point estimate
    min: float | None  # the bounds the value must respect (one or both)
    max: float | None
    interval: tuple[float, float]
    method: str
    confidence: float
    verdict: str  # from the interval: pass | fail | inconclusive
    by: str | None = None
    worst: tuple[GroupStat, ...] = ()  # the groups that decide the value, worst first
    needed_n: int | None = None  # items (or per-group items, or pairs) that would decide
    needed_unit: str = "items"
    notes: tuple[str, ...] = ()
    details: dict = field(default_factory=dict)
    degenerate: str | None = None  # why the value says nothing (e.g. a constant answer); fails strict mode

    @property
    def point_verdict(self) -> str:
        value = round(self.value, _DECIMALS)  # 0.9 - 0.6 must meet `max: 0.3`
        ok = (self.min is None or value >= self.min) and (self.max is None or value <= self.max)
        return PASS if ok else FAIL

    def passes(self, gate: str, strict: bool = False) -> bool:
        """`point`: the point estimate decides; `confident`: only a `pass` verdict passes.
        `strict` (release gates) also fails an inconclusive verdict and a degenerate check."""
        if strict and (self.verdict == INCONCLUSIVE or self.degenerate):
            return False
        return self.point_verdict == PASS if gate == "point" else self.verdict == PASS

    @property
    def requirement(self) -> str:
        if self.min is not None and self.max is not None:
            return f"in [{self.min:g}, {self.max:g}]"
        return f">= {self.min:g}" if self.min is not None else f"<= {self.max:g}"

    @property
    def threshold(self) -> float | list[float]:
        if self.min is not None and self.max is not None:
            return [self.min, self.max]
        return self.min if self.min is not None else self.max

    def interval_text(self) -> str:
        return f"[{self.interval[0]:.3f}, {self.interval[1]:.3f}]"

    def message(self, gate: str = "point") -> str:
        status = "ok" if self.passes(gate) else "FAILED"
        lines = [f"{self.name} = {self.value:.3f} {self.interval_text()}, required {self.requirement}: "
                 f"{status} (verdict {self.verdict}, gate {gate})",
                 f"  interval: {self.confidence:.0%} {self.method}"]
        if self.worst:
            lines.append("  " + " vs ".join(g.describe() for g in self.worst))
        if self.verdict == INCONCLUSIVE:
            lines.append("  inconclusive: " + (f"about {self.needed_n} {self.needed_unit} would decide it"
                                               if self.needed_n else "the estimate sits on the threshold: "
                                                                     "no sample size would decide it"))
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def _bounds(check: CheckSpec) -> tuple[float | None, float | None]:
    return tuple(float(check.params[b]) if b in check.params else None for b in ("min", "max"))


def _verdict(lo: float, hi: float, bounds: tuple[float | None, float | None]) -> str:
    return stats.verdict(round(lo, _DECIMALS), round(hi, _DECIMALS), min=bounds[0], max=bounds[1])


def _nearest_bound(value: float, bounds: tuple[float | None, float | None]) -> float:
    candidates = [b for b in bounds if b is not None]
    return min(candidates, key=lambda b: abs(value - b))


def _abs_interval(lo: float, hi: float) -> tuple[float, float]:
    """Interval for |d| given an interval [lo, hi] for a signed difference d."""
    if lo >= 0:
        return lo, hi
    if hi <= 0:
        return -hi, -lo
    return 0.0, max(-lo, hi)


def _group_stats(outcome: TaskOutcome, by: str) -> list[GroupStat]:
    stats_ = [GroupStat(g, s, n) for g, (s, n) in outcome.groups(by).items()]
    return sorted(stats_, key=lambda g: (g.accuracy, g.group))


def _small_groups(groups: Iterable[GroupStat], min_n: int) -> list[str]:
    small = [f"{g.group} ({g.n})" for g in groups if g.n < min_n]
    return [f"groups below min_n={min_n} items, too small to trust: {', '.join(small)}"] if small else []


def _cap_for_small_groups(verdict: str, notes: list[str]) -> str:
    """Small groups are never silently passed: a confident pass becomes inconclusive."""
    return INCONCLUSIVE if notes and verdict == PASS else verdict


def _clusters(outcome: TaskOutcome) -> np.ndarray | None:
    field_ = outcome.task.spec.cluster
    if field_ is None:
        return None
    return np.array([str(inst.fields[field_]) for inst in outcome.task.instances], dtype=object)


def _bootstrap(outcome: TaskOutcome, check: CheckSpec, mask: np.ndarray | None = None,
               groups: np.ndarray | None = None, statistic: str = "accuracy") -> stats.BootstrapResult:
    clusters = _clusters(outcome)
    correct = outcome.correct
    if mask is not None:
        correct, clusters = correct[mask], clusters[mask]
        groups = groups[mask] if groups is not None else None
    return stats.cluster_bootstrap(correct, clusters, groups, statistic=statistic,
                                   confidence=check.confidence, n_resamples=N_RESAMPLES, seed=0)


def _bootstrap_method(result: stats.BootstrapResult, cluster_field: str) -> str:
    return (f"cluster bootstrap over {result.n_clusters} '{cluster_field}' clusters "
            f"({result.n_resamples} resamples, stratified, percentile)")


# -- task-level checks ---------------------------------------------------------------------------

def check_accuracy(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    bounds = _bounds(check)
    value = outcome.accuracy
    notes = []
    if outcome.task.spec.cluster:
        boot = _bootstrap(outcome, check)
        (lo, hi), method = (boot.lo, boot.hi), _bootstrap_method(boot, outcome.task.spec.cluster)
        notes += [boot.note] if boot.note else []
    else:
        (lo, hi), method = stats.wilson_interval(outcome.successes, outcome.n, check.confidence), "Wilson score"
    verdict = _verdict(lo, hi, bounds)
    needed = stats.required_n(value, _nearest_bound(value, bounds), check.confidence) \
        if verdict == INCONCLUSIVE else None
    return CheckResult(name, check.kind, value, *bounds, (lo, hi), method, check.confidence, verdict,
                       needed_n=needed, notes=tuple(notes),
                       details={"successes": outcome.successes, "n": outcome.n})


def check_group_accuracy(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    """Every group's accuracy must meet the floor: pass when every group's interval is above it,
    fail when some group's interval is wholly below it."""
    bounds = _bounds(check)
    groups = _group_stats(outcome, check.by)
    labels = np.array(outcome.task.group_values(check.by), dtype=object)
    intervals, method, notes = {}, "Wilson score", []
    for g in groups:
        if outcome.task.spec.cluster:
            boot = _bootstrap(outcome, check, mask=labels == g.group)
            intervals[g.group] = (boot.lo, boot.hi)
            method = f"cluster bootstrap within each group over '{outcome.task.spec.cluster}' clusters"
            notes += [f"{g.group}: {boot.note}"] if boot.note else []
        else:
            intervals[g.group] = stats.wilson_interval(g.successes, g.n, check.confidence)
    verdicts = [_verdict(*intervals[g.group], bounds) for g in groups]
    verdict = FAIL if FAIL in verdicts else PASS if all(v == PASS for v in verdicts) else INCONCLUSIVE
    small = _small_groups(groups, check.min_n)
    verdict = _cap_for_small_groups(verdict, small)
    notes = small + notes
    worst = groups[0]
    needed = None
    if verdict == INCONCLUSIVE:
        undecided = [g for g, v in zip(groups, verdicts) if v == INCONCLUSIVE] or [worst]
        needed = max((stats.required_n(g.accuracy, bounds[0], check.confidence) or 0) for g in undecided) or None
    return CheckResult(name, check.kind, worst.accuracy, *bounds, intervals[worst.group], method,
                       check.confidence, verdict, by=check.by, worst=tuple(groups[:2]), needed_n=needed,
                       needed_unit="items in each undecided group", notes=tuple(notes),
                       details={"group_intervals": {g: [round(lo, 6), round(hi, 6)] for g, (lo, hi) in intervals.items()}})


def check_gap(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    if check.pair_field:
        return _paired_gap(check, outcome, name)
    bounds = _bounds(check)
    groups = _group_stats(outcome, check.by)
    low, high = groups[0], groups[-1]
    value = high.accuracy - low.accuracy
    notes = _small_groups(groups, check.min_n)
    k = len(groups)
    if outcome.task.spec.cluster:
        labels = np.array(outcome.task.group_values(check.by), dtype=object)
        boot = _bootstrap(outcome, check, groups=labels, statistic="gap" if k == 2 else "max_gap")
        lo, hi = _abs_interval(boot.lo, boot.hi) if k == 2 else (boot.lo, boot.hi)
        method = _bootstrap_method(boot, outcome.task.spec.cluster)
        notes += [boot.note] if boot.note else []
        needed = None
    else:
        pairs = stats.max_gap_intervals({g.group: (g.successes, g.n) for g in groups}, check.confidence,
                                        correction="bonferroni")
        lo, hi = stats.max_gap_bounds(pairs)
        m = k * (k - 1) // 2
        method = ("Newcombe hybrid score" if m == 1 else
                  f"Newcombe hybrid score, Bonferroni-level over {m} group pairs "
                  f"(each at {1 - (1 - check.confidence) / m:.4f})")
        needed = None
    verdict = _cap_for_small_groups(_verdict(lo, hi, bounds), notes)
    if verdict == INCONCLUSIVE and not outcome.task.spec.cluster:
        conf = 1 - (1 - check.confidence) / max(k * (k - 1) // 2, 1)
        needed = stats.required_n_gap(high.accuracy, low.accuracy, _nearest_bound(value, bounds), conf)
    return CheckResult(name, check.kind, value, *bounds, (lo, hi), method, check.confidence, verdict,
                       by=check.by, worst=(low, high), needed_n=needed, needed_unit="items per group",
                       notes=tuple(notes))


@dataclass(frozen=True)
class PairedTable:
    """2x2 table of counterfactual pairs for groups (g1, g2): a both right, b only g1, c only g2."""

    g1: str
    g2: str
    a: int
    b: int
    c: int
    d: int

    @property
    def n(self) -> int:
        return self.a + self.b + self.c + self.d

    @property
    def difference(self) -> float:  # acc(g1) - acc(g2) over the complete pairs
        return (self.b - self.c) / self.n if self.n else 0.0

    @property
    def flip_rate(self) -> float:  # share of pairs whose correctness changes with the group
        return (self.b + self.c) / self.n if self.n else 0.0


def paired_tables(outcome: TaskOutcome, by: str, pair: str) -> tuple[list[PairedTable], int]:
    """One 2x2 table per pair of groups (over the pairs that hold both), and the number of
    incomplete pair ids (missing some group)."""
    labels = outcome.task.group_values(by)
    cells: dict[str, dict[str, bool]] = {}
    for inst, label, ok in zip(outcome.task.instances, labels, outcome.correct):
        cells.setdefault(str(inst.fields[pair]), {})[label] = bool(ok)
    groups = sorted({label for label in labels})
    incomplete = sum(1 for members in cells.values() if len(members) < len(groups))
    tables = []
    for g1, g2 in itertools.combinations(groups, 2):
        both = [(m[g1], m[g2]) for m in cells.values() if g1 in m and g2 in m]
        a = sum(1 for x, y in both if x and y)
        b = sum(1 for x, y in both if x and not y)
        c = sum(1 for x, y in both if not x and y)
        tables.append(PairedTable(g1, g2, a, b, c, len(both) - a - b - c))
    return tables, incomplete


def _paired_gap(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    bounds = _bounds(check)
    tables, incomplete = paired_tables(outcome, check.by, check.pair_field)
    m = len(tables)
    conf = 1 - (1 - check.confidence) / m
    rows = []
    for t in tables:
        lo, hi = stats.paired_difference_interval(t.b, t.c, t.n, conf, a=t.a)
        rows.append((t, lo, hi, stats.mcnemar_pvalue(t.b, t.c)))
    # max |difference| and a simultaneous interval for it (as stats.max_gap_bounds does)
    abs_intervals = [_abs_interval(r[1], r[2]) for r in rows]
    lo, hi = max(a for a, _ in abs_intervals), min(max(b for _, b in abs_intervals), 1.0)
    worst_table, *_ = max(rows, key=lambda r: abs(r[0].difference))
    value = abs(worst_table.difference)
    pvalues = [r[3] for r in rows]
    adjusted = stats.holm(pvalues)
    groups = {g.group: g for g in _group_stats(outcome, check.by)}
    notes = _small_groups(groups.values(), check.min_n)
    if incomplete:
        notes.append(f"{incomplete} pair ids lack some group and are left out of the paired comparison")
    verdict = _cap_for_small_groups(_verdict(lo, hi, bounds), notes)
    hi_g, lo_g = (worst_table.g1, worst_table.g2) if worst_table.difference >= 0 else (worst_table.g2, worst_table.g1)
    needed = None
    if verdict == INCONCLUSIVE:
        t = worst_table
        sign = 1 if t.difference >= 0 else -1
        needed = stats.required_n_paired(t.a, t.b, t.c, t.d, sign * _nearest_bound(value, bounds), conf)
    method = "Newcombe paired score (method 10)" + (f", Bonferroni-level over {m} group pairs" if m > 1 else "")
    details = {
        "pairs": worst_table.n,
        "flip_rate": round(worst_table.flip_rate, 6),
        "mcnemar_p": round(rows[tables.index(worst_table)][3], 8),
        "tables": [{"groups": [t.g1, t.g2], "both_right": t.a, "only_first": t.b, "only_second": t.c,
                    "both_wrong": t.d, "difference": round(t.difference, 6), "flip_rate": round(t.flip_rate, 6),
                    "interval": [round(lo_, 6), round(hi_, 6)], "mcnemar_p": round(p, 8),
                    "mcnemar_p_holm": round(padj, 8)}
                   for (t, lo_, hi_, p), padj in zip(rows, adjusted)],
    }
    notes.insert(0, f"flip rate {worst_table.flip_rate:.3f} over {worst_table.n} pairs; "
                    f"McNemar exact p = {details['mcnemar_p']:.3g}")
    return CheckResult(name, check.kind, value, *bounds, (lo, hi), method, check.confidence, verdict,
                       by=check.by, worst=(groups[lo_g], groups[hi_g]), needed_n=needed,
                       needed_unit="counterfactual pairs", notes=tuple(notes), details=details)


def answer_key(outcome: TaskOutcome, position: int) -> str:
    """What counts as 'the same answer' across variants: the chosen choice's text, or the
    normalized generated text."""
    item = outcome.items[position]
    if item.output is not None:
        return normalize(item.output)
    return normalize(outcome.task.instances[position].choices[item.prediction])


def check_consistency(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    bounds = _bounds(check)
    of = check.params["of"]
    answers: dict[str, list[str]] = {}
    for pos, inst in enumerate(outcome.task.instances):
        answers.setdefault(str(inst.fields[of]), []).append(answer_key(outcome, pos))
    n = len(answers)
    same = sum(1 for a in answers.values() if len(set(a)) == 1)
    value = same / n if n else float("nan")
    lo, hi = stats.wilson_interval(same, n, check.confidence)
    verdict = _verdict(lo, hi, bounds)
    notes = []
    singles = sum(1 for a in answers.values() if len(a) < 2)
    if singles:
        notes.append(f"{singles} questions have a single variant (trivially consistent)")
    worst = tuple(_group_stats(outcome, check.by)[:2]) if check.by else ()
    needed = stats.required_n(value, _nearest_bound(value, bounds), check.confidence) \
        if verdict == INCONCLUSIVE else None
    return CheckResult(name, check.kind, value, *bounds, (lo, hi), "Wilson score over questions",
                       check.confidence, verdict, by=check.by, worst=worst, needed_n=needed,
                       needed_unit="questions", notes=tuple(notes),
                       details={"questions": n, "consistent": same})


CheckFn = Callable[[CheckSpec, TaskOutcome, str], CheckResult]

CHECKS: dict[str, CheckFn] = {
    "accuracy": check_accuracy,
    "gap": check_gap,
    "group_accuracy": check_group_accuracy,
    "consistency": check_consistency,
}


def run_check(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    return CHECKS[check.kind](check, outcome, name)


# -- suite-level checks: compare tasks --------------------------------------------------------------

def check_spread(check: CheckSpec, outcomes: dict[str, TaskOutcome], name: str) -> CheckResult:
    bounds = _bounds(check)
    tasks = sorted((GroupStat(t, o.successes, o.n) for t, o in outcomes.items()), key=lambda g: (g.accuracy, g.group))
    low, high = tasks[0], tasks[-1]
    pairs = stats.max_gap_intervals({g.group: (g.successes, g.n) for g in tasks}, check.confidence,
                                    correction="bonferroni")
    lo, hi = stats.max_gap_bounds(pairs)
    m = len(tasks) * (len(tasks) - 1) // 2
    verdict = _verdict(lo, hi, bounds)
    needed = None
    if verdict == INCONCLUSIVE:
        needed = stats.required_n_gap(high.accuracy, low.accuracy, bounds[1], 1 - (1 - check.confidence) / m)
    return CheckResult(name, check.kind, high.accuracy - low.accuracy, *bounds, (lo, hi),
                       "Newcombe hybrid score" + (f", Bonferroni-level over {m} task pairs" if m > 1 else ""),
                       check.confidence, verdict, by="task", worst=(low, high), needed_n=needed,
                       needed_unit="items per task")


def check_shift(check: CheckSpec, outcomes: dict[str, TaskOutcome], name: str) -> CheckResult:
    src, dst = outcomes[check.params["from"]], outcomes[check.params["to"]]
    bounds = (None, float(check.params["max_drop"]))
    drop = src.accuracy - dst.accuracy
    lo, hi = stats.newcombe_interval(src.successes, src.n, dst.successes, dst.n, check.confidence)
    verdict = _verdict(lo, hi, bounds)
    needed = stats.required_n_gap(src.accuracy, dst.accuracy, bounds[1], check.confidence) \
        if verdict == INCONCLUSIVE else None
    worst = (GroupStat(check.params["to"], dst.successes, dst.n), GroupStat(check.params["from"], src.successes, src.n))
    return CheckResult(name, check.kind, drop, *bounds, (lo, hi), "Newcombe hybrid score (independent tasks)",
                       check.confidence, verdict, by="task", worst=worst, needed_n=needed,
                       needed_unit="items per task")


SuiteCheckFn = Callable[[CheckSpec, dict[str, TaskOutcome], str], CheckResult]

SUITE_CHECKS: dict[str, SuiteCheckFn] = {"spread": check_spread, "shift": check_shift}


def run_suite_check(check: CheckSpec, outcomes: dict[str, TaskOutcome], name: str) -> CheckResult:
    return SUITE_CHECKS[check.kind](check, outcomes, name)
