"""Parse a suite file into specs (`model.py`): the suite, its tasks and its suite-level checks.

A task's own keys are parsed in `task.py` (perplexity tasks: `perplexity.py`), its data in `data.py`,
checks in `checks.py` against the kinds the caller passes (`kinds.py`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from ..errors import SuiteError
from .checks import check_suite_checks, check_task_checks, parse_checks
from .context import Ctx, check_keys, require_map, require_str, str_list
from .data import parse_data
from .fewshot import parse_fewshot, parse_preamble
from .kinds import Kinds
from .model import SUITE_KEYS, TASK_KEYS, SuiteSpec, TaskSpec
from .task_types import parse_perplexity_task, parse_sentence_pair_task, parse_task_type
from .task import parse_task_body
from .yamlio import YamlMap, load_document


def parse_suite_file(path: Path, *, kinds: Kinds, data_roots: Sequence[Path] | None = None,
                     require_checks: bool = False) -> SuiteSpec:
    """Read and validate one suite file.

    `kinds`: the check kinds its `checks:` may use (`checks.KINDS`, or the session's registry with
    the kinds other plugins add).
    `data_roots`: folders every local data file must resolve into (symlinks followed), else a
    SuiteError; the plugin passes pytest's rootdir, `misalign_data_roots` and --misalign-data-dir.
    None leaves paths unconfined (library use).
    `require_checks`: a task that nothing tests is an error (see `_require_some_check`); the plugin
    sets it; library callers that run checks of their own leave it off.
    """
    path = Path(path)
    roots = tuple(_resolved_roots(data_roots)) if data_roots is not None else None
    doc = load_document(path)
    raw = doc.data
    ctx = Ctx(path)
    if not isinstance(raw, YamlMap):
        raise ctx.error("a suite file must be a mapping with `suite:` and `tasks:` keys")
    check_keys(ctx, raw, SUITE_KEYS, "the suite")
    name = require_str(ctx, raw, "suite")
    tasks_node = raw.get("tasks")
    if not isinstance(tasks_node, list) or not tasks_node:
        raise ctx.error("must be a non-empty list of tasks", key="tasks", line=raw.line_of("tasks"),
                        fix="add at least one task with `name`, `data`, `prompt`, `answer`")
    tasks = [_parse_task(path, node, tasks_node.line_of(i), roots, kinds) for i, node in enumerate(tasks_node)]
    seen = _unique_names(ctx, tasks)
    checks = parse_checks(ctx, raw, kinds, "suite", "suite-level checks")
    check_suite_checks(ctx, checks, seen, kinds)
    if require_checks:
        _require_some_check(ctx, tasks, tasks_node, checks, kinds)
    return SuiteSpec(name=name, path=path, tasks=tasks, description=str(raw.get("description") or ""),
                     markers=str_list(ctx, raw, "markers"), checks=checks, sha256=doc.sha256, data_roots=roots)


def _unique_names(ctx: Ctx, tasks: list[TaskSpec]) -> dict[str, TaskSpec]:
    seen: dict[str, TaskSpec] = {}
    for task in tasks:
        if task.name in seen:
            raise ctx.error(f"duplicate task name '{task.name}' (first at line {seen[task.name].line})",
                            key="name", line=task.line, fix="task names must be unique within a suite")
        seen[task.name] = task
    return seen


def _require_some_check(ctx: Ctx, tasks: list[TaskSpec], nodes: list, suite_checks: list, kinds: Kinds) -> None:
    """A task nothing tests would be scored for nothing: it needs its own checks, a `regression:`
    block (it is compared with --misalign-baseline), or a suite-level check that reads it."""
    used = {name for check in suite_checks for name in tasks_read(kinds, check, tasks)}
    for task, node in zip(tasks, nodes):
        if not task.checks and "regression" not in node and task.name not in used:
            raise SuiteError(
                "the task has no checks, so nothing would test it", path=ctx.path, line=task.line, task=task.name,
                key="checks",
                fix="add e.g. `checks: [{accuracy: {min: 0.5}}]` (a `type: perplexity` task: `perplexity: {max: ...}`); "
                    "or `regression: {}` to test it only against --misalign-baseline; or read it in a suite-level "
                    "check (`shift: {from: ..., to: ...}`; `spread` reads every task with answers)")


def tasks_read(kinds: Kinds, check, tasks: Sequence[TaskSpec]) -> list[str]:
    """The names of the tasks a suite-level check reads (default: every task with answers)."""
    decl = kinds[check.kind]
    if decl.tasks_read is not None:
        return decl.tasks_read(check, tasks)
    return [t.name for t in tasks if t.has_answers]


def _resolved_roots(roots: Sequence[Path]) -> list[Path]:
    out = []
    for root in roots:
        try:
            out.append(Path(root).expanduser().resolve())
        except (OSError, RuntimeError, ValueError):
            continue
    return out


def _parse_task(path: Path, node: Any, line: int | None, roots: tuple[Path, ...] | None, kinds: Kinds) -> TaskSpec:
    ctx = Ctx(path)
    node = require_map(ctx, node, "tasks[]", line)
    name = node.get("name")
    ctx.task = name if isinstance(name, str) else None
    check_keys(ctx, node, TASK_KEYS, "a task")
    name = require_str(ctx, node, "name")
    if any(ch in name for ch in "[]:/ \t"):
        raise ctx.error(f"task name {name!r} may not contain spaces, '/', ':', '[' or ']'", key="name",
                        line=node.line_of("name"), fix="use letters, digits, '-', '_' or '.'")
    if "data" not in node:
        raise ctx.error("missing required key 'data'", key="data", line=node.line,
                        fix="add `data: {items: [...]}`, `data: {file: path.jsonl}` or `data: {hf: {path: ...}}`")
    data = parse_data(ctx, node["data"], node.line_of("data"), path.parent, roots)
    task_type = parse_task_type(ctx, node)
    if task_type == "perplexity":
        task = parse_perplexity_task(ctx, node, name, data, kinds)
    elif task_type == "sentence_pair":
        task = parse_sentence_pair_task(ctx, node, name, data, kinds)
    else:
        task = replace(parse_task_body(ctx, node, name, data, kinds), preamble=parse_preamble(ctx, node),
                       fewshot=parse_fewshot(ctx, node, path.parent, roots))
    check_task_checks(ctx, task, kinds)
    return task
