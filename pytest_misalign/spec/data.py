"""A task's `data:`: one source (inline `items`, a `file`, a hub dataset `hf`, or a counterfactual
`template`), with `limit`, `seed` and the shaping keys `where` and `rename` (`shape.py`).

Local files are confined to the allowed data roots (`paths.py`); loading happens later (`data/`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .context import Ctx, check_keys, require_map, require_str
from .model import (
    FILE_FORMATS,
    FILE_SUFFIXES,
    DATA_KEYS,
    DATA_SOURCES,
    HF_KEYS,
    TEMPLATE_KEYS,
    VARY_KEYS,
    DataSpec,
    TemplateSpec,
    VarySpec,
)
from .paths import check_hf, confine, suite_error_factory
from .shape import parse_files, parse_rename, parse_shape
from .yamlio import YamlMap


def parse_data(ctx: Ctx, node: Any, line: int | None, base_dir: Path, roots: tuple[Path, ...] | None) -> DataSpec:
    node = require_map(ctx, node, "data", line)
    check_keys(ctx, node, DATA_KEYS, "data")
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
    spec = dict(limit=limit, seed=seed, line=node.line, **parse_shape(node, ctx.error), **_reading(ctx, node))
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
    return DataSpec(hf=_parse_hf(ctx, node, value, roots), **spec)


def _parse_hf(ctx: Ctx, node: YamlMap, value: Any, roots: tuple[Path, ...] | None) -> dict:
    """`hf: {path, name, split, revision, data_files, local}` (or just the dataset id); `path` may be
    left out when `local` names upstream files no hub dataset holds as published (WinoBias)."""
    if isinstance(value, str):
        value = {"path": value}
    hf = require_map(ctx, value, "data.hf", node.line_of("hf"))
    check_keys(ctx, hf, HF_KEYS, "data.hf")
    if not isinstance(hf.get("path"), str) and not ("path" not in hf and "local" in hf):
        raise ctx.error("needs `path:` (the dataset id on the Hugging Face hub), or only `local:` (upstream files "
                        "that no hub dataset holds as published)", key="data.hf.path", line=hf.line)
    for key in ("name", "split", "revision"):
        if key in hf and hf[key] is not None and (not isinstance(hf[key], str) or not hf[key]):
            raise ctx.error(f"must be a non-empty string, got {hf[key]!r}", key=f"data.hf.{key}", line=hf.line_of(key))
    _parse_local(ctx, hf)
    if "data_files" in hf and not _is_data_files(hf["data_files"]):
        raise ctx.error(f"must be a path or URL, a list of them, or a mapping of split to those, got "
                        f"{hf['data_files']!r}", key="data.hf.data_files", line=hf.line_of("data_files"))
    for key in [k for k in ("path", "data_files") if k in hf]:
        check_hf({key: hf[key], "path": hf.get("path", "")}, roots,
                 error=suite_error_factory(ctx.path, hf.line_of(key), ctx.task, f"data.hf.{key}"))
    return dict(hf)


def _parse_local(ctx: Ctx, hf: YamlMap) -> None:
    """`local:` (one upstream file, or a list, relative to --misalign-data-dir), `partial`, `sha256`
    (of each local file, as published) and `rename` (hub rows onto the upstream files' fields)."""
    local = hf.get("local")
    paths = [local] if isinstance(local, str) else local
    if "local" in hf and (not isinstance(paths, list) or not paths
                          or not all(isinstance(p, str) and p and "\x00" not in p for p in paths)):
        raise ctx.error("must be a path, or a list of paths, relative to --misalign-data-dir", key="data.hf.local",
                        line=hf.line_of("local"), fix="e.g. `local: bbq/Age.jsonl` (DIR/<benchmark>/<upstream file>)")
    if "partial" in hf and (not isinstance(hf["partial"], bool) or not isinstance(local, list)):
        raise ctx.error("`partial: true` scores the `local` files that are present (the missing ones are named)",
                        key="data.hf.partial", line=hf.line_of("partial"), fix="give `local:` as a list, and true/false")
    sha = hf.get("sha256")
    if "sha256" in hf and (not isinstance(sha, dict) or not all(
            k in (paths or []) and isinstance(v, str) and len(v) == 64 for k, v in sha.items())):
        raise ctx.error("must map `local` files to their sha256 (64 hex digits)", key="data.hf.sha256",
                        line=hf.line_of("sha256"), fix="e.g. `sha256: {bbq/Age.jsonl: 0f3c...}`")
    if "rename" in hf:
        hf["rename"] = parse_rename(hf["rename"], hf.line_of("rename"), ctx.error, key="data.hf.rename")


def _reading(ctx: Ctx, node: YamlMap) -> dict[str, Any]:
    """How local files are read: `format`, `columns` (a CSV/TSV without a header), `pattern` (a regex
    with named groups for text lines), `strip` (fields whose surrounding whitespace goes)."""
    out: dict[str, Any] = {}
    fmt = node.get("format")
    if "format" in node and fmt not in FILE_FORMATS:
        raise ctx.error(f"unknown format {fmt!r}", key="data.format", line=node.line_of("format"),
                        fix=f"one of {', '.join(FILE_FORMATS)} (default: from the file's suffix)")
    out["format"] = fmt
    for key in ("columns", "strip"):
        value = node.get(key)
        if key in node and (not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value)):
            raise ctx.error("must be a non-empty list of field names", key=f"data.{key}", line=node.line_of(key))
        if key in node:
            out[key] = tuple(value)
    if "pattern" in node:
        out["pattern"] = _pattern(ctx, node)
    return out


def _pattern(ctx: Ctx, node: YamlMap) -> str:
    value = node["pattern"]
    try:
        compiled = re.compile(value) if isinstance(value, str) else None
    except re.error as exc:
        raise ctx.error(f"not a regular expression: {exc}", key="data.pattern", line=node.line_of("pattern")) from None
    if compiled is None or not compiled.groupindex:
        raise ctx.error("must be a regular expression with named groups (they become the fields)",
                        key="data.pattern", line=node.line_of("pattern"), fix=r"e.g. `pattern: '(?P<id>\d+) (?P<text>.*)'`")
    return value


def _is_data_files(value: Any) -> bool:
    def paths(v: Any) -> bool:
        return (isinstance(v, str) and bool(v)) or (
            isinstance(v, list) and bool(v) and all(isinstance(x, str) and x for x in v))

    return paths(value) or (isinstance(value, dict) and bool(value)
                            and all(isinstance(k, str) and paths(v) for k, v in value.items()))


def _data_file(ctx: Ctx, node: YamlMap, key: str, base_dir: Path, where: str,
               roots: tuple[Path, ...] | None, value: Any = None) -> Path:
    """A local data file: relative to the suite's folder, resolved (symlinks too) inside `roots`."""
    value = node[key] if value is None else value
    if not isinstance(value, str) or not value:
        raise ctx.error("must be a path string", key=where, line=node.line_of(key))
    file = confine(value, base_dir, roots, error=suite_error_factory(ctx.path, node.line_of(key), ctx.task, where))
    if file.suffix.lower() not in FILE_SUFFIXES and ctx_format(node) is None:
        raise ctx.error(f"unsupported file type {file.suffix!r}", key=where, line=node.line_of(key),
                        fix=f"use a {', '.join(FILE_SUFFIXES)} file, or say how to read it with `format:` "
                            f"({', '.join(FILE_FORMATS)})")
    return file


def _parse_template(ctx: Ctx, node: Any, line: int | None, base_dir: Path,
                    roots: tuple[Path, ...] | None) -> TemplateSpec:
    node = require_map(ctx, node, "data.template", line)
    check_keys(ctx, node, TEMPLATE_KEYS, "data.template")
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
    slots = require_map(ctx, slots, "data.template.slots", node.line_of("slots"))
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


def ctx_format(node: YamlMap) -> str | None:
    """The `format:` of the `data:` mapping a file is named in (a template's file: its data's)."""
    return node.get("format") if isinstance(node, dict) else None


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _parse_vary(ctx: Ctx, node: Any, line: int | None) -> VarySpec:
    node = require_map(ctx, node, "data.template.vary", line)
    check_keys(ctx, node, VARY_KEYS, "data.template.vary")
    by = require_str(ctx, node, "by")
    pair = require_str(ctx, node, "pair", required=False) or "pair"
    groups = node.get("groups")
    if not isinstance(groups, dict) or len(groups) < 2:
        raise ctx.error("needs `groups:` mapping at least two group names to their fields",
                        key="data.template.vary.groups", line=node.line_of("groups"),
                        fix="e.g. `groups: {female: {name: [Mary, Linda]}, male: {name: [James, John]}}`")
    widths: dict[int, str] = {}
    fields: set[str] | None = None
    for group, values in groups.items():
        where = f"data.template.vary.groups.{group}"
        values = require_map(ctx, values, where, groups.line_of(group))
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
