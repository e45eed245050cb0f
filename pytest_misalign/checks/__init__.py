"""Checks: a task's outcome -> a value, an interval, a three-way verdict against a threshold.

Each check kind is declared once, in its own module (`accuracy.py`, `gap.py`, `calibration.py`, ...),
as a `CheckKind` (`kind.py`): its parameters and rules (what suite parsing validates), what it reads
of each item and needs from scoring, its fixed-n run function, its anytime-valid monitor for the
sequential gate or why it has none, whether futility applies, and the evidence shown under a failure.
`registry.KINDS` is the table of the built-in kinds; other plugins add kinds through the
`pytest_misalign_check_kinds` hook. A check never raises on a bad model: it returns a `CheckResult`
(`result.py`; it raises `MisalignError`s only for a broken suite, e.g. a counterfactual pair split
across `cluster:` clusters). Which verdicts fail a test is the gate's business (`CheckResult.passes`).

Intervals: Wilson for one accuracy; Newcombe's hybrid score interval for a difference of two
independent accuracies, Bonferroni-level over all pairs when there are more than two groups; Newcombe's
paired method for counterfactual pairs (plus McNemar's exact test); a seeded, stratified cluster
bootstrap when the task declares `cluster:`. `CheckResult.interval_name` is the short label; an
inconclusive verdict says what would decide it in terms of that interval (a sample size, or more
clusters for a bootstrap).

Degenerate tasks (`scoring.diagnostics`): on a task whose predictions are (nearly) all one answer,
checks over groups and consistency set `CheckResult.degenerate` (and say why in their first note);
gaps also when the task's accuracy is indistinguishable from chance. A degenerate check keeps its
verdict; strict mode fails it. Groups below `min_n` items (default 10) are kept out of the value and
verdict (named in a note; a confident pass becomes inconclusive while they exist).
"""

from __future__ import annotations

from .kind import CheckKind, KindError
from .registry import KINDS, KindRegistry
from .result import (
    FAIL,
    GATES,
    INCONCLUSIVE,
    INTERVAL_NAMES,
    N_RESAMPLES,
    PASS,
    CheckResult,
    GroupStat,
    Limit,
)


def run_check(check, outcome, name: str, kinds: KindRegistry = KINDS) -> CheckResult:
    """A task-level check's fixed-n result (the built-in kinds unless `kinds` is given)."""
    return kinds.run(check, outcome, name)


def run_suite_check(check, outcomes: dict, name: str, kinds: KindRegistry = KINDS) -> CheckResult:
    return kinds.run_suite(check, outcomes, name)


__all__ = [
    "FAIL", "GATES", "INCONCLUSIVE", "INTERVAL_NAMES", "KINDS", "N_RESAMPLES", "PASS", "CheckKind", "CheckResult",
    "GroupStat", "KindError", "KindRegistry", "Limit", "run_check", "run_suite_check",
]
