"""Load a task's items from inline YAML, a local file or a Hugging Face dataset.

Every item keeps `index`, its 0-based position in the data source (also under `limit`), so results
can be joined back to the data, and `line` where the source has one (for error messages).
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .shape import shape_loaded
from ..errors import DataError, DataUnavailable
from ..spec.model import DataSpec, TaskSpec, TemplateSpec
from ..spec.paths import confine, suite_error_factory


@dataclass(frozen=True)
class Item:
    index: int
    fields: dict[str, Any]
    line: int | None = None  # line in the source file (YAML or JSONL/CSV), when known
    path: Path | None = None  # the file `line` is in, when a task reads several files


@dataclass(frozen=True)
class LoadedData:
    items: list[Item]
    source: str  # human-readable: "inline items", a file path, "hf:org/name[config]:split"
    path: Path | None  # the file the lines refer to
    total: int  # items in the source before any limit


def load_items(task: TaskSpec, suite_path: Path, *, data_dir: Path | None = None,
               roots: Sequence[Path] | None = None) -> LoadedData:
    """All items of `task` (see `subsample` for `limit`).

    `data_dir` serves hub datasets from local files of the same shape (offline machines, tests).
    `roots`: the folders local files must resolve into (`SuiteSpec.data_roots`); None: anywhere.
    """
    spec = task.data
    if spec.source == "items":
        loaded = LoadedData(_inline(spec.items), "inline items", suite_path, len(spec.items))
    elif spec.source == "file" and isinstance(spec.file, tuple):
        loaded = _load_files(spec.file, task, suite_path)
    elif spec.source == "file":
        loaded = _load_file(spec.file, task, suite_path)
    elif spec.source == "template":
        loaded = _load_template(spec.template, task, suite_path)
    else:
        local = local_dataset_file(spec.hf, data_dir) if data_dir is not None else None
        if local is not None:
            local = confine(str(local), data_dir, roots, error=suite_error_factory(
                suite_path, spec.line, task.name, "data.hf.local" if spec.hf.get("local") else "data.hf",
                DataError))
        loaded = _load_file(local, task, suite_path) if local is not None else _load_hf(spec, task, suite_path)
    return shape_loaded(loaded, spec, task, suite_path)


def _load_files(paths: tuple[Path, ...], task: TaskSpec, suite_path: Path) -> LoadedData:
    """Several files, concatenated in order: an item's `index` is its position in the concatenation."""
    items: list[Item] = []
    for path in paths:
        part = _load_file(path, task, suite_path)
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
    return LoadedData([loaded.items[i] for i in keep], loaded.source, loaded.path, loaded.total)


def _inline(rows: list[dict]) -> list[Item]:
    return [Item(i, dict(fields), getattr(fields, "line", None)) for i, fields in enumerate(rows)]


def local_dataset_file(hf: dict, data_dir: Path) -> Path:
    """The local stand-in for a hub dataset: `data_dir/<local>` when the task names one, else
    `data_dir/<path>/<name or "default">/<split>.jsonl` (also .json or .csv)."""
    if hf.get("local"):
        return (data_dir / hf["local"]).resolve()
    base = data_dir / hf["path"] / (hf.get("name") or "default") / hf.get("split", "test")
    for suffix in (".jsonl", ".json", ".csv"):
        if _is_file(base.with_suffix(suffix)):
            return base.with_suffix(suffix)
    return base.with_suffix(".jsonl")  # reported as missing, with this expected path


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long, a NUL byte...
        return False


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


def _load_file(path: Path, task: TaskSpec, suite_path: Path) -> LoadedData:
    def error(message: str, line: int | None = None, fix: str | None = None) -> DataError:
        return DataError(message, path=path if line else suite_path, line=line or task.data.line,
                         task=task.name, key="data.file", fix=fix)

    if not _is_file(path):
        raise error(f"data file not found: {path}",
                    fix="`file:` paths are relative to the suite file's folder; `hf.local` paths to --misalign-data-dir")
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            items = _read_jsonl(path, error)
        elif suffix == ".json":
            items = _read_json(path, error)
        else:
            items = _read_csv(path)
    except UnicodeDecodeError as exc:
        raise error(*_not_utf8(path, exc), fix="save the file as UTF-8") from None
    except csv.Error as exc:
        raise error(f"invalid CSV: {exc}", fix="save the file as plain comma-separated UTF-8 text") from None
    except RecursionError:
        raise error("data nested too deeply to load", fix="items are flat objects of field: value") from None
    except OSError as exc:
        raise error(f"cannot read data file {path}: {exc.strerror or exc}") from None
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


def _read_jsonl(path: Path, error) -> list[Item]:
    items = []
    with path.open(encoding="utf-8") as fh:
        for lineno, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise error(f"invalid JSON: {exc.msg}", lineno, "each line must be one JSON object") from None
            if not isinstance(obj, dict):
                raise error(f"expected a JSON object, got {type(obj).__name__}", lineno)
            items.append(Item(len(items), obj, lineno))
    return items


def _read_json(path: Path, error) -> list[Item]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise error(f"invalid JSON: {exc.msg}", exc.lineno) from None
    if isinstance(obj, dict) and isinstance(obj.get("data"), list):
        obj = obj["data"]
    if not isinstance(obj, list) or not all(isinstance(o, dict) for o in obj):
        raise error("a .json data file must hold a list of objects (or {\"data\": [...]})", 1)
    return [Item(i, o) for i, o in enumerate(obj)]


def _read_csv(path: Path) -> list[Item]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        # DictReader's line_num is the last physical line read: right for single-line rows.
        return [Item(i, dict(row), reader.line_num) for i, row in enumerate(reader)]


# Hub datasets found unreachable in this process (connection/offline errors), by `path`: later
# tasks naming the same dataset are skipped at once with the same reason instead of retrying.
_UNREACHABLE: dict[str, Exception] = {}


def _load_hf(spec: DataSpec, task: TaskSpec, suite_path: Path) -> LoadedData:
    hf = spec.hf
    label = f"hf:{hf['path']}" + (f"[{hf['name']}]" if hf.get("name") else "") + f":{hf.get('split', 'test')}"
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a dependency
        raise DataError("the `datasets` package is needed for `data.hf`", path=suite_path,
                        line=spec.line, task=task.name, fix="pip install datasets") from None
    kwargs = {k: hf[k] for k in ("name", "revision", "data_files") if hf.get(k) is not None}
    try:
        if hf["path"] in _UNREACHABLE:  # several tasks from one offline dataset: fail fast after the first
            raise _UNREACHABLE[hf["path"]]
        ds = datasets.load_dataset(hf["path"], split=hf.get("split", "test"), **kwargs)
    except Exception as exc:  # network, missing config/split, auth...
        if any(word in type(exc).__name__ for word in ("Connection", "Offline")):
            _UNREACHABLE[hf["path"]] = exc  # the hub's retries take ~20 s a dataset
        raise DataUnavailable(
            f"cannot load {label}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            path=suite_path, line=spec.line, task=task.name, key="data.hf",
            fix="check the dataset id/config/split; offline, pass --misalign-data-dir=DIR holding "
                f"{hf.get('local') or local_dataset_file(hf, Path('DIR')).relative_to('DIR')}",
        ) from None
    items = [Item(i, dict(row)) for i, row in enumerate(ds)]
    if not items:
        raise DataError(f"{label} holds no items", path=suite_path, line=spec.line, task=task.name)
    return LoadedData(items, label, None, len(items))
