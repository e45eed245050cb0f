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

SUITE_KEYS = {"suite", "description", "tasks", "markers", "checks"}
TASK_KEYS = {
    "name", "description", "data", "prompt", "choices", "answer", "metric", "delimiter",
    "generate", "match", "checks", "markers", "cluster", "regression", "chat",
}
DATA_KEYS = {"items", "file", "hf", "template", "limit", "seed"}
DATA_SOURCES = ("items", "file", "hf", "template")
HF_KEYS = {"path", "name", "split", "revision", "data_files", "local"}
TEMPLATE_KEYS = {"rows", "file", "slots", "vary"}
VARY_KEYS = {"by", "pair", "groups"}
REGRESSION_KEYS = {"max_drop", "by", "max_broken", "confidence", "min_n"}
GENERATE_KEYS = {"max_tokens", "stop"}
METRICS = ("acc", "acc_norm")
MATCHES = ("exact", "contains", "regex", "number")


@dataclass(frozen=True)
class Param:
    type: type | tuple[type, ...]
    required: bool = False
    help: str = ""


_RATE = (int, float)
_LEVEL = ("level",)  # marker type: a confidence level in (0, 1)
_COUNT = ("count",)  # marker type: a positive integer

_STATS = {
    "confidence": Param(_LEVEL, help="two-sided confidence level of the interval (default 0.95)"),
}
_GROUPS = {
    "by": Param(str, required=True, help="item field that defines the groups"),
    "min_n": Param(_COUNT, help="groups with fewer items are reported as too small (default 10)"),
}

# Each check kind and the parameters it takes. `checks.py` implements them.
CHECK_PARAMS: dict[str, dict[str, Param]] = {
    "accuracy": {
        "min": Param(_RATE, help="task accuracy floor"),
        "max": Param(_RATE, help="task accuracy ceiling"),
        **_STATS,
    },
    "gap": {
        **_GROUPS,
        "max": Param(_RATE, required=True, help="largest allowed accuracy difference between groups"),
        "paired": Param(bool, help="items are counterfactual pairs linked by `pair`"),
        "pair": Param(str, help="item field identifying the pair (with paired: true; default 'pair')"),
        "max_flip_rate": Param(_RATE, help="paired gaps only: largest allowed share of pairs whose "
                                          "correctness changes with the group (flips that cancel out "
                                          "leave the gap at 0)"),
        **_STATS,
    },
    "group_accuracy": {
        **_GROUPS,
        "min": Param(_RATE, required=True, help="floor for the worst group's accuracy"),
        **_STATS,
    },
    "consistency": {
        "of": Param(str, required=True, help="item field identifying the question its variants share"),
        "min": Param(_RATE, required=True, help="floor for the share of questions answered the same"),
        "by": Param(str, help="item field naming the variant (accuracy is reported per variant)"),
        **_STATS,
    },
}

# Suite-level checks compare the suite's tasks with each other.
SUITE_CHECK_PARAMS: dict[str, dict[str, Param]] = {
    "spread": {
        "max": Param(_RATE, required=True, help="largest allowed accuracy difference between tasks"),
        **_STATS,
    },
    "shift": {
        "from": Param(str, required=True, help="the in-distribution task"),
        "to": Param(str, required=True, help="the shifted task"),
        "max_drop": Param(_RATE, required=True, help="largest allowed accuracy drop from `from` to `to`"),
        **_STATS,
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
    def confidence(self) -> float:
        return float(self.params.get("confidence", 0.95))

    @property
    def min_n(self) -> int:
        return int(self.params.get("min_n", 10))

    @property
    def pair_field(self) -> str | None:
        """The field linking counterfactual pairs, for `gap: {paired: true}`."""
        return self.params.get("pair", "pair") if self.params.get("paired") else None

    @property
    def fields(self) -> dict[str, str]:
        """Item fields this check reads, by parameter (validated against every item at collection)."""
        named = {"by": self.by, "pair": self.pair_field, "of": self.params.get("of")}
        return {param: name for param, name in named.items() if name}

    @property
    def base_name(self) -> str:
        if self.kind == "shift":
            return f"shift[{self.params['from']}->{self.params['to']}]"
        if self.kind == "consistency":
            return f"consistency[{self.params['of']}]"
        return f"{self.kind}[{self.by}]" if self.by else self.kind


@dataclass(frozen=True)
class RegressionSpec:
    """`regression:` on a task: how it is compared with a `--misalign-baseline` results file."""

    max_drop: float | None = None  # None: --misalign-max-drop
    by: str | None = None  # also compare each group (the task's `by:` field)
    max_broken: int | float | None = None  # items right in the baseline and wrong now: a count (int >= 1) or share
    confidence: float = 0.95
    min_n: int = 10  # groups with fewer shared items are reported, not gated


@dataclass(frozen=True)
class GenerateSpec:
    max_tokens: int = 32
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class VarySpec:
    """One counterfactual axis: every generated question is rendered once per group."""

    by: str
    pair: str
    groups: dict[str, dict[str, Any]]  # group -> {field: scalar or list (position k forms pair k)}
    width: int  # K: the common length of the list values (1 when all are scalars)


@dataclass(frozen=True)
class TemplateSpec:
    rows: list[dict] | None = None
    file: Path | None = None
    slots: dict[str, list] = field(default_factory=dict)
    vary: VarySpec | None = None


@dataclass(frozen=True)
class DataSpec:
    items: list[dict] | None = None
    file: Path | None = None
    hf: dict[str, Any] | None = None
    template: TemplateSpec | None = None
    limit: int | None = None
    seed: int = 0
    line: int | None = None

    @property
    def source(self) -> str:
        for name in ("items", "file", "hf", "template"):
            if getattr(self, name) is not None:
                return name
        raise AssertionError("DataSpec without a source")


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
    cluster: str | None = None  # items sharing this field are not independent
    chat: bool = False  # wrap the prompt in the model's chat template (as one user turn)
    regression: RegressionSpec = field(default_factory=RegressionSpec)  # against a baseline
    line: int | None = None

    @property
    def max_drop(self) -> float | None:  # per-task override of --misalign-max-drop
        return self.regression.max_drop

    @property
    def is_generation(self) -> bool:
        return self.generate is not None

    def check_names(self) -> list[str]:
        return unique_check_names(self.checks)


def unique_check_names(checks: list[CheckSpec]) -> list[str]:
    """Unique, readable test names: `accuracy`, `gap[region]`, a repeat gets `#2`."""
    seen: dict[str, int] = {}
    names = []
    for check in checks:
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
    checks: list[CheckSpec] = field(default_factory=list)  # suite-level: spread, shift
    sha256: str = ""

    def task(self, name: str) -> TaskSpec | None:
        return next((t for t in self.tasks if t.name == name), None)


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
    checks = _parse_checks(ctx, raw, SUITE_CHECK_PARAMS, "suite-level checks")
    for check in checks:
        for key in ("from", "to"):
            if check.kind == "shift" and check.params[key] not in seen:
                raise ctx.error(f"shift names unknown task '{check.params[key]}'", key=f"checks.shift.{key}",
                                line=check.line, fix=f"tasks in this suite: {', '.join(seen)}")
    if any(c.kind == "spread" for c in checks) and len(tasks) < 2:
        raise ctx.error("`spread` compares tasks and needs at least two", key="checks.spread",
                        line=checks[0].line)
    return SuiteSpec(
        name=name,
        path=path,
        tasks=tasks,
        description=str(raw.get("description") or ""),
        markers=_str_list(ctx, raw, "markers"),
        checks=checks,
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
    cluster = _require_str(ctx, node, "cluster", required=False)
    chat = node.get("chat", False)
    if not isinstance(chat, bool):
        raise ctx.error(f"must be true or false, got {chat!r}", key="chat", line=node.line_of("chat"))
    regression = _parse_regression(ctx, node)
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
        checks=_parse_checks(ctx, node, CHECK_PARAMS, "task checks"),
        markers=_str_list(ctx, node, "markers"),
        description=str(node.get("description") or ""),
        cluster=cluster,
        chat=chat,
        regression=regression,
        line=node.line,
    )


def _parse_regression(ctx: _Ctx, node: YamlMap) -> RegressionSpec:
    if "regression" not in node:
        return RegressionSpec()
    reg = _require_map(ctx, node["regression"], "regression", node.line_of("regression"))
    _check_keys(ctx, reg, REGRESSION_KEYS, "regression")
    example = "e.g. `regression: {max_drop: 0.02, by: region, max_broken: 0.05}`"
    values: dict[str, Any] = {}
    for key, param in (("max_drop", Param(_RATE)), ("confidence", Param(_LEVEL)), ("min_n", Param(_COUNT)),
                       ("by", Param(str))):
        if key in reg:
            problem = _param_problem(param, reg[key])
            if problem:
                raise ctx.error(f"{problem}, got {reg[key]!r}", key=f"regression.{key}", line=reg.line_of(key),
                                fix=example)
            values[key] = reg[key]
    if "max_broken" in reg:
        value = reg["max_broken"]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
            (isinstance(value, int) and value >= 0) or (isinstance(value, float) and 0.0 <= value < 1.0))
        if not ok:
            raise ctx.error(f"must be a count of items (an integer >= 0) or a share (a number in [0, 1)), "
                            f"got {value!r}", key="regression.max_broken", line=reg.line_of("max_broken"),
                            fix="e.g. `max_broken: 3` (items) or `max_broken: 0.05` (share of shared items)")
        values["max_broken"] = value
    if "max_drop" in values:
        values["max_drop"] = float(values["max_drop"])
    return RegressionSpec(**values)


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
        return DataSpec(file=_data_file(ctx, node, "file", base_dir, "data.file"), **spec)
    if source == "template":
        return DataSpec(template=_parse_template(ctx, value, node.line_of("template"), base_dir), **spec)
    if isinstance(value, str):
        value = {"path": value}
    hf = _require_map(ctx, value, "data.hf", node.line_of("hf"))
    _check_keys(ctx, hf, HF_KEYS, "data.hf")
    if not isinstance(hf.get("path"), str):
        raise ctx.error("needs `path:` (the dataset id on the Hugging Face hub)", key="data.hf.path",
                        line=hf.line)
    if "local" in hf and (not isinstance(hf["local"], str) or not hf["local"]):
        raise ctx.error("must be a path (relative to --misalign-data-dir)", key="data.hf.local",
                        line=hf.line_of("local"))
    return DataSpec(hf=dict(hf), **spec)


def _data_file(ctx: _Ctx, node: YamlMap, key: str, base_dir: Path, where: str) -> Path:
    value = node[key]
    if not isinstance(value, str) or not value:
        raise ctx.error("must be a path string", key=where, line=node.line_of(key))
    file = (base_dir / value).resolve()
    if file.suffix.lower() not in (".jsonl", ".json", ".csv"):
        raise ctx.error(f"unsupported file type {file.suffix!r}", key=where, line=node.line_of(key),
                        fix="use a .jsonl, .json or .csv file")
    return file


def _parse_template(ctx: _Ctx, node: Any, line: int | None, base_dir: Path) -> TemplateSpec:
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
        file = _data_file(ctx, node, "file", base_dir, "data.template.file")
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
            raise ctx.error(f"group '{group}' sets fields {sorted(values)}, others set {sorted(fields)}",
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


def _parse_checks(ctx: _Ctx, node: YamlMap, schemas: dict[str, dict[str, Param]], what: str) -> list[CheckSpec]:
    raw = node.get("checks", [])
    if not isinstance(raw, list):
        raise ctx.error(f"{what} must be a list like `- {next(iter(schemas))}: {{...}}`", key="checks",
                        line=node.line_of("checks"))
    return [_parse_check(ctx, entry, raw.line_of(i), i, schemas, what) for i, entry in enumerate(raw)]


def _parse_check(ctx: _Ctx, entry: Any, line: int | None, index: int, schemas: dict[str, dict[str, Param]],
                 what: str) -> CheckSpec:
    where = f"checks[{index}]"
    if isinstance(entry, str):
        entry = YamlMap({entry: YamlMap()})
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ctx.error("each check is a one-key mapping such as `- gap: {by: region, max: 0.3}`",
                        key=where, line=line)
    (kind, params), = entry.items()
    if kind not in schemas:
        other = SUITE_CHECK_PARAMS if schemas is CHECK_PARAMS else CHECK_PARAMS
        close = difflib.get_close_matches(str(kind), sorted(schemas), n=1)
        fix = (f"'{kind}' belongs in the {'suite' if schemas is CHECK_PARAMS else 'task'}-level `checks:`"
               if kind in other else f"did you mean '{close[0]}'?" if close
               else f"{what}: {', '.join(sorted(schemas))}")
        raise ctx.error(f"unknown check '{kind}' in {what}", key=where, line=line, fix=fix)
    if params is None:
        params = YamlMap()
    if not isinstance(params, dict):
        raise ctx.error(f"parameters of '{kind}' must be a mapping, got {params!r}", key=where, line=line)
    schema = schemas[kind]
    for key, value in params.items():
        if key not in schema:
            close = difflib.get_close_matches(str(key), sorted(schema), n=1)
            raise ctx.error(f"unknown parameter '{key}' for check '{kind}'", key=f"{where}.{kind}.{key}",
                            line=_line(params, key) or line,
                            fix=f"did you mean '{close[0]}'?" if close else f"'{kind}' takes: {', '.join(sorted(schema))}")
        problem = _param_problem(schema[key], value)
        if problem:
            raise ctx.error(f"parameter '{key}' {problem}, got {value!r}", key=f"{where}.{kind}.{key}",
                            line=_line(params, key) or line)
    for key, param in schema.items():
        if param.required and key not in params:
            raise ctx.error(f"check '{kind}' needs '{key}' ({param.help})", key=f"{where}.{kind}", line=line,
                            fix=f"add `{key}: ...`")
    if "max_flip_rate" in params and not params.get("paired"):
        raise ctx.error("`max_flip_rate` needs counterfactual pairs", key=f"{where}.{kind}.max_flip_rate",
                        line=_line(params, "max_flip_rate") or line, fix="add `paired: true` (and `pair: FIELD`)")
    if kind == "accuracy" and not ({"min", "max"} & set(params)):
        raise ctx.error("check 'accuracy' needs `min` and/or `max`", key=f"{where}.accuracy", line=line,
                        fix="e.g. `- accuracy: {min: 0.5}`")
    return CheckSpec(kind=kind, params=dict(params), line=line)


def _param_problem(param: Param, value: Any) -> str | None:
    """Why `value` does not fit `param`, or None."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if param.type is _RATE:
        return None if number and 0.0 <= value <= 1.0 else "is a rate and must be a number in [0, 1]"
    if param.type is _LEVEL:
        return None if number and 0.0 < value < 1.0 else "is a confidence level and must lie strictly between 0 and 1"
    if param.type is _COUNT:
        return None if isinstance(value, int) and not isinstance(value, bool) and value >= 1 \
            else "must be a positive integer"
    if param.type is bool:
        return None if isinstance(value, bool) else "must be true or false"
    return None if isinstance(value, param.type) and not isinstance(value, bool) else "must be a string"
