"""Data shaping in the suite file, no code: dotted fields, `where:` filters, `rename:`, several files.

    data:
      file: [bbq/Age.jsonl, bbq/Nationality.jsonl]     # several files, read in this order
      rename: {additional_metadata.subcategory: subcategory}   # old: new (old may be dotted)
      derive: {template_id: "{category}/{question_index}"}       # new fields made of others
      where:
        context_condition: ambig          # equals
        category: [Age, Nationality]      # is one of
        not: {label: 2}                   # excludes the items this (nested) filter matches
      limit: 200

Order: the files are read and concatenated (an item's `index` is its position in that concatenation,
so it stays unique and stable while earlier files are unchanged); `rename` is applied; `where` keeps
the matching items (they keep their `index`); `derive` adds its fields; then the seeded `limit` draws
from what is left.

`where` semantics: every key must match (AND). A scalar matches an equal value, a list any of its
values; values are compared as text (YAML `2` matches JSON `2` and CSV `"2"`; `true` matches `True`).
When the item's field holds a list (a list-valued group field), it matches when any of its values
does. An item without the field does not match. `not:` takes a mapping (or a list of mappings) and
drops the items that mapping matches (or that any of them matches).

List-valued group fields (`by: tags` with `tags: [a, b]`): for `gap` and `group_accuracy` an item
counts in every group it lists (`TaskOutcome.groups`). Each group's accuracy and Wilson interval are
then exact for that group; the `gap` interval (Newcombe, for independent groups) is conservative,
since items shared by two groups move both accuracies together and narrow their true difference.
Not with `cluster:`, paired gaps or other checks (an error at collection says so); regression and
evidence see the combination ("a|b") as one group.

Dotted fields: `{meta.age}` in a template and `by: meta.age` in a check read `item["meta"]["age"]`; a
digit segment indexes a list (`answer_info.ans0.1`). A top-level key that itself contains a dot
(a CSV header "meta.age") wins over the nested path.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")


class Fields(dict):
    """An item's fields; `fields["a.b"]`, `"a.b" in fields` and `.get("a.b")` follow dotted paths."""

    __slots__ = ()

    def __missing__(self, key: Any) -> Any:
        value = resolve(self, key)
        if value is ABSENT:
            raise KeyError(key)
        return value

    def __contains__(self, key: Any) -> bool:
        return dict.__contains__(self, key) or resolve(self, key) is not ABSENT

    def get(self, key: Any, default: Any = None) -> Any:
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        value = resolve(self, key)
        return default if value is ABSENT else value


ABSENT = object()  # what `resolve` returns for a missing field


def resolve(fields: dict, key: Any) -> Any:
    """The value at dotted path `key`, or `ABSENT`."""
    if not isinstance(key, str):
        return ABSENT
    if dict.__contains__(fields, key):
        return dict.__getitem__(fields, key)
    if "." not in key:
        return ABSENT
    value: Any = fields
    for part in key.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, (list, tuple)) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return ABSENT
    return value


def is_field_path(name: str) -> bool:
    """A plain field name or a dotted path of them (no brackets, no dunder segments)."""
    return bool(_PATH.fullmatch(name)) and not any(part.startswith("__") for part in name.split("."))


@dataclass(frozen=True)
class Where:
    """`where:` as parsed: (field, accepted values as text) pairs, and negated sub-filters."""

    equals: tuple[tuple[str, tuple[str, ...]], ...] = ()
    nots: tuple["Where", ...] = ()
    line: int | None = None
    lines: dict = field(default_factory=dict, compare=False)  # field -> line in the suite file

    def fields(self) -> list[str]:
        return [f for f, _ in self.equals] + [f for w in self.nots for f in w.fields()]

    def matches(self, fields: dict) -> bool:
        for name, accepted in self.equals:
            value = resolve(fields, name)
            values = value if isinstance(value, (list, tuple)) else [value]
            if value is ABSENT or not any(as_text(v) in accepted for v in values):
                return False
        return not any(w.matches(fields) for w in self.nots)


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "None" if value is None else str(value)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def parse_where(node: Any, line: int | None, error: Callable[..., Exception], key: str = "data.where") -> Where:
    """Validate a `where:` mapping (`error(message, key=, line=, fix=)` builds the SuiteError)."""
    example = "e.g. `where: {context_condition: ambig, category: [Age, Gender], not: {label: 2}}`"
    if not isinstance(node, dict) or not node:
        raise error(f"must be a non-empty mapping of field: value, got {node!r}", key=key, line=line, fix=example)
    equals, nots, lines = [], [], {}
    for name, value in node.items():
        here = node.line_of(name) if hasattr(node, "line_of") else line
        if name == "not":
            subs = value if isinstance(value, list) else [value]
            if not subs:
                raise error("`not:` needs a mapping (or a list of mappings)", key=f"{key}.not", line=here, fix=example)
            nots += [parse_where(s, getattr(s, "line", None) or here, error, f"{key}.not") for s in subs]
            continue
        if not isinstance(name, str) or not is_field_path(name):
            raise error(f"'{name}' is not a field name", key=f"{key}.{name}", line=here,
                        fix="use a field name, or a dotted path such as `meta.age`")
        values = value if isinstance(value, list) else [value]
        if not values or not all(_scalar(v) for v in values):
            raise error(f"'{name}' must be a value or a non-empty list of values, got {value!r}",
                        key=f"{key}.{name}", line=here, fix=example)
        equals.append((name, tuple(as_text(v) for v in values)))
        lines[name] = here
    return Where(tuple(equals), tuple(nots), line, lines)


def parse_rename(node: Any, line: int | None, error: Callable[..., Exception], key: str = "data.rename") -> dict[str, str]:
    """Validate `rename: {old: new}`: old a field (dotted allowed), new a plain name, no two alike."""
    fix = "e.g. `rename: {additional_metadata.subcategory: subcategory}` (old: new)"
    if not isinstance(node, dict) or not node:
        raise error(f"must be a non-empty mapping of old: new field names, got {node!r}", key=key,
                    line=line, fix=fix)
    seen: dict[str, str] = {}
    for old, new in node.items():
        here = node.line_of(old) if hasattr(node, "line_of") else line
        if not isinstance(old, str) or not is_field_path(old):
            raise error(f"'{old}' is not a field name", key=f"{key}.{old}", line=here, fix=fix)
        if not isinstance(new, str) or not new.isidentifier():
            raise error(f"the new name for '{old}' must be a plain field name, got {new!r}", key=f"{key}.{old}",
                        line=here, fix=fix)
        if new in seen:
            raise error(f"'{old}' and '{seen[new]}' are both renamed to '{new}'", key=f"{key}.{old}", line=here,
                        fix="give each field its own new name")
        seen[new] = old
    return dict(node)


def close_match(name: str, fields: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(name, [str(f) for f in fields], n=1)
    return f"did you mean '{close[0]}'?" if close else None


def parse_files(value: Any, one_file: Callable[[str, int], Path], line: int | None,
                error: Callable[..., Exception]) -> Path | tuple[Path, ...]:
    """`file:` is one path or a non-empty list of paths (each checked by `one_file(path, position)`)."""
    if isinstance(value, str):
        return one_file(value, -1)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise error(f"must be a path or a non-empty list of paths, got {value!r}", key="data.file", line=line,
                    fix="e.g. `file: [a.jsonl, b.jsonl]`")
    paths = tuple(one_file(v, i) for i, v in enumerate(value))
    if len(set(paths)) != len(paths):
        raise error("the same file is listed twice", key="data.file", line=line, fix="list each file once")
    return paths[0] if len(paths) == 1 else paths


def parse_shape(node: Any, error: Callable[..., Exception]) -> dict[str, Any]:
    """The `where` and `rename` entries of a `data:` mapping, validated, as DataSpec keyword arguments."""
    out: dict[str, Any] = {}
    if "where" in node:
        out["where"] = parse_where(node["where"], node.line_of("where"), error)
    if "rename" in node:
        out["rename"] = parse_rename(node["rename"], node.line_of("rename"), error)
    if "derive" in node:
        out["derive"] = parse_derive(node["derive"], node.line_of("derive"), error)
    return out


DERIVE_FIELD = re.compile(r"\{([^{}]+)\}")


def parse_derive(value: Any, line: int | None, error: Callable[..., Exception]) -> dict[str, str]:
    """`derive: {new_field: "{a}/{b}"}`: fields made of others (e.g. a cluster id over two fields)."""
    fix = 'e.g. `derive: {template_id: "{category}/{question_index}"}`'
    if not isinstance(value, dict) or not value:
        raise error("must map new field names to templates over the item's fields", key="data.derive", line=line,
                    fix=fix)
    for name, template in value.items():
        if not isinstance(name, str) or not name or not isinstance(template, str) or not DERIVE_FIELD.search(template):
            raise error(f"'{name}' must be a template naming at least one field, got {template!r}",
                        key=f"data.derive.{name}", line=getattr(value, "line_of", lambda k: line)(name), fix=fix)
    return {str(k): str(v) for k, v in value.items()}
