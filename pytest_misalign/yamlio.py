"""Safe YAML loading that remembers line numbers, so errors can point at them.

Built on `yaml.SafeLoader` (no arbitrary object construction). Mappings load as `YamlMap` and
sequences as `YamlList`: plain dict/list subclasses that also carry 1-based line numbers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .errors import SuiteError


class YamlMap(dict):
    line: int | None = None
    key_lines: dict

    def line_of(self, key: str) -> int | None:
        return getattr(self, "key_lines", {}).get(key, self.line)


class YamlList(list):
    line: int | None = None
    item_lines: list

    def line_of(self, index: int) -> int | None:
        lines = getattr(self, "item_lines", [])
        return lines[index] if 0 <= index < len(lines) else self.line


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> YamlMap:
    loader.flatten_mapping(node)
    mapping = YamlMap()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)):
            raise yaml.constructor.ConstructorError(
                None, None, f"unsupported mapping key {key!r}", key_node.start_mark
            )
        if key in mapping:
            raise SuiteError(
                f"duplicate key '{key}'",
                line=key_node.start_mark.line + 1,
                fix="each key may appear once per mapping; remove or rename one",
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> YamlList:
    seq = YamlList(loader.construct_object(child, deep=True) for child in node.value)
    seq.line = node.start_mark.line + 1
    seq.item_lines = [child.start_mark.line + 1 for child in node.value]
    return seq


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: Path) -> Any:
    """Parse `path` safely, with line numbers; YAML syntax errors become SuiteError naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"cannot read file: {exc}", path=path) from None
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader derives from SafeLoader
    except SuiteError as exc:
        exc.path = str(path)
        raise
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise SuiteError(f"invalid YAML: {exc.problem}", path=path, line=line,
                         fix="check indentation and quoting around this line") from None
    except yaml.YAMLError as exc:
        raise SuiteError(f"invalid YAML: {exc}", path=path) from None


def looks_like_suite(path: Path) -> bool:
    """Cheap test used at collection: a YAML file is a suite when it has top-level `suite` and `tasks`.

    Any other YAML (CI configs, ...) — including unparsable files — is not ours and is ignored.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        # A broken file that still reads like a suite is ours: collect it so its error is shown.
        return bool(_SUITE_KEY.search(text) and _TASKS_KEY.search(text))
    return isinstance(data, dict) and "suite" in data and "tasks" in data


_SUITE_KEY = re.compile(r"^suite\s*:", re.MULTILINE)
_TASKS_KEY = re.compile(r"^tasks\s*:", re.MULTILINE)
