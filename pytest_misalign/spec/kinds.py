"""What suite parsing needs to know of a check kind: `KindSchema`, and the table of known kinds.

A check kind is declared once, in its own module under `checks/`, as a `checks.CheckKind`: this class
extended with how the kind runs, its sequential monitor (or why it has none), futility and evidence.
Parsing reads only the part declared here:

* `params`: each parameter's type, whether it is required, its help (`spec.params.Param`);
* `rules`: cross-parameter rules (`Rule` for a broken one), `task_rule` and `suite_rule`: rules that
  need the task (e.g. a generation metric) or the suite's tasks (`shift` names two of them);
* `task_types`: the task types it applies to, and `requires`: what it needs, said when a task's type
  does not fit;
* `shape`: what the check reads of each item and needs from scoring (`CheckShape`: the fields, which
  may be list-valued, the field keeping items together, sentences to score with an empty context).

The parser is given the kinds as a `Kinds` mapping (name -> schema): the plugin passes the built-in
kinds plus those other plugins add (`checks.registry`), so this layer never imports `checks/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from .model import ANSWERED, CheckShape
from .params import Param

if TYPE_CHECKING:  # pragma: no cover
    from .model import CheckSpec, TaskSpec


@dataclass(frozen=True)
class Rule:
    """A broken rule: the parser turns it into a `SuiteError` with the file, line and key.
    `param`: the parameter at fault (its line and key), None for the check as a whole."""

    message: str
    param: str | None = None
    fix: str | None = None


def no_rule(*_args: Any) -> Rule | None:
    return None


def default_shape(kind: str, params: Mapping[str, Any]) -> CheckShape:
    """A check over groups of `by` (when given) reads that field and is named `kind[by]`."""
    by = params.get("by")
    return CheckShape(label=f"{kind}[{by}]" if by else kind, reads={"by": by} if by else {})


@dataclass(frozen=True, kw_only=True)
class KindSchema:
    name: str
    params: Mapping[str, Param]
    summary: str = ""  # one line: what the check bounds (docs, `--help`-style listings)
    level: str = "task"  # "task": in a task's `checks:`; "suite": in the suite's, comparing tasks
    task_types: tuple[str, ...] = ANSWERED
    requires: tuple[str, str] | None = None  # (what it needs, the fix) when a task's type does not fit
    rules: Callable[[Mapping[str, Any]], Rule | None] = no_rule
    task_rule: Callable[["CheckSpec", "TaskSpec"], Rule | None] = no_rule
    suite_rule: Callable[["CheckSpec", Mapping[str, "TaskSpec"]], Rule | None] = no_rule
    shape: Callable[[str, Mapping[str, Any]], CheckShape] = default_shape
    tasks_read: Callable[["CheckSpec", Sequence["TaskSpec"]], list[str]] | None = None  # suite kinds
    extra: Mapping[str, Any] = field(default_factory=dict)  # free for third-party kinds

    def shape_of(self, params: Mapping[str, Any]) -> CheckShape:
        shape = self.shape(self.name, params)
        rules = getattr(self, "validate_items", None)
        return replace(shape, item_rules=rules) if rules is not None and rules is not no_rule else shape


Kinds = Mapping[str, KindSchema]  # by kind name
