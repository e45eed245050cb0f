"""Parse a suite file into specs (`spec.py`): the suite, its tasks, their data, templates and options.

A task's own keys are parsed in `spec_task` (perplexity tasks: `spec_perplexity`); checks and the shared
validation helpers in `spec_checks`; data-path confinement in `spec_paths`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..errors import SuiteError
from .model import (
    DATA_KEYS,
    DATA_SOURCES,
    HF_KEYS,
    SUITE_CHECK_PARAMS,
    SUITE_KEYS,
    TASK_KEYS,
    TEMPLATE_KEYS,
    VARY_KEYS,
    DataSpec,
    SuiteSpec,
    TaskSpec,
    TemplateSpec,
    VarySpec,
)
from .shape import parse_files, parse_shape
from .paths import check_hf, confine, suite_error_factory
from .checks import _check_keys, _Ctx, _parse_checks, _require_map, _require_str, _str_list
from .task import parse_task_body
from .perplexity import parse_perplexity_task, parse_task_type, reject_perplexity_tasks_in_suite_checks
from .yamlio import YamlMap, load_document


def parse_suite_file(path: Path, *, data_roots: Sequence[Path] | None = None,
                     require_checks: bool = False) -> SuiteSpec:
    """Read and validate one suite file.

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
    ctx = _Ctx(path)
    if not isinstance(raw, YamlMap):
        raise ctx.error("a suite file must be a mapping with `suite:` and `tasks:` keys")
    _check_keys(ctx, raw, SUITE_KEYS, "the suite")
    name = _require_str(ctx, raw, "suite")
    tasks_node = raw.get("tasks")
    if not isinstance(tasks_node, list) or not tasks_node:
        raise ctx.error("must be a non-empty list of tasks", key="tasks", line=raw.line_of("tasks"),
                        fix="add at least one task with `name`, `data`, `prompt`, `answer`")
    tasks = [_parse_task(path, node, tasks_node.line_of(i), roots) for i, node in enumerate(tasks_node)]
    seen: dict[str, TaskSpec] = {}
    for task in tasks:
        if task.name in seen:
            raise ctx.error(f"duplicate task name '{task.name}' (first at line {seen[task.name].line})",
                            key="name", line=task.line, fix="task names must be unique within a suite")
        seen[task.name] = task
    checks = _parse_checks(ctx, raw, SUITE_CHECK_PARAMS, "suite-level checks")
    for check in checks:
        for key in ("from", "to"):
            if check.kind == "shift" and check.params[key] not in seen:
                raise ctx.error(f"shift names unknown task '{check.params[key]}'", key=f"checks.shift.{key}",
                                line=check.line, fix=f"tasks in this suite: {', '.join(seen)}")
    reject_perplexity_tasks_in_suite_checks(ctx, checks, seen)
    if any(c.kind == "spread" for c in checks) and len(tasks) < 2:
        raise ctx.error("`spread` compares tasks and needs at least two", key="checks.spread",
                        line=checks[0].line)
    if require_checks:
        _require_some_check(ctx, tasks, tasks_node, checks)
    return SuiteSpec(
        name=name,
        path=path,
        tasks=tasks,
        description=str(raw.get("description") or ""),
        markers=_str_list(ctx, raw, "markers"),
        checks=checks,
        sha256=doc.sha256,
        data_roots=roots,
    )


def _require_some_check(ctx: _Ctx, tasks: list[TaskSpec], nodes: list, suite_checks: list) -> None:
    """A task nothing tests would be scored for nothing: it needs its own checks, a `regression:`
    block (it is compared with --misalign-baseline), or a suite-level check that reads it."""
    used = set()
    for check in suite_checks:
        if check.kind == "spread":
            used.update(t.name for t in tasks)
        elif check.kind == "shift":
            used.update((check.params["from"], check.params["to"]))
    for task, node in zip(tasks, nodes):
        if not task.checks and "regression" not in node and task.name not in used:
            raise SuiteError(
                "the task has no checks, so nothing would test it", path=ctx.path, line=task.line, task=task.name,
                key="checks",
                fix="add e.g. `checks: [{accuracy: {min: 0.5}}]`; or `regression: {}` to test it only against "
                    "--misalign-baseline; or name it in a suite-level `shift` (or add a `spread`)")


def _resolved_roots(roots: Sequence[Path]) -> list[Path]:
    out = []
    for root in roots:
        try:
            out.append(Path(root).expanduser().resolve())
        except (OSError, RuntimeError, ValueError):
            continue
    return out


def _parse_task(path: Path, node: Any, line: int | None, roots: tuple[Path, ...] | None) -> TaskSpec:
    ctx = _Ctx(path)
    node = _require_map(ctx, node, "tasks[]", line)
    name = node.get("name")
    ctx.task = name if isinstance(name, str) else None
    _check_keys(ctx, node, TASK_KEYS, "a task")
    name = _require_str(ctx, node, "name")
    if any(ch in name for ch in "[]:/ \t"):
        raise ctx.error(f"task name {name!r} may not contain spaces, '/', ':', '[' or ']'", key="name",
                        line=node.line_of("name"), fix="use letters, digits, '-', '_' or '.'")
    if "data" not in node:
        raise ctx.error("missing required key 'data'", key="data", line=node.line,
                        fix="add `data: {items: [...]}`, `data: {file: path.jsonl}` or `data: {hf: {path: ...}}`")
    data = _parse_data(ctx, node["data"], node.line_of("data"), path.parent, roots)
    if parse_task_type(ctx, node) == "perplexity":
        return parse_perplexity_task(ctx, node, name, data)
    return parse_task_body(ctx, node, name, data)


def _parse_data(ctx: _Ctx, node: Any, line: int | None, base_dir: Path, roots: tuple[Path, ...] | None) -> DataSpec:
    node = _require_map(ctx, node, "data", line)
    _check_keys(ctx, node, DATA_KEYS, "data")
    sources = [k for k in DATA_SOURCES if k in node]
    if len(sources) != 1:
        raise ctx.error(f"needs exactly one source, found {len(sources)} ({', '.join(sources) or 'none'})",
                        key="data", line=node.line, fix="give exactly one of `items`, `file` or `hf`")
    limit = node.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ctx.error(f"must be a positive integer, got {limit!r}", key="data.limit", line=node.line_of("limit"))
    seed = node.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ctx.error(f"must be an integer, got {seed!r}", key="data.seed", line=node.line_of("seed"))
    spec = dict(limit=limit, seed=seed, line=node.line, **parse_shape(node, ctx.error))
    source = sources[0]
    value = node[source]
    if source == "items":
        if not isinstance(value, list) or not value:
            raise ctx.error("must be a non-empty list of mappings", key="data.items", line=node.line_of("items"))
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise ctx.error(f"item {i} must be a mapping of field: value, got {item!r}",
                                key=f"data.items[{i}]", line=value.line_of(i))
        return DataSpec(items=list(value), **spec)
    if source == "file":
        return DataSpec(file=parse_files(value, lambda v, i: _data_file(
            ctx, node, "file", base_dir, "data.file" if i < 0 else f"data.file[{i}]", roots, v),
            node.line_of("file"), ctx.error), **spec)
    if source == "template":
        return DataSpec(template=_parse_template(ctx, value, node.line_of("template"), base_dir, roots), **spec)
    if isinstance(value, str):
        value = {"path": value}
    hf = _require_map(ctx, value, "data.hf", node.line_of("hf"))
    _check_keys(ctx, hf, HF_KEYS, "data.hf")
    if not isinstance(hf.get("path"), str):
        raise ctx.error("needs `path:` (the dataset id on the Hugging Face hub)", key="data.hf.path",
                        line=hf.line)
    for key in ("name", "split", "revision"):
        if key in hf and hf[key] is not None and (not isinstance(hf[key], str) or not hf[key]):
            raise ctx.error(f"must be a non-empty string, got {hf[key]!r}", key=f"data.hf.{key}", line=hf.line_of(key))
    if "local" in hf and (not isinstance(hf["local"], str) or not hf["local"] or "\x00" in hf["local"]):
        raise ctx.error("must be a path (relative to --misalign-data-dir)", key="data.hf.local",
                        line=hf.line_of("local"))
    if "data_files" in hf and not _is_data_files(hf["data_files"]):
        raise ctx.error(f"must be a path or URL, a list of them, or a mapping of split to those, got "
                        f"{hf['data_files']!r}", key="data.hf.data_files", line=hf.line_of("data_files"))
    for key in [k for k in ("path", "data_files") if k in hf]:
        check_hf({key: hf[key], "path": hf["path"]}, roots,
                 error=suite_error_factory(ctx.path, hf.line_of(key), ctx.task, f"data.hf.{key}"))
    return DataSpec(hf=dict(hf), **spec)


def _is_data_files(value: Any) -> bool:
    def paths(v: Any) -> bool:
        return (isinstance(v, str) and bool(v)) or (
            isinstance(v, list) and bool(v) and all(isinstance(x, str) and x for x in v))

    return paths(value) or (isinstance(value, dict) and bool(value)
                            and all(isinstance(k, str) and paths(v) for k, v in value.items()))


def _data_file(ctx: _Ctx, node: YamlMap, key: str, base_dir: Path, where: str,
               roots: tuple[Path, ...] | None, value: Any = None) -> Path:
    """A local data file: relative to the suite's folder, resolved (symlinks too) inside `roots`."""
    value = node[key] if value is None else value
    if not isinstance(value, str) or not value:
        raise ctx.error("must be a path string", key=where, line=node.line_of(key))
    file = confine(value, base_dir, roots, error=suite_error_factory(ctx.path, node.line_of(key), ctx.task, where))
    if file.suffix.lower() not in (".jsonl", ".json", ".csv"):
        raise ctx.error(f"unsupported file type {file.suffix!r}", key=where, line=node.line_of(key),
                        fix="use a .jsonl, .json or .csv file")
    return file


def _parse_template(ctx: _Ctx, node: Any, line: int | None, base_dir: Path,
                    roots: tuple[Path, ...] | None) -> TemplateSpec:
    node = _require_map(ctx, node, "data.template", line)
    _check_keys(ctx, node, TEMPLATE_KEYS, "data.template")
    if ("rows" in node) == ("file" in node):
        raise ctx.error("needs exactly one of `rows` (a list of field mappings) or `file`",
                        key="data.template", line=node.line)
    rows, file = None, None
    if "rows" in node:
        rows = node["rows"]
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise ctx.error("must be a non-empty list of field mappings", key="data.template.rows",
                            line=node.line_of("rows"))
        rows = list(rows)
    else:
        file = _data_file(ctx, node, "file", base_dir, "data.template.file", roots)
    slots = node.get("slots") or {}
    slots = _require_map(ctx, slots, "data.template.slots", node.line_of("slots"))
    for slot, values in slots.items():
        if not isinstance(values, list) or not values or not all(_is_scalar(v) for v in values):
            raise ctx.error(f"slot '{slot}' must be a non-empty list of values", key=f"data.template.slots.{slot}",
                            line=slots.line_of(slot))
    vary = _parse_vary(ctx, node["vary"], node.line_of("vary")) if "vary" in node else None
    if vary is not None:
        clash = set(slots) & ({vary.by, vary.pair} | {f for g in vary.groups.values() for f in g})
        if clash:
            raise ctx.error(f"field '{sorted(clash)[0]}' is set both by `slots` and by `vary`",
                            key="data.template", line=node.line, fix="rename one of them")
    return TemplateSpec(rows=rows, file=file, slots={k: list(v) for k, v in slots.items()}, vary=vary)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _parse_vary(ctx: _Ctx, node: Any, line: int | None) -> VarySpec:
    node = _require_map(ctx, node, "data.template.vary", line)
    _check_keys(ctx, node, VARY_KEYS, "data.template.vary")
    by = _require_str(ctx, node, "by")
    pair = _require_str(ctx, node, "pair", required=False) or "pair"
    groups = node.get("groups")
    if not isinstance(groups, dict) or len(groups) < 2:
        raise ctx.error("needs `groups:` mapping at least two group names to their fields",
                        key="data.template.vary.groups", line=node.line_of("groups"),
                        fix="e.g. `groups: {female: {name: [Mary, Linda]}, male: {name: [James, John]}}`")
    widths: dict[int, str] = {}
    fields: set[str] | None = None
    for group, values in groups.items():
        where = f"data.template.vary.groups.{group}"
        values = _require_map(ctx, values, where, groups.line_of(group))
        if fields is not None and set(values) != fields:
            raise ctx.error(f"group '{group}' sets fields {sorted(map(str, values))}, others set "
                            f"{sorted(map(str, fields))}",
                            key=where, line=groups.line_of(group), fix="every group must set the same fields")
        fields = set(values)
        for key, value in values.items():
            if isinstance(value, list):
                if not value or not all(_is_scalar(v) for v in value):
                    raise ctx.error(f"'{key}' must be a scalar or a non-empty list of scalars", key=f"{where}.{key}",
                                    line=values.line_of(key))
                widths.setdefault(len(value), f"{group}.{key}")
            elif not _is_scalar(value):
                raise ctx.error(f"'{key}' must be a scalar or a list of scalars", key=f"{where}.{key}",
                                line=values.line_of(key))
    if len(widths) > 1:
        (w1, f1), (w2, f2) = list(widths.items())[:2]
        raise ctx.error(f"list lengths differ: {f1} has {w1} values, {f2} has {w2}", key="data.template.vary.groups",
                        line=groups.line, fix="position k of every group's list forms counterfactual pair k: "
                                              "give every list the same length")
    if by in fields or pair in fields or by == pair:
        raise ctx.error("`by` and `pair` must name new fields, distinct from each other and the groups' fields",
                        key="data.template.vary", line=node.line)
    return VarySpec(by=by, pair=pair, groups={g: dict(v) for g, v in groups.items()},
                    width=next(iter(widths), 1))
