"""Safe YAML loading that remembers line numbers, so errors can point at them.

Built on libyaml (`yaml.CSafeLoader`, falling back to the pure-Python `yaml.SafeLoader` where
PyYAML was built without it): `yaml.safe_load` semantics, so `!!python/...` tags are refused.
Mappings load as `YamlMap` and sequences as `YamlList`: plain dict/list subclasses that also carry
1-based line numbers.

Every failure (unreadable, not UTF-8, bad syntax, a bad value, nesting too deep) is a `SuiteError`
naming the file and, where known, the line. Collection asks `looks_like_suite` about every YAML file
and then parses the suites: the document parsed by the first is kept (keyed by the file's path and
the SHA-256 of its bytes, so an edited file is parsed again) and handed to the second, so each file
is parsed once.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import SuiteError

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it
_STR_TAG = "tag:yaml.org,2002:str"


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


class _LineLoader(_BaseLoader):
    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError, AttributeError, KeyError, IndexError) as exc:  # 2020-02-30
            raise yaml.constructor.ConstructorError(None, None, f"invalid value: {exc}", node.start_mark) from None


def _value(loader: _LineLoader, node: yaml.Node) -> Any:
    # Fast path for plain strings (most of a large suite): exactly what the str constructor returns.
    if node.tag == _STR_TAG and isinstance(node, yaml.ScalarNode):
        return node.value
    return loader.construct_object(node, deep=True)


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> YamlMap:
    loader.flatten_mapping(node)
    mapping = YamlMap()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = key_lines = {}
    for key_node, value_node in node.value:
        key = _value(loader, key_node)
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
        mapping[key] = _value(loader, value_node)
        key_lines[key] = key_node.start_mark.line + 1
    return mapping


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> YamlList:
    seq = YamlList(_value(loader, child) for child in node.value)
    seq.line = node.start_mark.line + 1
    seq.item_lines = [child.start_mark.line + 1 for child in node.value]
    return seq


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


@dataclass(frozen=True)
class YamlDocument:
    data: Any
    sha256: str  # of the bytes that were parsed


def load_yaml(path: Path) -> Any:
    """Parse `path` safely, with line numbers; every problem becomes a SuiteError naming the file."""
    return load_document(path).data


def load_document(path: Path) -> YamlDocument:
    """`load_yaml` plus the digest of the parsed bytes; reuses the parse `looks_like_suite` made."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SuiteError(f"cannot read file: {exc.strerror or exc}", path=path) from None
    digest = hashlib.sha256(raw).hexdigest()
    cached = _CACHE.pop(_cache_key(path, digest), None)
    if cached is not None:
        if isinstance(cached, SuiteError):
            raise cached
        return cached
    return _parse(path, raw, digest)


def _parse(path: Path, raw: bytes, digest: str) -> YamlDocument:
    text = _decode(path, raw)
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader derives from (C)SafeLoader
    except SuiteError as exc:  # a duplicate key
        exc.path = str(path)
        raise
    except RecursionError:
        raise SuiteError("nesting too deep to load (hundreds of levels of mappings or lists)", path=path,
                         fix="a suite nests a few levels deep; is this the right file?") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "syntax error"
        raise SuiteError(f"invalid YAML: {problem}", path=path, line=line,
                         fix="check indentation and quoting around this line") from None
    except yaml.reader.ReaderError as exc:
        line = _line_at(text.encode("utf-8"), exc.position) if _BaseLoader is not yaml.SafeLoader \
            else text.count("\n", 0, exc.position) + 1
        raise SuiteError(f"invalid YAML: unacceptable character #x{exc.character:04x} ({exc.reason})",
                         path=path, line=line, fix="remove the control character") from None
    except yaml.YAMLError as exc:
        raise SuiteError(f"invalid YAML: {exc}", path=path) from None
    return YamlDocument(data, digest)


def _line_at(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, max(0, offset)) + 1


_WIDE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _decode(path: Path, raw: bytes) -> str:
    if raw.startswith(_WIDE_BOMS):
        raise SuiteError("the file is UTF-16 or UTF-32 text; suite files are UTF-8", path=path, line=1,
                         fix="save the file as UTF-8 (e.g. `iconv -f UTF-16 -t UTF-8`)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start
        line = _line_at(raw, offset)
        column = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
        raise SuiteError(f"not UTF-8 text: byte 0x{raw[offset]:02x} at byte offset {offset} (line {line}, "
                         f"column {column}) is not valid UTF-8", path=path, line=line,
                         fix="save the file as UTF-8 (e.g. `iconv -f LATIN1 -t UTF-8`)") from None


def looks_like_suite(path: Path, *, named: bool = False) -> bool:
    """Collection's test: a YAML file is a suite when it is a mapping with top-level `suite` and `tasks`
    (or one of them and a near miss of the other: a typo is reported, not dropped).

    Any other YAML (CI configs, ...) is not ours and is ignored, whatever is wrong with it; a file
    that cannot be loaded but reads like a suite (`suite:` and `tasks:` at the start of lines), or
    that the user `named` on the command line, is ours, so that its error is shown. Never raises.
    The parsed document (or its error) is kept for `load_document`.
    """
    try:
        raw = path.read_bytes()
    except OSError:
        return False
    try:
        if b"suite" not in raw and b"tasks" not in raw:
            if not raw.startswith(_WIDE_BOMS) and not named:
                return False  # cannot be a suite: no need to parse it
        digest = hashlib.sha256(raw).hexdigest()
        key = _cache_key(path, digest)
        try:
            doc = _parse(path, raw, digest)
        except SuiteError as exc:
            ours = named or _reads_like_suite(raw)
            if ours:
                _remember(key, exc, len(raw))
            return ours
        data = doc.data
        ours = named or (isinstance(data, dict) and _suite_keys(data))
        if ours:
            _remember(key, doc, len(raw))
        return ours
    except Exception:  # noqa: BLE001 - never let a stray YAML file break collection
        return False


def _suite_keys(data: dict) -> bool:
    """`suite` and `tasks` at the top, or one of them and a near miss of the other (`task:`, `suites:`):
    a suite with a typo is ours, so that its error is shown instead of the file silently dropped."""
    import difflib

    keys = [k for k in data if isinstance(k, str)]
    has = {want: want in keys or bool(difflib.get_close_matches(want, keys, n=1, cutoff=0.75))
           for want in ("suite", "tasks")}
    return ("suite" in keys or "tasks" in keys) and all(has.values())


_SUITE_KEY = re.compile(rb"^[\"']?suite[\"']?[ \t]*:", re.MULTILINE)
_TASKS_KEY = re.compile(rb"^[\"']?tasks[\"']?[ \t]*:", re.MULTILINE)


def _reads_like_suite(raw: bytes) -> bool:
    for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                       (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            raw = raw.decode(codec, errors="replace").encode("utf-8")
            break
    return bool(_SUITE_KEY.search(raw) and _TASKS_KEY.search(raw))


# Parsed documents waiting for `load_document`, oldest first; bounded by the size of their sources.
_CACHE: OrderedDict[tuple, YamlDocument | SuiteError] = OrderedDict()
_CACHE_SIZES: dict[tuple, int] = {}
_CACHE_MAX_BYTES = 64 * 2**20


def _cache_key(path: Path, digest: str) -> tuple | None:
    try:
        return (str(path.resolve()), digest)
    except (OSError, RuntimeError, ValueError):
        return None


def _remember(key: tuple | None, value: YamlDocument | SuiteError, size: int) -> None:
    if key is None or size > _CACHE_MAX_BYTES:
        return
    _CACHE.pop(key, None)
    _CACHE[key] = value
    _CACHE_SIZES[key] = size
    while sum(_CACHE_SIZES[k] for k in _CACHE) > _CACHE_MAX_BYTES:
        oldest = next(iter(_CACHE))
        del _CACHE[oldest]
    for stale in [k for k in _CACHE_SIZES if k not in _CACHE]:
        del _CACHE_SIZES[stale]
