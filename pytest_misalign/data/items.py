"""What loading produces: items with their position in the source, and where they came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
    missing: tuple[str, ...] = ()  # files of the source that were not there (`hf.partial`)
