"""Load a task's items from inline YAML, local files, a counterfactual template or a hub dataset.

Every item keeps `index`, its 0-based position in the data source (also under `limit`), so results
can be joined back to the data, and `line` where the source has one (for error messages). Files are
read as published (`formats.py`); hub datasets and their local mirrors are in `hub.py`.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import DataError, DataUnavailable
from ..spec.model import DataSpec, TaskSpec, TemplateSpec
from ..spec.paths import confine, suite_error_factory
from .formats import ReadOptions, read
from .hub import fix_text, is_file, load_hub, local_files, verify_sha256
from .items import Item, LoadedData
from .shape import shape_loaded


def load_items(task: TaskSpec, suite_path: Path, *, data_dir: Path | None = None,
               roots: Sequence[Path] | None = None) -> LoadedData:
    """All items of `task` (see `subsample` for `limit`).

    `data_dir` serves hub datasets from their upstream files (offline machines, tests).
    `roots`: the folders local files must resolve into (`SuiteSpec.data_roots`); None: anywhere.
    """
    spec = task.data
    if spec.source == "items":
        loaded = LoadedData(_inline(spec.items), "inline items", suite_path, len(spec.items))
    elif spec.source == "file":
        paths = spec.file if isinstance(spec.file, tuple) else (spec.file,)
        loaded = _load_files(paths, task, suite_path)
    elif spec.source == "template":
        loaded = _load_template(spec.template, task, suite_path)
    elif data_dir is not None:
        loaded = _load_mirror(spec, task, suite_path, data_dir, roots)
    else:
        loaded = load_hub(spec, task, suite_path)
    return _strip(shape_loaded(loaded, spec, task, suite_path), spec.strip)


def _strip(loaded: LoadedData, fields: tuple[str, ...]) -> LoadedData:
    """`strip:` fields lose their surrounding whitespace (as lm-eval's `question.strip()`)."""
    if not fields:
        return loaded
    items = [Item(it.index, {**it.fields, **{f: it.fields[f].strip() for f in fields
                                             if isinstance(it.fields.get(f), str)}}, it.line, it.path)
             for it in loaded.items]
    return LoadedData(items, loaded.source, loaded.path, loaded.total, loaded.missing)


def _load_mirror(spec: DataSpec, task: TaskSpec, suite_path: Path, data_dir: Path,
                 roots: Sequence[Path] | None) -> LoadedData:
    """A hub dataset's upstream files under --misalign-data-dir (`hf.local`); with `partial: true` the
    ones present are read and the missing ones named, else a missing file makes the task unavailable."""
    key = "data.hf.local" if spec.hf.get("local") else "data.hf"
    paths = [confine(str(p), data_dir, roots, error=suite_error_factory(suite_path, spec.line, task.name, key, DataError))
             for p in local_files(spec.hf, data_dir)]
    present = [p for p in paths if is_file(p)]
    missing = [p for p in paths if p not in present]
    if missing and not (spec.hf.get("partial") and present):
        shown = ", ".join(str(p) for p in missing)
        raise DataUnavailable(f"{len(missing)} of {len(paths)} data files missing under {data_dir}: {shown}",
                              path=suite_path, line=spec.line, task=task.name, key=key, fix=fix_text(spec.hf))
    loaded = _load_files(tuple(present), task, suite_path, data_dir)
    if not missing:
        return loaded
    names = ", ".join(p.name for p in missing)
    return LoadedData(loaded.items, f"{loaded.source} ({len(present)} of {len(paths)} files; missing {names})",
                      loaded.path, loaded.total, tuple(str(p) for p in missing))


def _load_files(paths: tuple[Path, ...], task: TaskSpec, suite_path: Path, data_dir: Path | None = None) -> LoadedData:
    """Files concatenated in order: an item's `index` is its position in the concatenation."""
    if len(paths) == 1:
        return _load_file(paths[0], task, suite_path, data_dir)
    items: list[Item] = []
    for path in paths:
        part = _load_file(path, task, suite_path, data_dir)
        items += [Item(len(items) + k, it.fields, it.line, path) for k, it in enumerate(part.items)]
    return LoadedData(items, " + ".join(map(str, paths)), paths[0], len(items))


def subsample(loaded: LoadedData, limit: int | None, seed: int, unit: str | None = None) -> LoadedData:
    """A seeded random subsample of at most `limit` items, kept in source order.

    With `unit` (e.g. a counterfactual pair id), whole units are kept together: units are drawn in a
    seeded random order until adding the next would exceed `limit` (at least one unit is kept).
    """
    if limit is None or limit >= loaded.total:
        return loaded
    rng = np.random.default_rng(seed)
    if unit is None:
        keep = np.sort(rng.choice(loaded.total, size=limit, replace=False))
    else:
        members: dict[Any, list[int]] = {}
        for pos, item in enumerate(loaded.items):
            members.setdefault(item.fields.get(unit), []).append(pos)
        units = list(members.values())
        chosen: list[int] = []
        for u in rng.permutation(len(units)):
            group = units[u]
            if chosen and len(chosen) + len(group) > limit:
                break
            chosen.extend(group)
        keep = sorted(chosen)
    return LoadedData([loaded.items[i] for i in keep], loaded.source, loaded.path, loaded.total, loaded.missing)


def _inline(rows: list[dict]) -> list[Item]:
    return [Item(i, dict(fields), getattr(fields, "line", None)) for i, fields in enumerate(rows)]


def _load_template(template: TemplateSpec, task: TaskSpec, suite_path: Path) -> LoadedData:
    rows = _inline(template.rows) if template.rows is not None else _load_file(template.file, task, suite_path).items
    items = expand_template(template, rows)
    vary = template.vary
    combos = math.prod(len(v) for v in template.slots.values())
    shape = f"{len(rows)} rows x {combos} slot combinations"
    if vary is not None:
        shape += f" x {vary.width} pairs x {len(vary.groups)} {vary.by} groups"
    return LoadedData(items, f"template: {shape} = {len(items)} items", suite_path, len(items))


def expand_template(template: TemplateSpec, rows: list[Item]) -> list[Item]:
    """Rows x slot combinations x vary positions x groups, in that (deterministic) order.

    Every item generated from the same row, slot combination and vary position shares a pair id, so
    the same question can be compared across groups.
    """
    names = list(template.slots)
    combos = list(itertools.product(*(template.slots[n] for n in names)))
    vary = template.vary
    width = vary.width if vary else 1
    groups = vary.groups if vary else {None: {}}
    items: list[Item] = []
    for row in rows:
        for c, combo in enumerate(combos):
            for k in range(width):
                for group, values in groups.items():
                    fields = {**row.fields, **dict(zip(names, combo))}
                    if vary is not None:
                        fields.update({f: v[k] if isinstance(v, list) else v for f, v in values.items()})
                        fields[vary.by] = group
                        fields[vary.pair] = f"{row.index}.{c}.{k}"
                    items.append(Item(len(items), fields, row.line))
    return items


def _load_file(path: Path, task: TaskSpec, suite_path: Path, data_dir: Path | None = None) -> LoadedData:
    spec = task.data

    def error(message: str, line: int | None = None, fix: str | None = None) -> DataError:
        return DataError(message, path=path if line else suite_path, line=line or spec.line,
                         task=task.name, key="data.file" if spec.source == "file" else "data.hf.local", fix=fix)

    if not is_file(path):
        raise error(f"data file not found: {path}",
                    fix="`file:` paths are relative to the suite file's folder; `hf.local` paths to --misalign-data-dir")
    if spec.hf is not None and data_dir is not None:
        verify_sha256(spec.hf, path, data_dir, error)
    try:
        items = read(path, ReadOptions(spec.format, spec.columns, spec.pattern), error)
    except UnicodeDecodeError as exc:
        raise error(*_not_utf8(path, exc), fix="save the file as UTF-8") from None
    except RecursionError:
        raise error("data nested too deeply to load", fix="items are flat objects of field: value") from None
    except OSError as exc:
        raise error(f"cannot read data file {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # csv.Error and the like: the file, not our code
        if type(exc).__module__ == "_csv":
            raise error(f"invalid CSV: {exc}", fix="save the file as plain comma-separated UTF-8 text") from None
        raise
    if not items:
        raise error(f"data file {path} holds no items")
    return LoadedData(items, str(path), path, len(items))


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> tuple[str, int | None]:
    """Where the first undecodable byte is (the decoder reports offsets within its last chunk)."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
        offset = exc.start
    except UnicodeDecodeError as whole:
        offset = whole.start
    line = raw.count(b"\n", 0, offset) + 1
    return f"data file is not UTF-8 text: byte 0x{raw[offset:offset + 1].hex()} at byte offset {offset} is not valid UTF-8", line
