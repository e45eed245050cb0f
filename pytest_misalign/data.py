"""Load a task's items from inline YAML, a local file or a Hugging Face dataset.

Every item keeps `index`, its 0-based position in the data source (also under `limit`), so results
can be joined back to the data, and `line` where the source has one (for error messages).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError
from .spec import DataSpec, TaskSpec


@dataclass(frozen=True)
class Item:
    index: int
    fields: dict[str, Any]
    line: int | None = None  # line in the source file (YAML or JSONL/CSV), when known


@dataclass(frozen=True)
class LoadedData:
    items: list[Item]
    source: str  # human-readable: "inline items", a file path, "hf:org/name[config]:split"
    path: Path | None  # the file the lines refer to
    total: int  # items in the source before any limit


def load_items(task: TaskSpec, suite_path: Path, *, cap: int | None = None) -> LoadedData:
    """All items of `task`, subsampled to `min(data.limit, cap)` with the task's seed."""
    spec = task.data
    if spec.source == "items":
        items = [Item(i, dict(fields), getattr(fields, "line", None)) for i, fields in enumerate(spec.items)]
        loaded = LoadedData(items, "inline items", suite_path, len(items))
    elif spec.source == "file":
        loaded = _load_file(spec.file, task, suite_path)
    else:
        loaded = _load_hf(spec, task, suite_path)
    limit = min(x for x in (spec.limit, cap, loaded.total) if x is not None)
    if limit < loaded.total:
        keep = np.sort(np.random.default_rng(spec.seed).choice(loaded.total, size=limit, replace=False))
        loaded = LoadedData([loaded.items[i] for i in keep], loaded.source, loaded.path, loaded.total)
    return loaded


def _load_file(path: Path, task: TaskSpec, suite_path: Path) -> LoadedData:
    def error(message: str, line: int | None = None, fix: str | None = None) -> DataError:
        return DataError(message, path=path if line else suite_path, line=line or task.data.line,
                         task=task.name, key="data.file", fix=fix)

    if not path.is_file():
        raise error(f"data file not found: {path}", fix="the path is relative to the suite file's folder")
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            items = _read_jsonl(path, error)
        elif suffix == ".json":
            items = _read_json(path, error)
        else:
            items = _read_csv(path)
    except UnicodeDecodeError as exc:
        raise error(f"data file is not UTF-8 text: {exc}") from None
    if not items:
        raise error(f"data file {path} holds no items")
    return LoadedData(items, str(path), path, len(items))


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
        ds = datasets.load_dataset(hf["path"], split=hf.get("split", "test"), **kwargs)
    except Exception as exc:  # network, missing config/split, auth...
        raise DataError(
            f"cannot load {label}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            path=suite_path, line=spec.line, task=task.name, key="data.hf",
            fix="check the dataset id/config/split; offline, point the task at local files "
                "of the same shape instead",
        ) from None
    items = [Item(i, dict(row)) for i, row in enumerate(ds)]
    if not items:
        raise DataError(f"{label} holds no items", path=suite_path, line=spec.line, task=task.name)
    return LoadedData(items, label, None, len(items))
