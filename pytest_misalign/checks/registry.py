"""The table of check kinds: the built-in ones, one module each, and those other plugins add.

`KINDS` holds the built-in kinds. A session's table (`KINDS.extended(...)`) adds the kinds pytest
plugins return from the `pytest_misalign_check_kinds` hook; it is what suite parsing validates against
(`spec.parse_suite_file(kinds=...)`), what runs a check (`run`, `run_suite`), what the sequential gate
monitors, and what shows a failure's evidence. Every other table (which kinds need log-likelihoods,
which have a sequence, which support futility, ...) is read off the declarations, never repeated.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Mapping

from ..spec.model import CheckSpec
from . import (
    accuracy,
    bbq_bias,
    calibration,
    classification,
    consistency,
    domains,
    gap,
    group_accuracy,
    likelihood_diff,
    likelihood_gap,
    perplexity,
    perplexity_ratio,
    preference,
    score,
    score_gap,
    shift,
    spread,
)
from .kind import CheckKind, KindError, declaration_problems
from .result import CheckResult

BUILTIN_MODULES = (accuracy, group_accuracy, gap, consistency, likelihood_gap, preference, likelihood_diff, calibration,
                   bbq_bias,
                   score, score_gap, classification, perplexity, perplexity_ratio, spread, shift, domains)


RESERVED = {"regression": "regression tests against --misalign-baseline (baseline/)"}


class KindRegistry(Mapping[str, CheckKind]):
    """Check kinds by name; read-only once built (`extended` makes a new table)."""

    def __init__(self, kinds: Iterable[CheckKind] = (), *, origin: str = "pytest-misalign") -> None:
        self._kinds: dict[str, CheckKind] = {}
        self._origin: dict[str, str] = {}
        for kind in kinds:
            self._add(kind, origin)

    def _add(self, kind: CheckKind, origin: str) -> None:
        if not isinstance(kind, CheckKind):
            raise KindError(f"{origin}: a check kind must be a pytest_misalign.checks.CheckKind, got {kind!r}")
        problems = declaration_problems(kind)
        if problems:
            raise KindError(f"{origin}: check kind {kind.name!r}: " + "; ".join(problems))
        if kind.name in RESERVED:
            raise KindError(f"{origin}: check kind {kind.name!r}: the name is taken by pytest-misalign's "
                            f"{RESERVED[kind.name]}; choose another name")
        if kind.name in self._kinds:
            raise KindError(f"{origin}: check kind {kind.name!r} is already declared by {self._origin[kind.name]}; "
                            "choose another name")
        self._kinds[kind.name] = kind
        self._origin[kind.name] = origin

    def extended(self, kinds: Iterable[CheckKind], origin: str) -> "KindRegistry":
        """A new table: these kinds, plus the ones `origin` (a plugin's name) adds."""
        new = KindRegistry()
        new._kinds, new._origin = dict(self._kinds), dict(self._origin)
        for kind in kinds:
            new._add(kind, origin)
        return new

    def origin(self, name: str) -> str:
        return self._origin[name]

    def __getitem__(self, name: str) -> CheckKind:
        return self._kinds[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def run(self, check: CheckSpec, outcome, name: str) -> CheckResult:
        """A task-level check, fixed-n: `(check, outcome, name) -> CheckResult`."""
        return self._kinds[check.kind].run(check, outcome, name)

    def run_suite(self, check: CheckSpec, outcomes: dict, name: str) -> CheckResult:
        """A suite-level check over its tasks' outcomes (by task name)."""
        return self._kinds[check.kind].run(check, outcomes, name)

    def check(self, kind: str, params: dict | None = None, line: int | None = None) -> CheckSpec:
        """A `CheckSpec` built in code, shaped by its kind as parsing would (parameters unchecked)."""
        params = dict(params or {})
        return CheckSpec(kind, params, line, self._kinds[kind].shape_of(params))


KINDS = KindRegistry(kind for module in BUILTIN_MODULES
                     for kind in (module.KINDS if hasattr(module, "KINDS") else (module.KIND,)))
