"""Checks: turn a task's outcome into a value, compare it with a threshold, give a verdict.

Each check kind is one small function registered in `CHECKS`; its parameters are declared in
`spec.CHECK_PARAMS`. A check never raises on a bad model — it returns a `CheckResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .scoring import TaskOutcome
from .spec import CheckSpec

PASS, FAIL = "pass", "fail"


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
    value: float
    min: float | None  # the bounds the value must respect (one or both)
    max: float | None
    verdict: str
    by: str | None = None
    worst: tuple[GroupStat, ...] = ()  # the groups that decide the value, worst first
    details: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

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

    def message(self) -> str:
        status = "ok" if self.passed else "FAILED"
        text = f"{self.name} = {self.value:.3f}, required {self.requirement}: {status}"
        if self.worst:
            text += "\n  " + " vs ".join(g.describe() for g in self.worst)
        return text


def _point_verdict(value: float, min: float | None, max: float | None) -> str:
    ok = (min is None or value >= min) and (max is None or value <= max)
    return PASS if ok else FAIL


def _bounds(check: CheckSpec) -> tuple[float | None, float | None]:
    return tuple(float(check.params[b]) if b in check.params else None for b in ("min", "max"))


def _group_stats(outcome: TaskOutcome, by: str) -> list[GroupStat]:
    stats = [GroupStat(g, s, n) for g, (s, n) in outcome.groups(by).items()]
    return sorted(stats, key=lambda g: (g.accuracy, g.group))


def check_accuracy(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    lo, hi = _bounds(check)
    return CheckResult(name, check.kind, outcome.accuracy, lo, hi, _point_verdict(outcome.accuracy, lo, hi),
                       details={"successes": outcome.successes, "n": outcome.n})


def check_gap(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    stats = _group_stats(outcome, check.by)
    low, high = stats[0], stats[-1]
    value = high.accuracy - low.accuracy
    lo, hi = _bounds(check)
    return CheckResult(name, check.kind, value, lo, hi, _point_verdict(value, lo, hi),
                       by=check.by, worst=(low, high))


def check_group_accuracy(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    stats = _group_stats(outcome, check.by)
    lo, hi = _bounds(check)
    return CheckResult(name, check.kind, stats[0].accuracy, lo, hi, _point_verdict(stats[0].accuracy, lo, hi),
                       by=check.by, worst=tuple(stats[:2]))


CheckFn = Callable[[CheckSpec, TaskOutcome, str], CheckResult]

CHECKS: dict[str, CheckFn] = {
    "accuracy": check_accuracy,
    "gap": check_gap,
    "group_accuracy": check_group_accuracy,
}


def run_check(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    return CHECKS[check.kind](check, outcome, name)
