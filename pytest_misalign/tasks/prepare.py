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

from ..checks.bbq_scores import validate_task as validate_bbq
from ..data.load import Item, LoadedData, load_items, subsample
from ..spec.shape import Fields, is_field_path
from ..errors import DataError, SuiteError
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


class _Template:
    """A `str.format` template over field names and dotted paths (`{meta.age}`), no index access."""

    def __init__(self, text: str, key: str, raise_error) -> None:
        self.text = text
        self.key = key
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise raise_error(f"bad template {text!r}: {exc}", key,
                              "literal braces are written `{{` and `}}`") from None
        self.fields: list[str] = []
        safe = []  # the template with fields replaced by positions: "{meta.age}" -> "{0}"
        for literal, name, spec, conversion in parsed:
            safe.append(literal.replace("{", "{{").replace("}", "}}"))
            if name is None:
                continue
            if not is_field_path(name):
                raise raise_error(f"template field {{{name}}} must be a plain field name or a dotted path of them", key,
                                  "use `{field}` or `{field.subfield}`; index access `[...]` is not allowed")
            safe.append("{%d%s%s}" % (len(self.fields), "!" + conversion if conversion else "",
                                      ":" + spec if spec else ""))
            self.fields.append(name)
        self.safe = "".join(safe)

    def render(self, item: Item, raise_item_error) -> str:
        fields = item.fields if isinstance(item.fields, Fields) else Fields(item.fields)
        missing = [f for f in self.fields if f not in fields]
        if missing:
            raise raise_item_error(item, f"field '{missing[0]}' used in `{self.key}` is missing from item "
                                         f"{item.index} (its fields: {', '.join(map(str, item.fields)) or 'none'})",
                                   self.key)
        try:
            return self.safe.format(*(fields[f] for f in self.fields))
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise raise_item_error(item, f"cannot render `{self.key}` for item {item.index}: {exc}", self.key) from None


def prepare_task(suite: SuiteSpec, task: TaskSpec, *, cap: int | None = None,
                 data_dir: Path | None = None) -> PreparedTask:
    """Load, subsample (`data.limit`, capped by `cap`), render and validate a task's items."""
    loaded = load_items(task, suite.path, data_dir=data_dir, roots=suite.data_roots)
    limit = min((x for x in (task.data.limit, cap) if x is not None), default=None)
    loaded = subsample(loaded, limit, task.data.seed, unit=sampling_unit(task))
    renderer = _Renderer(suite, task, loaded)
    instances = [renderer.instance(item) for item in loaded.items]
    _validate_fields(suite, task, instances)
    validate_bbq(suite, task, instances)
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
        self.text = _Template(task.text, "text", self._spec_error) if task.is_perplexity else None

    def _spec_error(self, message: str, key: str, fix: str | None = None) -> SuiteError:
        return SuiteError(message, path=self.suite.path, line=self.task.line, task=self.task.name,
                          key=key, fix=fix)

    def item_error(self, item: Item, message: str, key: str, fix: str | None = None) -> DataError:
        # Point at the item's own line when we know it (inline YAML item or a JSONL/CSV row).
        path = (item.path or self.loaded.path) if item.line else self.suite.path
        line = item.line or self.task.line
        source = "" if self.loaded.source == "inline items" else f" [{self.loaded.source}]"
        return DataError(message + source, path=path, line=line, task=self.task.name, key=key, fix=fix)

    def instance(self, item: Item) -> Instance:
        if self.text is not None:  # type: perplexity: the document is the prompt, nothing to answer
            return Instance(item.index, self.text.render(item, self.item_error), (), "", item.fields)
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
            choices = tuple(t.render(item, self.item_error) for t in self.choices)
        else:
            value = item.fields.get(self.choice_field)
            if value is None:
                raise self.item_error(item, f"field '{self.choice_field}' named by `choices` is missing from item "
                                            f"{item.index}", "choices")
            if not isinstance(value, (list, tuple)) or len(value) < 2:
                raise self.item_error(item, f"field '{self.choice_field}' must hold a list of at least two choices, "
                                            f"got {value!r}", "choices")
            choices = tuple(str(v) for v in value)
        seen: dict[str, int] = {}
        for i, choice in enumerate(choices):
            if choice in seen:
                raise self.item_error(item, f"choices {seen[choice]} and {i} of item {item.index} are both "
                                            f"{choice!r}: they would tie and either would count as right",
                                      "choices", "every item's choices must render to different texts")
            seen[choice] = i
        return choices

    def _answer_index(self, item: Item, choices: tuple[str, ...]) -> int:
        """Which choice the answer names: see `answer_choice`."""
        raw = item.fields.get(self.answer_field) if self.answer_field else None
        rendered = self.answer.render(item, self.item_error)
        index, problem = answer_choice(rendered, raw, choices, self.task.answer_type, item.index)
        if problem is not None:
            raise self.item_error(item, problem[0], "answer", problem[1])
        return index


_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")


def answer_choice(rendered: str, raw: Any, choices: tuple[str, ...], answer_type: str = "auto", item: Any = "?"
                  ) -> tuple[int, None] | tuple[None, tuple[str, str]]:
    """The index of the choice an answer names, or a problem (message about item `item`, fix).

    The answer is read two ways. As text: it names the choice whose text it renders to exactly. As an
    index: when it is a whole number (a YAML/JSON integer, or digits, as CSV gives), it names the
    choice at that 0-based position. `answer_type: text` or `index` uses only that reading. With
    `auto` (the default) a single reading decides; when both exist and name different choices the
    answer is ambiguous and an error asks for `answer_type`.
    """
    as_text = choices.index(rendered) if rendered in choices else None
    number = raw if isinstance(raw, int) and not isinstance(raw, bool) else (
        int(rendered.strip()) if _INTEGER.fullmatch(rendered.strip()) else None)
    as_index = number if number is not None and 0 <= number < len(choices) else None
    listed = list(choices)
    if answer_type == "text":
        if as_text is None:
            return None, (f"answer {rendered!r} of item {item} is not among its choices {listed}",
                          "with `answer_type: text` the answer must render to a choice's exact text")
        return as_text, None
    if answer_type == "index":
        if number is None:
            return None, (f"answer {rendered!r} of item {item} is not a choice index",
                          "with `answer_type: index` the answer must be a 0-based index into the choices")
        if as_index is None:
            return None, (f"answer index {number} of item {item} is out of range for {len(choices)} choices",
                          "indices are 0-based: 0 is the first choice")
        return as_index, None
    if as_text is not None and as_index is not None and as_text != as_index:
        return None, (f"answer {rendered!r} of item {item} is ambiguous: it is the text of choice {as_text} "
                      f"and the index of choice {as_index} ({choices[as_index]!r})",
                      "add `answer_type: text` (answers are choice texts) or `answer_type: index` "
                      "(answers are 0-based indices) to the task")
    if as_text is not None:
        return as_text, None
    if as_index is not None:
        return as_index, None
    if number is not None and raw is number:
        return None, (f"answer index {number} of item {item} is out of range for {len(choices)} choices",
                      "indices are 0-based: 0 is the first choice")
    hint = f" nor a 0-based index below {len(choices)}" if number is not None else ""
    return None, (f"answer {rendered!r} of item {item} is not among its choices {listed}{hint}",
                  "the answer must render to a choice's exact text or to its 0-based index")


def _validate_fields(suite: SuiteSpec, task: TaskSpec, instances: list[Instance]) -> None:
    """Every field a check (or `cluster:`) reads exists in every item with a usable value."""
    uses = [(f"checks[{n}].{c.kind}.{param}", c.line, name, _may_list(task, c, param))
            for n, c in enumerate(task.checks) for param, name in c.fields.items()]
    if task.cluster:
        uses.append(("cluster", task.line, task.cluster, False))
    for key, line, name, may_list in uses:
        for inst in instances:
            if name not in inst.fields:
                raise SuiteError(f"field '{name}' is missing from item {inst.index} "
                                 f"(its fields: {', '.join(map(str, inst.fields))})",
                                 path=suite.path, line=line, task=task.name, key=key,
                                 fix=f"`{key.rsplit('.', 1)[-1]}:` must name a field every item has")
            value = inst.fields[name]
            if isinstance(value, (list, tuple)) and value:
                _list_allowed(suite, task, key, line, name, inst.index, may_list)
                value = value[0] if all(_usable(v) for v in value) else None
            if not _usable(value):
                raise SuiteError(f"item {inst.index} has an empty or unusable group value {value!r} for '{name}'",
                                 path=suite.path, line=line, task=task.name, key=key,
                                 fix="group values must be non-empty strings, numbers or booleans")
    for n, check in enumerate(task.checks):
        if check.kind == "gap":
            values = {g for inst in instances for g in memberships(inst.fields[check.by])}
            if len(values) < 2:
                raise SuiteError(f"a gap needs at least two groups, but '{check.by}' has only {sorted(values)} "
                                 f"over {len(instances)} items",
                                 path=suite.path, line=check.line, task=task.name, key=f"checks[{n}].gap.by",
                                 fix="choose a field with several values, or raise data.limit")


def _usable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) and not (isinstance(value, str) and not value.strip())


def _may_list(task: TaskSpec, check, param: str) -> bool:
    """List-valued group fields (an item in several groups) are read by gap and group_accuracy's
    `by` on independent items only: not with `cluster:` or counterfactual pairs."""
    return param == "by" and check.kind in ("gap", "group_accuracy") and not check.pair_field


def _list_allowed(suite: SuiteSpec, task: TaskSpec, key: str, line, name: str, index: int, may_list: bool) -> None:
    if may_list and not task.cluster:
        return
    why = ("with `cluster:` (the cluster bootstrap resamples items in one group each)" if may_list
           else f"for `{key.rsplit('.', 1)[-1]}:` here")
    raise SuiteError(f"field '{name}' of item {index} is list-valued; list-valued group fields are not "
                     f"supported {why}", path=suite.path, line=line, task=task.name, key=key,
                     fix="use a field with one value per item (`rename:` or `where:` can shape one), or use it "
                         "in `gap`/`group_accuracy` `by:` without `cluster:`")
