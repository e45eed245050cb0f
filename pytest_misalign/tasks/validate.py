"""At collection: every field a check (or `cluster:`) reads exists in every item with a usable value.

What each check reads comes from its kind (`CheckSpec.shape`, worked out when the suite was parsed),
and so do the kind's own rules on the data (`CheckShape.item_rules`, e.g. a gap needs two groups,
BBQ's fields must have BBQ's layout): `validate_checks`.
"""

from __future__ import annotations

from typing import Any

from ..errors import SuiteError
from ..spec.model import SuiteSpec, TaskSpec
from .instance import Instance


def validate_fields(suite: SuiteSpec, task: TaskSpec, instances: list[Instance]) -> None:
    """Every field a check (or `cluster:`) reads exists in every item with a usable value."""
    uses = [(f"checks[{n}].{c.kind}.{param}", c.line, name, _may_list(task, c, param))
            for n, c in enumerate(task.checks) for param, name in c.fields.items()]
    if task.cluster:
        uses.append(("cluster", task.line, task.cluster, False))
    if task.regression.by:  # read against --misalign-baseline
        uses.append(("regression.by", task.line, task.regression.by, True))
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


def _usable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) and not (isinstance(value, str) and not value.strip())


def _may_list(task: TaskSpec, check, param: str) -> bool:
    """List-valued group fields (an item in several groups) are read only where the check's kind allows
    it (gap and group_accuracy's `by` on independent items: `CheckShape.list_ok`), never with `cluster:`."""
    return param in check.shape.list_ok


def _list_allowed(suite: SuiteSpec, task: TaskSpec, key: str, line, name: str, index: int, may_list: bool) -> None:
    if may_list and not task.cluster:
        return
    why = ("with `cluster:` (the cluster bootstrap resamples items in one group each)" if may_list
           else f"for `{key.rsplit('.', 1)[-1]}:` here")
    raise SuiteError(f"field '{name}' of item {index} is list-valued; list-valued group fields are not "
                     f"supported {why}", path=suite.path, line=line, task=task.name, key=key,
                     fix="use a field with one value per item (`rename:` or `where:` can shape one), or use it "
                         "in `gap`/`group_accuracy` `by:` without `cluster:`")


def validate_checks(suite: SuiteSpec, task: TaskSpec, instances: list[Instance]) -> None:
    """Each check kind's own rules on the items (`CheckShape.item_rules`), as a SuiteError."""
    for n, check in enumerate(task.checks):
        rules = check.shape.item_rules
        rule = rules(check, task, instances) if rules is not None else None
        if rule is not None:
            key = f"checks[{n}].{check.kind}" + (f".{rule.param}" if rule.param else "")
            raise SuiteError(rule.message, path=suite.path, line=check.line, task=task.name, key=key, fix=rule.fix)


def validate_metric(suite: SuiteSpec, task: TaskSpec, instances: list[Instance]) -> None:
    """`metric: mc2` reads which choices are true: every item's choices must come with labels."""
    if task.metric != "mc2":
        return
    bare = next((inst for inst in instances if inst.labels is None or 1 not in inst.labels), None)
    if bare is not None:
        raise SuiteError(f"`metric: mc2` needs labelled choices, and item {bare.index} has "
                         + ("none" if bare.labels is None else "no true one"), path=suite.path, line=task.line,
                         task=task.name, key="metric",
                         fix="name a field holding {choice: label} (or {choices: [...], labels: [...]}) in `choices:`")
