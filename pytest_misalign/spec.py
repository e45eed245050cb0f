"""The suite file format: parse and validate YAML into typed specs.

A suite file is a contract that users and other tools write, so every problem is reported with the
file, line, task and key, and a fix (`SuiteError`). Only structure is checked here; whether the data
fits the templates is checked when the data is loaded (`tasks.py`), still before any model loads.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SuiteError
from .yamlio import YamlList, YamlMap, load_yaml

SUITE_KEYS = {"suite", "description", "tasks", "markers"}
TASK_KEYS = {
    "name", "description", "data", "prompt", "choices", "answer", "metric", "delimiter",
    "generate", "match", "checks", "markers",
}
DATA_KEYS = {"items", "file", "hf", "limit", "seed"}
DATA_SOURCES = ("items", "file", "hf")
HF_KEYS = {"path", "name", "split", "revision", "data_files"}
GENERATE_KEYS = {"max_tokens", "stop"}
METRICS = ("acc", "acc_norm")
MATCHES = ("exact", "contains", "regex", "number")


@dataclass(frozen=True)
class Param:
    type: type | tuple[type, ...]
    required: bool = False
    help: str = ""


_RATE = (int, float)

# Each check kind and the parameters it takes. `checks.py` implements them.
CHECK_PARAMS: dict[str, dict[str, Param]] = {
    "accuracy": {
        "min": Param(_RATE, help="task accuracy floor"),
        "max": Param(_RATE, help="task accuracy ceiling"),
    },
    "gap": {
        "by": Param(str, required=True, help="item field that defines the groups"),
        "max": Param(_RATE, required=True, help="largest allowed accuracy difference between groups"),
    },
    "group_accuracy": {
        "by": Param(str, required=True, help="item field that defines the groups"),
        "min": Param(_RATE, required=True, help="floor for the worst group's accuracy"),
    },
}


@dataclass(frozen=True)
class CheckSpec:
    kind: str
    params: dict[str, Any]
    line: int | None = None

    @property
    def by(self) -> str | None:
        return self.params.get("by")

    @property
    def base_name(self) -> str:
        return f"{self.kind}[{self.by}]" if self.by else self.kind


@dataclass(frozen=True)
class GenerateSpec:
    max_tokens: int = 32
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataSpec:
    items: list[dict] | None = None
    file: Path | None = None
    hf: dict[str, Any] | None = None
    limit: int | None = None
    seed: int = 0
    line: int | None = None

    @property
    def source(self) -> str:
        if self.items is not None:
            return "items"
        return "file" if self.file is not None else "hf"


@dataclass(frozen=True)
class TaskSpec:
    name: str
    data: DataSpec
    prompt: str
    answer: str
    choices: list[str] | str | None = None  # templates, or the name of a field holding a list
    metric: str = "acc"
    delimiter: str = " "
    generate: GenerateSpec | None = None
    match: str = "exact"
    checks: list[CheckSpec] = field(default_factory=list)
    markers: list[str] = field(default_factory=list)
    description: str = ""
    line: int | None = None

    @property
    def is_generation(self) -> bool:
        return self.generate is not None

    def check_names(self) -> list[str]:
        """Unique, readable test names: `accuracy`, `gap[region]`, a repeat gets `#2`."""
        seen: dict[str, int] = {}
        names = []
        for check in self.checks:
            base = check.base_name
            seen[base] = seen.get(base, 0) + 1
            names.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
        return names


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    path: Path
    tasks: list[TaskSpec]
    description: str = ""
    markers: list[str] = field(default_factory=list)
    sha256: str = ""


class _Ctx:
    """Where we are in the file, to build errors."""

    def __init__(self, path: Path, task: str | None = None) -> None:
        self.path = path
        self.task = task

    def error(self, message: str, *, key: str | None = None, line: int | None = None,
              fix: str | None = None) -> SuiteError:
        return SuiteError(message, path=self.path, line=line, task=self.task, key=key, fix=fix)


def _line(node: Any, key: str | None = None) -> int | None:
    if isinstance(node, YamlMap):
        return node.line_of(key) if key is not None else node.line
    if isinstance(node, YamlList):
        return node.line
    return None


def _check_keys(ctx: _Ctx, node: YamlMap, allowed: set[str], where: str) -> None:
    for key in node:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(sorted(allowed))}"
            raise ctx.error(f"unknown key '{key}' in {where}", key=str(key), line=node.line_of(key),
                            fix=hint)


def _require_map(ctx: _Ctx, node: Any, key: str, line: int | None) -> YamlMap:
    if not isinstance(node, dict):
        raise ctx.error(f"must be a mapping, got {type(node).__name__}", key=key, line=line)
    return node


def _require_str(ctx: _Ctx, node: YamlMap, key: str, *, required: bool = True) -> str | None:
    if key not in node:
        if required:
            raise ctx.error(f"missing required key '{key}'", key=key, line=node.line,
                            fix=f"add `{key}: ...`")
        return None
    value = node[key]
    if not isinstance(value, str) or (required and not value.strip()):
        raise ctx.error(f"must be a non-empty string, got {value!r}", key=key, line=node.line_of(key))
    return value


def _str_list(ctx: _Ctx, node: YamlMap, key: str) -> list[str]:
    value = node.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ctx.error("must be a list of strings", key=key, line=node.line_of(key))
    return list(value)


def parse_suite_file(path: Path) -> SuiteSpec:
    """Read and validate one suite file."""
    path = Path(path)
    raw = load_yaml(path)
    ctx = _Ctx(path)
    if not isinstance(raw, YamlMap):
        raise ctx.error("a suite file must be a mapping with `suite:` and `tasks:` keys")
    _check_keys(ctx, raw, SUITE_KEYS, "the suite")
    name = _require_str(ctx, raw, "suite")
    tasks_node = raw.get("tasks")
    if not isinstance(tasks_node, list) or not tasks_node:
        raise ctx.error("must be a non-empty list of tasks", key="tasks", line=raw.line_of("tasks"),
                        fix="add at least one task with `name`, `data`, `prompt`, `answer`")
    tasks = [_parse_task(path, node, tasks_node.line_of(i)) for i, node in enumerate(tasks_node)]
    seen: dict[str, TaskSpec] = {}
    for task in tasks:
        if task.name in seen:
            raise ctx.error(f"duplicate task name '{task.name}' (first at line {seen[task.name].line})",
                            key="name", line=task.line, fix="task names must be unique within a suite")
        seen[task.name] = task
    return SuiteSpec(
        name=name,
        path=path,
        tasks=tasks,
        description=str(raw.get("description") or ""),
        markers=_str_list(ctx, raw, "markers"),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def _parse_task(path: Path, node: Any, line: int | None) -> TaskSpec:
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
    data = _parse_data(ctx, node["data"], node.line_of("data"), path.parent)
    prompt = _require_str(ctx, node, "prompt")
    answer = node.get("answer")
    if answer is None:
        raise ctx.error("missing required key 'answer'", key="answer", line=node.line,
                        fix='add e.g. `answer: "{label}"` (an index into choices, or the right choice\'s text)')
    if not isinstance(answer, (str, int)) or isinstance(answer, bool):
        raise ctx.error(f"must be a template string, got {answer!r}", key="answer", line=node.line_of("answer"))
    generate = _parse_generate(ctx, node)
    choices = _parse_choices(ctx, node, generate)
    metric = node.get("metric", "acc")
    if metric not in METRICS:
        raise ctx.error(f"unknown metric {metric!r}", key="metric", line=node.line_of("metric"),
                        fix=f"use one of: {', '.join(METRICS)}")
    match = node.get("match", "exact")
    if match not in MATCHES:
        raise ctx.error(f"unknown match {match!r}", key="match", line=node.line_of("match"),
                        fix=f"use one of: {', '.join(MATCHES)}")
    if "match" in node and generate is None:
        raise ctx.error("`match` only applies to free-form tasks", key="match", line=node.line_of("match"),
                        fix="add `generate: {max_tokens: 32}` or remove `match`")
    delimiter = node.get("delimiter", " ")
    if not isinstance(delimiter, str):
        raise ctx.error("must be a string", key="delimiter", line=node.line_of("delimiter"))
    return TaskSpec(
        name=name,
        data=data,
        prompt=prompt,
        answer=str(answer),
        choices=choices,
        metric=metric,
        delimiter=delimiter,
        generate=generate,
        match=match,
        checks=_parse_checks(ctx, node),
        markers=_str_list(ctx, node, "markers"),
        description=str(node.get("description") or ""),
        line=node.line,
    )


def _parse_data(ctx: _Ctx, node: Any, line: int | None, base_dir: Path) -> DataSpec:
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
    spec = dict(limit=limit, seed=seed, line=node.line)
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
        if not isinstance(value, str) or not value:
            raise ctx.error("must be a path string", key="data.file", line=node.line_of("file"))
        file = (base_dir / value).resolve()
        if file.suffix.lower() not in (".jsonl", ".json", ".csv"):
            raise ctx.error(f"unsupported file type {file.suffix!r}", key="data.file", line=node.line_of("file"),
                            fix="use a .jsonl, .json or .csv file")
        return DataSpec(file=file, **spec)
    if isinstance(value, str):
        value = {"path": value}
    hf = _require_map(ctx, value, "data.hf", node.line_of("hf"))
    _check_keys(ctx, hf, HF_KEYS, "data.hf")
    if not isinstance(hf.get("path"), str):
        raise ctx.error("needs `path:` (the dataset id on the Hugging Face hub)", key="data.hf.path",
                        line=hf.line)
    return DataSpec(hf=dict(hf), **spec)


def _parse_generate(ctx: _Ctx, node: YamlMap) -> GenerateSpec | None:
    if "generate" not in node:
        return None
    gen = node["generate"]
    if gen is True or gen is None:
        gen = YamlMap()
    gen = _require_map(ctx, gen, "generate", node.line_of("generate"))
    _check_keys(ctx, gen, GENERATE_KEYS, "generate")
    max_tokens = gen.get("max_tokens", 32)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ctx.error(f"must be a positive integer, got {max_tokens!r}", key="generate.max_tokens",
                        line=gen.line_of("max_tokens"))
    stop = gen.get("stop", [])
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise ctx.error("must be a list of non-empty strings", key="generate.stop", line=gen.line_of("stop"))
    return GenerateSpec(max_tokens=max_tokens, stop=tuple(stop))


def _parse_choices(ctx: _Ctx, node: YamlMap, generate: GenerateSpec | None) -> list[str] | str | None:
    if generate is not None:
        if "choices" in node:
            raise ctx.error("a free-form (`generate`) task takes no `choices`", key="choices",
                            line=node.line_of("choices"), fix="remove `choices`, or remove `generate`")
        return None
    if "choices" not in node:
        raise ctx.error("missing required key 'choices'", key="choices", line=node.line,
                        fix='add `choices: ["{a}", "{b}"]` (templates) or `choices: field_name`, '
                            "or `generate: {...}` for a free-form task")
    choices = node["choices"]
    if isinstance(choices, str):
        return choices
    if (not isinstance(choices, list) or len(choices) < 2
            or not all(isinstance(c, (str, int, float)) and not isinstance(c, bool) for c in choices)):
        raise ctx.error("must be a list of at least two template strings, or the name of a field holding a list",
                        key="choices", line=node.line_of("choices"))
    return [str(c) for c in choices]


def _parse_checks(ctx: _Ctx, node: YamlMap) -> list[CheckSpec]:
    raw = node.get("checks", [])
    if not isinstance(raw, list):
        raise ctx.error("must be a list like `- accuracy: {min: 0.5}`", key="checks", line=node.line_of("checks"))
    return [_parse_check(ctx, entry, raw.line_of(i), i) for i, entry in enumerate(raw)]


def _parse_check(ctx: _Ctx, entry: Any, line: int | None, index: int) -> CheckSpec:
    where = f"checks[{index}]"
    if isinstance(entry, str):
        entry = YamlMap({entry: YamlMap()})
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ctx.error("each check is a one-key mapping such as `- gap: {by: region, max: 0.3}`",
                        key=where, line=line)
    (kind, params), = entry.items()
    if kind not in CHECK_PARAMS:
        close = difflib.get_close_matches(str(kind), sorted(CHECK_PARAMS), n=1)
        raise ctx.error(f"unknown check '{kind}'", key=where, line=line,
                        fix=f"did you mean '{close[0]}'?" if close else f"known checks: {', '.join(sorted(CHECK_PARAMS))}")
    if params is None:
        params = YamlMap()
    if not isinstance(params, dict):
        raise ctx.error(f"parameters of '{kind}' must be a mapping, got {params!r}", key=where, line=line)
    schema = CHECK_PARAMS[kind]
    for key, value in params.items():
        if key not in schema:
            close = difflib.get_close_matches(str(key), sorted(schema), n=1)
            raise ctx.error(f"unknown parameter '{key}' for check '{kind}'", key=f"{where}.{kind}.{key}",
                            line=_line(params, key) or line,
                            fix=f"did you mean '{close[0]}'?" if close else f"'{kind}' takes: {', '.join(sorted(schema))}")
        param = schema[key]
        if not isinstance(value, param.type) or (isinstance(value, bool) and bool not in _types(param.type)):
            raise ctx.error(f"parameter '{key}' must be {_type_name(param.type)}, got {value!r}",
                            key=f"{where}.{kind}.{key}", line=_line(params, key) or line)
        if param.type is _RATE and not 0.0 <= float(value) <= 1.0:
            raise ctx.error(f"parameter '{key}' is a rate and must lie in [0, 1], got {value!r}",
                            key=f"{where}.{kind}.{key}", line=_line(params, key) or line)
    for key, param in schema.items():
        if param.required and key not in params:
            raise ctx.error(f"check '{kind}' needs '{key}' ({param.help})", key=f"{where}.{kind}", line=line,
                            fix=f"add `{key}: ...`")
    if kind == "accuracy" and not ({"min", "max"} & set(params)):
        raise ctx.error("check 'accuracy' needs `min` and/or `max`", key=f"{where}.accuracy", line=line,
                        fix="e.g. `- accuracy: {min: 0.5}`")
    return CheckSpec(kind=kind, params=dict(params), line=line)


def _types(t: type | tuple[type, ...]) -> tuple[type, ...]:
    return t if isinstance(t, tuple) else (t,)


def _type_name(t: type | tuple[type, ...]) -> str:
    return "a number" if t is _RATE else " or ".join(x.__name__ for x in _types(t))
