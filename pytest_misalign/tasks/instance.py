"""A prepared task: its rendered, validated items (`Instance`) and how items group (`group_label`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..spec.model import SuiteSpec, TaskSpec

GroupValue = str | int | float | bool


@dataclass(frozen=True)
class Instance:
    """One scored unit: a rendered prompt, its choices (empty for free-form) and the right answer."""

    index: int  # 0-based position in the data source
    prompt: str
    choices: tuple[str, ...]
    answer: int | str  # index into choices; for free-form, the expected text (or regex)
    fields: dict[str, Any] = field(repr=False, default_factory=dict)
    labels: tuple[int, ...] | None = None  # which choices are true (1), when the data says (metric: mc2)


@dataclass
class PreparedTask:
    suite: SuiteSpec
    spec: TaskSpec
    instances: list[Instance]
    data_source: str
    total_items: int  # before limit
    fewshot: int = 0  # shots placed before every prompt (`fewshot:`, prepare.py)
    fewshot_text: str = ""  # those shots, as placed after the task's preamble
    _keys: list[str] | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (str(self.suite.path), self.spec.name)

    def item_keys(self) -> list[str]:
        """A short hash of each item's rendered prompt, choices and answer: a baseline's item with
        the same index but another key is a different question. The few-shot examples are left out:
        the question is the same whatever shots precede it, so runs with other shot counts pair up
        (`compare` names the shot counts among the differences between the runs)."""
        if self._keys is None:
            self._keys = [hashlib.sha256(json.dumps([self._question(i.prompt), list(i.choices), i.answer]).encode())
                          .hexdigest()[:16] for i in self.instances]
        return self._keys

    def _question(self, prompt: str) -> str:
        if not self.fewshot_text:
            return prompt
        return self.spec.preamble + prompt[len(self.spec.preamble) + len(self.fewshot_text):]

    def group_values(self, by: str) -> list[str]:
        """Each instance's group under `by`, as the string used in reports and JSON."""
        return [group_label(inst.fields[by]) for inst in self.instances]

    def group_memberships(self, by: str) -> list[tuple[str, ...]]:
        """Each instance's groups under `by`: one, or each value of a list-valued field (the item
        counts in every group it lists)."""
        return [memberships(inst.fields[by]) for inst in self.instances]


def memberships(value: Any) -> tuple[str, ...]:
    values = value if isinstance(value, (list, tuple)) else [value]
    return tuple(dict.fromkeys(group_label(v) for v in values))


def group_label(value: GroupValue) -> str:
    """A group value as text; a list-valued field's combination as "a|b" (regression, evidence)."""
    if isinstance(value, (list, tuple)):
        return "|".join(memberships(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
