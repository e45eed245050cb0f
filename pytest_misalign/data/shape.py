"""Applying the data shaping of a suite file (`spec/shape.py`: the grammar, `Where`, dotted fields):
rename, then filter with `where`; every item's fields become `Fields` (dotted lookup)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from ..errors import DataError
from ..spec.shape import ABSENT, DERIVE_FIELD, Fields, Where, close_match, resolve


def apply_shape(items: list, rename: dict[str, str] | None, where: Where | None, error: Callable[..., Exception],
                make_item: Callable[[Any, dict], Any]) -> tuple[list, str]:
    """Rename, then filter; every item's fields become `Fields`. Returns (items, a note for the source).

    `error(message, item, key, fix, line=None)` builds the DataError (item None: the suite file, at
    `line` or the data block's line);
    `make_item(item, fields)` rebuilds an item with new fields (keeping index, line, path).
    """
    if rename:
        _check_rename(items, rename, error)
    shaped = [make_item(it, Fields(_renamed(it.fields, rename) if rename else it.fields)) for it in items]
    if where is None:
        return shaped, ""
    _check_where_fields(shaped, where, error)
    kept = [it for it in shaped if where.matches(it.fields)]
    if not kept:
        counts = [f"{name}: {sum(Where(((name, ok),)).matches(it.fields) for it in shaped)}"
                  for name, ok in where.equals]
        raise error(f"`where` matched none of the {len(shaped)} items (items matching each condition: "
                    f"{', '.join(counts) or 'n/a'})", None, "data.where",
                    "values are compared as text: check their spelling and case against the data", where.line)
    return kept, f"where: {len(kept)} of {len(shaped)} items"


def _renamed(fields: dict, rename: dict[str, str]) -> dict:
    out = dict(fields)
    for old, new in rename.items():
        out[new] = resolve(fields, old)
        if dict.__contains__(out, old) and old not in rename.values():
            del out[old]
    return out


def _check_rename(items: list, rename: dict[str, str], error: Callable[..., Exception]) -> None:
    olds = set(rename)
    for it in items:
        for old, new in rename.items():
            if resolve(it.fields, old) is ABSENT:
                raise error(f"field '{old}' named in `rename` is missing from item {it.index} "
                            f"(its fields: {', '.join(map(str, it.fields))})", it, f"data.rename.{old}",
                            close_match(old, it.fields) or "every item must have the fields `rename` names")
            if dict.__contains__(it.fields, new) and new not in olds:
                raise error(f"`rename` would overwrite field '{new}' of item {it.index}", it, f"data.rename.{old}",
                            "choose a new name that is not already a field")


def _check_where_fields(items: list, where: Where, error: Callable[..., Exception]) -> None:
    """A `where` field that no item has is a typo: name it, with the fields the items do have."""
    for name in where.fields():
        if not any(resolve(it.fields, name) is not ABSENT for it in items):
            known = sorted({str(k) for it in items[:50] for k in it.fields})
            raise error(f"field '{name}' in `where` is in none of the {len(items)} items", None,
                        f"data.where.{name}", close_match(name, known) or f"the items' fields: {', '.join(known)}",
                        where.lines.get(name, where.line))


def shape_loaded(loaded: Any, spec: Any, task: Any, suite_path: Path) -> Any:
    """`LoadedData` after `rename` and `where`, every item's fields a `Fields` (dotted lookup)."""
    def error(message: str, item: Any, key: str, fix: str | None, line: int | None = None) -> DataError:
        if item is not None and item.line:
            where = getattr(item, "path", None) or loaded.path
            return DataError(message, path=where, line=item.line, task=task.name, key=key, fix=fix)
        return DataError(message, path=suite_path, line=line or spec.line, task=task.name, key=key, fix=fix)

    items, note = apply_shape(loaded.items, spec.rename, spec.where, error,
                              lambda it, fields: replace(it, fields=fields))
    if getattr(spec, "derive", None):
        items = [replace(it, fields=Fields({**it.fields, **_derived(it, spec.derive, error)})) for it in items]
    if not note:
        return replace(loaded, items=items)
    return replace(loaded, items=items, total=len(items), source=f"{loaded.source} ({note})")


def _derived(item: Any, derive: dict[str, str], error: Callable[..., Exception]) -> dict[str, str]:
    """`derive`: each new field's template with the item's fields filled in."""
    out = {}
    for name, template in derive.items():
        def fill(match: re.Match) -> str:
            value = resolve(item.fields, match.group(1))
            if value is ABSENT:
                raise error(f"field '{match.group(1)}' named in `derive.{name}` is missing from item {item.index}",
                            item, f"data.derive.{name}", close_match(match.group(1), item.fields)
                            or "every item must have the fields `derive` names")
            return str(value)
        out[name] = DERIVE_FIELD.sub(fill, template)
    return out


def apply_renames(items: list, rename: dict[str, str] | None) -> list:
    """Items with `rename` applied (no checks: hub rows onto the upstream files' fields)."""
    if not rename:
        return items
    return [replace(it, fields=_renamed(it.fields, rename)) for it in items]
