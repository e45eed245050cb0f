"""What a check returns: a value, an interval, a three-way verdict, and the words that explain it."""

from __future__ import annotations

from dataclasses import dataclass, field

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
GATES = ("point", "confident", "sequential")  # sequential: confident, decided early (sequential/)
N_RESAMPLES = 10_000
DECIMALS = 12  # rates are compared after rounding away floating-point noise
_AT_THRESHOLD = 1e-12

# Short interval labels, by the start of `CheckResult.method` (first match wins).
INTERVAL_NAMES = (
    ("cluster bootstrap", "cluster bootstrap"),
    ("Newcombe paired", "Newcombe paired"),
    ("Newcombe hybrid", "Newcombe"),
    ("Wilson", "Wilson"),
    ("bootstrap over", "bootstrap"),
    ("anytime-valid", "confidence sequence"),
)


def combine(*verdicts: str) -> str:
    """Several limits, one verdict: fail if any fails, pass if all pass, else inconclusive."""
    return FAIL if FAIL in verdicts else PASS if all(v == PASS for v in verdicts) else INCONCLUSIVE


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
class Limit:
    """A second quantity a check bounds besides its value, e.g. a paired gap's flip rate under
    `max_flip_rate`. The check's `verdict` already combines it; `point_verdict` does too."""

    name: str  # "flip rate"
    param: str  # the suite parameter, "max_flip_rate"
    value: float
    max: float
    interval: tuple[float, float]
    verdict: str  # this limit alone, from its interval

    @property
    def point_verdict(self) -> str:
        return PASS if round(self.value, DECIMALS) <= self.max else FAIL

    def describe(self) -> str:
        return (f"{self.name} = {self.value:.3f} [{self.interval[0]:.3f}, {self.interval[1]:.3f}], "
                f"required <= {self.max:g} ({self.param})")


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
    verdict: str  # from the interval(s): pass | fail | inconclusive
    by: str | None = None
    worst: tuple[GroupStat, ...] = ()  # the groups that decide the value, worst first
    needed_n: int | None = None  # items (or per-group items, or pairs) that would decide
    needed_unit: str = "items"
    notes: tuple[str, ...] = ()
    details: dict = field(default_factory=dict)
    degenerate: str | None = None  # why the value says nothing (e.g. a constant answer); fails strict mode
    limits: tuple[Limit, ...] = ()  # further bounded quantities (a paired gap's flip rate)

    @property
    def value_verdict(self) -> str:
        """The point verdict of `value` alone (without `limits`)."""
        value = round(self.value, DECIMALS)  # 0.9 - 0.6 must meet `max: 0.3`
        ok = (self.min is None or value >= self.min) and (self.max is None or value <= self.max)
        return PASS if ok else FAIL

    @property
    def point_verdict(self) -> str:
        ok = self.value_verdict == PASS and all(lim.point_verdict == PASS for lim in self.limits)
        return PASS if ok else FAIL

    def passes(self, gate: str, strict: bool = False) -> bool:
        """`point`: the point estimate decides; `confident`: only a `pass` verdict passes.
        `strict` (release gates) also fails an inconclusive verdict and a degenerate check."""
        if strict and (self.verdict == INCONCLUSIVE or self.degenerate):
            return False
        return self.point_verdict == PASS if gate == "point" else self.verdict == PASS  # confident, sequential

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

    @property
    def interval_name(self) -> str:
        """Short label of the interval this check used: "Wilson", "Newcombe", "Newcombe paired",
        "cluster bootstrap" (else the whole method)."""
        for prefix, label in INTERVAL_NAMES:
            if self.method.startswith(prefix):
                return label
        return self.method

    @property
    def at_threshold(self) -> bool:
        """The estimate equals a threshold: no sample size separates them."""
        return any(b is not None and abs(self.value - b) <= _AT_THRESHOLD for b in (self.min, self.max))

    def interval_text(self) -> str:
        return f"[{self.interval[0]:.3f}, {self.interval[1]:.3f}]"

    def failed_parts(self, gate: str = "point") -> list[str]:
        """Which limits fail under `gate`: the value's requirement and/or a named limit."""
        if gate == "point":
            parts = [] if self.value_verdict == PASS else [f"{self.kind} {self.requirement}"]
            return parts + [f"{lim.name} <= {lim.max:g} ({lim.param})" for lim in self.limits
                            if lim.point_verdict == FAIL]
        own = self.details.get("own_verdict", self.details.get("gap_verdict", self.verdict)) \
            if self.limits else self.verdict
        parts = [] if own == PASS else [f"{self.kind} {self.requirement}"]
        return parts + [f"{lim.name} <= {lim.max:g} ({lim.param})" for lim in self.limits if lim.verdict != PASS]

    def inconclusive_text(self) -> str:
        """Why an inconclusive verdict is undecided, in terms of the interval the check used."""
        if self.needed_n:
            return f"about {self.needed_n} {self.needed_unit} would decide it"
        if self.at_threshold:
            return "the estimate sits on the threshold: no sample size would decide it"
        if self.interval_name == "cluster bootstrap":
            return ("the cluster bootstrap interval still contains the threshold; more clusters would narrow it "
                    "(no sample-size estimate for a bootstrap)")
        return f"the {self.interval_name} interval still contains the threshold"

    def message(self, gate: str = "point") -> str:
        status = "ok" if self.passes(gate) else "FAILED"
        lines = [f"{self.name} = {self.value:.3f} {self.interval_text()}, required {self.requirement}: "
                 f"{status} (verdict {self.verdict}, gate {gate})",
                 f"  interval: {self.confidence:.0%} {self.method}"]
        lines += [f"  {lim.describe()}: verdict {lim.verdict}" for lim in self.limits]
        if self.limits and status == "FAILED" and self.failed_parts(gate):
            lines.append("  failed: " + "; ".join(self.failed_parts(gate)))
        if self.worst:
            lines.append("  " + " vs ".join(g.describe() for g in self.worst))
        if self.verdict == INCONCLUSIVE:
            lines.append("  inconclusive: " + self.inconclusive_text())
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)
