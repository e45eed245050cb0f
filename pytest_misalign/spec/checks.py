"""The `checks:` of a task or a suite: each entry parsed against its kind's declared parameters and rules.

The kinds come as a table (`spec.kinds.Kinds`); every problem is a `SuiteError` naming the file, line,
task and key (`checks[1].gap.max`), with a fix.
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping

from .context import Ctx, line_of
from .kinds import Kinds, KindSchema, Rule
from .model import CheckSpec, TaskSpec
from .params import param_problem
from .yamlio import YamlMap

EXAMPLE = {"task": "- gap: {by: region, max: 0.3}", "suite": "- spread: {max: 0.3}"}


def parse_checks(ctx: Ctx, node: YamlMap, kinds: Kinds, level: str, what: str) -> list[CheckSpec]:
    """The node's `checks:` list; `level` is "task" or "suite" (which kinds may appear)."""
    raw = node.get("checks", [])
    if not isinstance(raw, list):
        first = next((k for k, kind in kinds.items() if kind.level == level), "accuracy")
        raise ctx.error(f"{what} must be a list like `- {first}: {{...}}`", key="checks",
                        line=node.line_of("checks"))
    return [_parse_check(ctx, entry, raw.line_of(i), i, kinds, level, what) for i, entry in enumerate(raw)]


def _unknown_kind(ctx: Ctx, kind: Any, kinds: Kinds, level: str, what: str, where: str, line: int | None):
    here = sorted(k for k, decl in kinds.items() if decl.level == level)
    close = difflib.get_close_matches(str(kind), here, n=1)
    other = "suite" if level == "task" else "task"
    fix = (f"'{kind}' belongs in the {other}-level `checks:`" if kind in kinds
           else f"did you mean '{close[0]}'?" if close else f"{what}: {', '.join(here)}")
    return ctx.error(f"unknown check '{kind}' in {what}", key=where, line=line, fix=fix)


def _parse_check(ctx: Ctx, entry: Any, line: int | None, index: int, kinds: Kinds, level: str,
                 what: str) -> CheckSpec:
    where = f"checks[{index}]"
    if isinstance(entry, str):
        entry = YamlMap({entry: YamlMap()})
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ctx.error(f"each check is a one-key mapping such as `{EXAMPLE[level]}`", key=where, line=line)
    (kind, params), = entry.items()
    decl = kinds.get(kind) if isinstance(kind, str) else None
    if decl is None or decl.level != level:
        raise _unknown_kind(ctx, kind, kinds, level, what, where, line)
    if params is None:
        params = YamlMap()
    if not isinstance(params, dict):
        raise ctx.error(f"parameters of '{kind}' must be a mapping, got {params!r}", key=where, line=line)
    _check_params(ctx, decl, params, where, line)
    raise_rule(ctx, _generic_rules(decl, params) or decl.rules(params), kind, params, where, line)
    return CheckSpec(kind=kind, params=dict(params), line=line, shape=decl.shape_of(params))


def _check_params(ctx: Ctx, decl: KindSchema, params: Mapping, where: str, line: int | None) -> None:
    kind, schema = decl.name, decl.params
    for key, value in params.items():
        if key not in schema:
            close = difflib.get_close_matches(str(key), sorted(schema), n=1)
            raise ctx.error(f"unknown parameter '{key}' for check '{kind}'", key=f"{where}.{kind}.{key}",
                            line=line_of(params, key) or line,
                            fix=f"did you mean '{close[0]}'?" if close else f"'{kind}' takes: {', '.join(sorted(schema))}")
        problem = param_problem(schema[key], value)
        if problem:
            raise ctx.error(f"parameter '{key}' {problem}, got {value!r}", key=f"{where}.{kind}.{key}",
                            line=line_of(params, key) or line)
    for key, param in schema.items():
        if param.required and key not in params:
            raise ctx.error(f"check '{kind}' needs '{key}' ({param.help})", key=f"{where}.{kind}", line=line,
                            fix=f"add `{key}: ...`")


def _generic_rules(decl: KindSchema, params: Mapping) -> Rule | None:
    """Rules of every kind with `min` and `max`: they must not contradict each other."""
    low, high = params.get("min"), params.get("max")
    if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low > high and "min" in decl.params:
        return Rule(f"contradictory thresholds: min {low} is above max {high}, so no result can pass", "min",
                    f"swap them (`{{min: {high}, max: {low}}}`), or keep only one")
    return None


def raise_rule(ctx: Ctx, rule: Rule | None, kind: str, params: Mapping, where: str, line: int | None) -> None:
    """A broken rule as a SuiteError: key `checks[i].kind[.param]`, the parameter's own line when known."""
    if rule is None:
        return
    key = f"{where}.{kind}" + (f".{rule.param}" if rule.param else "")
    at = (line_of(params, rule.param) if rule.param and rule.param in params else None) or line
    raise ctx.error(rule.message, key=key, line=at, fix=rule.fix)


def check_task_checks(ctx: Ctx, task: TaskSpec, kinds: Kinds) -> None:
    """Each check fits the task: its kind applies to the task's type, and the kind's task rule holds."""
    for index, check in enumerate(task.checks):
        decl = kinds[check.kind]
        where = f"checks[{index}]"
        if task.task_type not in decl.task_types:
            raise _wrong_task(ctx, decl, task, check, where)
        raise_rule(ctx, decl.task_rule(check, task), check.kind, check.params, where, check.line)


def _wrong_task(ctx: Ctx, decl: KindSchema, task: TaskSpec, check: CheckSpec, where: str):
    kind = check.kind
    if task.is_sentence_pair:
        return ctx.error(f"check '{kind}' is about answers, but a `type: sentence_pair` task has none",
                         key=f"{where}.{kind}", line=check.line,
                         fix="use `preference: {max_deviation: ...}` or `likelihood_diff: {max: ...}`")
    if task.is_perplexity:
        return ctx.error(f"check '{kind}' is about answers, but a `type: perplexity` task has none",
                         key=f"{where}.{kind}", line=check.line, fix="use `perplexity: {max: ...}` or `perplexity_ratio: {by: FIELD, max: ...}`")
    if decl.task_types == ("perplexity",):
        return ctx.error(f"check '{kind}' needs a `type: perplexity` task (documents with a `text:` template)",
                         key=f"{where}.{kind}", line=check.line, fix="move it to a task with `type: perplexity` and `text: \"{field}\"`")
    needs, fix = decl.requires or (f"applies to {' or '.join(decl.task_types)} tasks",
                                   f"move it to a {decl.task_types[0]} task")
    return ctx.error(f"check '{kind}' {needs}", key=f"{where}.{kind}", line=check.line, fix=fix)


def check_suite_checks(ctx: Ctx, checks: list[CheckSpec], tasks: Mapping[str, TaskSpec], kinds: Kinds) -> None:
    """Each suite-level check's rule against the suite's tasks (e.g. `shift` names two of them)."""
    for index, check in enumerate(checks):
        raise_rule(ctx, kinds[check.kind].suite_rule(check, tasks), check.kind, check.params,
                   f"checks[{index}]", check.line)
