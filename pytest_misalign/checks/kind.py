"""`CheckKind`: everything about one kind of check, declared once, in the kind's own module.

A kind module (`checks/calibration.py`, ...) ends with one declaration::

    KIND = CheckKind(
        name="calibration",
        summary="expected calibration error of the chosen answer, and its gap between groups",
        params={...},                       # spec.params.Param per parameter
        rules=_rules,                       # cross-parameter rules -> spec.kinds.Rule | None
        task_types=("multiple_choice",),    # where it applies; `requires`: said when it doesn't
        requires=("needs log-likelihoods: it applies to multiple-choice tasks", "fix ..."),
        run=check_calibration,              # fixed-n: (check, outcome, name) -> CheckResult
        no_monitor="expected calibration error is not a mean of per-item values",
    )

The parts suite parsing reads (`params`, rules, `task_types`, `shape`) are those of
`spec.kinds.KindSchema`; this class adds how the kind runs:

* `run`: the fixed-n check. Task kinds take `(check, outcome, name)`, suite kinds (`level="suite"`)
  `(check, {task: outcome}, name)`. It returns a `CheckResult` and raises `MisalignError`s only for a
  broken suite.
* `monitor`: its anytime-valid sequence for `--misalign-gate=sequential` (`checks/monitor.py`: task
  kinds take `(check, view, alpha)`, suite kinds `(check, {task: view}, alpha)`) -- or `no_monitor`,
  the reason it has none (a task with such a check is then scored in full). Exactly one of the two.
  `unmonitored(check, task)` may give a reason for some configurations of a monitored kind.
* `futility`: whether the sequential gate may stop it early for futility (correctness-based kinds,
  whose extreme completions are each group all right or all wrong: `sequential/futility.py`).
* `validate_items(check, task, instances)`: rules on the data, checked at collection (-> Rule | None).
* `evidence(check, result, outcome, limit, width)`: the lines shown under a failing check
  (default: the wrong items of the worst group, `checks/evidence.py`).

Other pytest plugins add kinds with the `pytest_misalign_check_kinds` hook (`hookspecs.py`); they then
parse, run, report and gate exactly like the built-in ones (`checks/registry.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..spec.kinds import KindSchema, Rule, no_rule
from ..spec.model import TASK_TYPES

if TYPE_CHECKING:  # pragma: no cover
    from ..scoring.outcome import TaskOutcome
    from ..spec.model import CheckSpec, TaskSpec
    from ..tasks.instance import Instance
    from .monitor import Seq
    from .result import CheckResult

RunFn = Callable[..., "CheckResult"]
MonitorFn = Callable[..., "Seq"]
EvidenceFn = Callable[["CheckSpec", "CheckResult", "TaskOutcome", int, int], list[str]]


class KindError(TypeError):
    """A check kind declared inconsistently (a plugin's bug, reported when the kind is registered)."""


def never(_check: "CheckSpec", _task: "TaskSpec") -> str | None:
    return None


@dataclass(frozen=True, kw_only=True)
class CheckKind(KindSchema):
    run: RunFn
    monitor: MonitorFn | None = None
    no_monitor: str | None = None
    unmonitored: Callable[["CheckSpec", "TaskSpec"], str | None] = never
    futility: bool = False
    validate_items: Callable[["CheckSpec", "TaskSpec", Sequence["Instance"]], Rule | None] = no_rule
    evidence: EvidenceFn | None = None

    def __post_init__(self) -> None:
        problems = declaration_problems(self)
        if problems:
            raise KindError(f"check kind {self.name!r}: " + "; ".join(problems))

    def why_unmonitored(self, check: "CheckSpec", task: "TaskSpec") -> str | None:
        """Why this check has no sequence (its task is then scored in full), or None."""
        return self.no_monitor if self.monitor is None else self.unmonitored(check, task)


def declaration_problems(kind: Any) -> list[str]:
    """What is wrong with a declaration (empty when it is sound)."""
    problems = []
    if not isinstance(kind.name, str) or not kind.name.isidentifier():
        problems.append("`name` must be an identifier (it is the key in a suite's `checks:`)")
    if kind.level not in ("task", "suite"):
        problems.append("`level` must be 'task' or 'suite'")
    if not callable(kind.run):
        problems.append("`run` must be a function (check, outcome, name) -> CheckResult")
    if (kind.monitor is None) == (kind.no_monitor is None):
        problems.append("declare exactly one of `monitor` (its anytime-valid sequence) and `no_monitor` "
                        "(the reason it has none)")
    if kind.no_monitor is not None and not (isinstance(kind.no_monitor, str) and kind.no_monitor.strip()):
        problems.append("`no_monitor` must say why, in words")
    if kind.futility and kind.level != "task":
        problems.append("futility applies to task-level kinds only")
    if not kind.task_types or any(t not in TASK_TYPES for t in kind.task_types):
        problems.append(f"`task_types` must name some of {', '.join(TASK_TYPES)}")
    return problems
