"""Where the parser is in a suite file, and the small validation helpers every part of it shares.

Every problem is a `SuiteError` naming the file, line, task and key, with a fix where one is clear.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from ..errors import SuiteError
from .yamlio import YamlList, YamlMap


class Ctx:
    """Where we are in the file, to build errors."""

    def __init__(self, path: Path, task: str | None = None, within: str | None = None) -> None:
        self.path = path
        self.task = task
        self.within = within  # errors' keys are read inside this key (`fewshot.` + `data.hf.split`)

    def error(self, message: str, *, key: str | None = None, line: int | None = None,
              fix: str | None = None) -> SuiteError:
        if self.within:
            key = f"{self.within}.{key}" if key else self.within
        return SuiteError(message, path=self.path, line=line, task=self.task, key=key, fix=fix)


def line_of(node: Any, key: str | None = None) -> int | None:
    if isinstance(node, YamlMap):
        return node.line_of(key) if key is not None else node.line
    if isinstance(node, YamlList):
        return node.line
    return None


def check_keys(ctx: Ctx, node: YamlMap, allowed: set[str], where: str) -> None:
    for key in node:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(sorted(allowed))}"
            raise ctx.error(f"unknown key '{key}' in {where}", key=str(key), line=node.line_of(key),
                            fix=hint)


def require_map(ctx: Ctx, node: Any, key: str, line: int | None) -> YamlMap:
    if not isinstance(node, dict):
        raise ctx.error(f"must be a mapping, got {type(node).__name__}", key=key, line=line)
    return node


def require_str(ctx: Ctx, node: YamlMap, key: str, *, required: bool = True) -> str | None:
    if key not in node:
        if required:
            raise ctx.error(f"missing required key '{key}'", key=key, line=node.line,
                            fix=f"add `{key}: ...`")
        return None
    value = node[key]
    if not isinstance(value, str) or (required and not value.strip()):
        raise ctx.error(f"must be a non-empty string, got {value!r}", key=key, line=node.line_of(key))
    return value


def str_list(ctx: Ctx, node: YamlMap, key: str) -> list[str]:
    value = node.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ctx.error("must be a list of strings", key=key, line=node.line_of(key))
    return list(value)
