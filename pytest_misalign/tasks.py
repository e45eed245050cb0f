"""Turn a task spec plus its loaded items into concrete, validated instances.

Everything that can be wrong with data against templates is found here, at collection, before any
model is loaded: missing fields, answers that are not among the choices, unusable group values.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data import Item, LoadedData, load_items, subsample
from .errors import DataError, SuiteError
from .spec import SuiteSpec, TaskSpec

GroupValue = str | int | float | bool


@dataclass(frozen=True)
class Instance:
    """One scored unit: a rendered prompt, its choices (empty for free-form) and the right answer."""

    index: int  # 0-based position in the data source
    prompt: str
    choices: tuple[str, ...]
    answer: int | str  # index into choices; for free-form, the expected text (or regex)
    fields: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass
class PreparedTask:
    suite: SuiteSpec
    spec: TaskSpec
    instances: list[Instance]
    data_source: str
    total_items: int  # before limit
    _keys: list[str] | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (str(self.suite.path), self.spec.name)

    def item_keys(self) -> list[str]:
        """A short hash of each item's rendered prompt, choices and answer: a baseline's item with
        the same index but another key is a different question."""
        if self._keys is None:
            self._keys = [hashlib.sha256(json.dumps([i.prompt, list(i.choices), i.answer]).encode()).hexdigest()[:16]
                          for i in self.instances]
        return self._keys

    def group_values(self, by: str) -> list[str]:
        """Each instance's group under `by`, as the string used in reports and JSON."""
        return [group_label(inst.fields[by]) for inst in self.instances]


def group_label(value: GroupValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Template:
    """A `str.format` template restricted to plain field names (no attribute or index access)."""

    def __init__(self, text: str, key: str, raise_error) -> None:
        self.text = text
        self.key = key
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise raise_error(f"bad template {text!r}: {exc}", key,
                              "literal braces are written `{{` and `}}`") from None
        self.fields = []
        for _, name, _, _ in parsed:
            if name is None:
                continue
            if not name.isidentifier():
                raise raise_error(f"template field {{{name}}} must be a plain field name", key,
                                  "use `{field}`; attribute and index access are not allowed")
            self.fields.append(name)

    def render(self, item: Item, raise_item_error) -> str:
        missing = [f for f in self.fields if f not in item.fields]
        if missing:
            raise raise_item_error(item, f"field '{missing[0]}' used in `{self.key}` is missing from item "
                                         f"{item.index} (its fields: {', '.join(map(str, item.fields)) or 'none'})",
                                   self.key)
        try:
            return self.text.format_map(item.fields)
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise raise_item_error(item, f"cannot render `{self.key}` for item {item.index}: {exc}", self.key) from None


def prepare_task(suite: SuiteSpec, task: TaskSpec, *, cap: int | None = None,
                 data_dir: Path | None = None) -> PreparedTask:
    """Load, subsample (`data.limit`, capped by `cap`), render and validate a task's items."""
    loaded = load_items(task, suite.path, data_dir=data_dir)
    limit = min((x for x in (task.data.limit, cap) if x is not None), default=None)
    loaded = subsample(loaded, limit, task.data.seed, unit=sampling_unit(task))
    renderer = _Renderer(suite, task, loaded)
    instances = [renderer.instance(item) for item in loaded.items]
    _validate_fields(suite, task, instances)
    return PreparedTask(suite, task, instances, loaded.source, loaded.total)


def sampling_unit(task: TaskSpec) -> str | None:
    """The field whose items must be kept together when subsampling (pairs, question variants)."""
    for check in task.checks:
        if check.pair_field:
            return check.pair_field
    return next((c.params["of"] for c in task.checks if c.kind == "consistency"), None)


class _Renderer:
    def __init__(self, suite: SuiteSpec, task: TaskSpec, loaded: LoadedData) -> None:
        self.suite, self.task, self.loaded = suite, task, loaded
        self.prompt = _Template(task.prompt, "prompt", self._spec_error)
        self.answer = _Template(task.answer, "answer", self._spec_error)
        # `answer: "{label}"` — a bare field reference, whose raw value may be an integer index.
        bare = len(self.answer.fields) == 1 and task.answer == "{%s}" % self.answer.fields[0]
        self.answer_field = self.answer.fields[0] if bare else None
        self.choice_field = task.choices if isinstance(task.choices, str) else None
        self.choices = ([_Template(c, f"choices[{i}]", self._spec_error) for i, c in enumerate(task.choices)]
                        if isinstance(task.choices, list) else [])

    def _spec_error(self, message: str, key: str, fix: str | None = None) -> SuiteError:
        return SuiteError(message, path=self.suite.path, line=self.task.line, task=self.task.name,
                          key=key, fix=fix)

    def item_error(self, item: Item, message: str, key: str, fix: str | None = None) -> DataError:
        # Point at the item's own line when we know it (inline YAML item or a JSONL/CSV row).
        path = self.loaded.path if item.line else self.suite.path
        line = item.line or self.task.line
        source = "" if self.loaded.source == "inline items" else f" [{self.loaded.source}]"
        return DataError(message + source, path=path, line=line, task=self.task.name, key=key, fix=fix)

    def instance(self, item: Item) -> Instance:
        prompt = self.prompt.render(item, self.item_error)
        if self.task.is_generation:
            expected = self.answer.render(item, self.item_error)
            if self.task.match == "regex":
                try:
                    re.compile(expected)
                except re.error as exc:
                    raise self.item_error(item, f"answer {expected!r} of item {item.index} is not a valid "
                                                f"regular expression: {exc}", "answer") from None
            return Instance(item.index, prompt, (), expected, item.fields)
        choices = self._choices(item)
        return Instance(item.index, prompt, choices, self._answer_index(item, choices), item.fields)

    def _choices(self, item: Item) -> tuple[str, ...]:
        if self.choice_field is None:
            return tuple(t.render(item, self.item_error) for t in self.choices)
        value = item.fields.get(self.choice_field)
        if value is None:
            raise self.item_error(item, f"field '{self.choice_field}' named by `choices` is missing from item "
                                        f"{item.index}", "choices")
        if not isinstance(value, (list, tuple)) or len(value) < 2:
            raise self.item_error(item, f"field '{self.choice_field}' must hold a list of at least two choices, "
                                        f"got {value!r}", "choices")
        return tuple(str(v) for v in value)

    def _answer_index(self, item: Item, choices: tuple[str, ...]) -> int:
        """The answer renders to the right choice's text, or to its index.

        A field holding an integer (`answer: "{label}"` with `label: 2`) is an index. Otherwise the
        text is matched against the choices first, then read as an index (CSV values are strings).
        """
        raw = item.fields.get(self.answer_field) if self.answer_field else None
        rendered = self.answer.render(item, self.item_error)
        if isinstance(raw, int) and not isinstance(raw, bool):
            index = raw
        elif rendered in choices:
            index = choices.index(rendered)
        elif rendered.strip().lstrip("-").isdigit():
            index = int(rendered.strip())
        else:
            raise self.item_error(item, f"answer {rendered!r} of item {item.index} is not among its choices "
                                        f"{list(choices)}", "answer",
                                  "the answer must render to a choice's exact text or to its 0-based index")
        if not 0 <= index < len(choices):
            raise self.item_error(item, f"answer index {index} of item {item.index} is out of range for "
                                        f"{len(choices)} choices", "answer",
                                  "indices are 0-based: 0 is the first choice")
        return index


def _validate_fields(suite: SuiteSpec, task: TaskSpec, instances: list[Instance]) -> None:
    """Every field a check (or `cluster:`) reads exists in every item with a usable value."""
    uses = [(f"checks[{n}].{c.kind}.{param}", c.line, name)
            for n, c in enumerate(task.checks) for param, name in c.fields.items()]
    if task.cluster:
        uses.append(("cluster", task.line, task.cluster))
    for key, line, name in uses:
        for inst in instances:
            if name not in inst.fields:
                raise SuiteError(f"field '{name}' is missing from item {inst.index} "
                                 f"(its fields: {', '.join(map(str, inst.fields))})",
                                 path=suite.path, line=line, task=task.name, key=key,
                                 fix=f"`{key.rsplit('.', 1)[-1]}:` must name a field every item has")
            value = inst.fields[name]
            if value is None or (isinstance(value, str) and not value.strip()) \
                    or not isinstance(value, (str, int, float, bool)):
                raise SuiteError(f"item {inst.index} has an empty or unusable group value {value!r} for '{name}'",
                                 path=suite.path, line=line, task=task.name, key=key,
                                 fix="group values must be non-empty strings, numbers or booleans")
    for n, check in enumerate(task.checks):
        if check.kind == "gap":
            values = {group_label(inst.fields[check.by]) for inst in instances}
            if len(values) < 2:
                raise SuiteError(f"a gap needs at least two groups, but '{check.by}' has only {sorted(values)} "
                                 f"over {len(instances)} items",
                                 path=suite.path, line=check.line, task=task.name, key=f"checks[{n}].gap.by",
                                 fix="choose a field with several values, or raise data.limit")
