"""Readers for local data files, each as published upstream: JSON lines, JSON, CSV (with or without a
header), TSV, plain text (a `pattern:` regex with named groups splits each line into fields) and
WinoBias's bracket-annotated sentences.

Every reader returns `Item`s with their 0-based `index`, their `line` in the file where it has one,
and raises through `error(message, line, fix)` so the message names the file and line.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..spec.model import FILE_FORMATS
from .items import Item

SUFFIXES = {".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv", ".txt": "txt"}


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file: its format (None: from its suffix), the column names of a headerless
    CSV/TSV, the regex that splits a text line into fields."""

    format: str | None = None
    columns: tuple[str, ...] | None = None
    pattern: str | None = None


def format_of(path: Path, options: ReadOptions) -> str | None:
    return options.format or SUFFIXES.get(path.suffix.lower())


def read(path: Path, options: ReadOptions, error: Callable[..., Exception]) -> list[Item]:
    fmt = format_of(path, options)
    if fmt is None:
        raise error(f"cannot tell the format of {path.name}", None,
                    f"add `format:` (one of {', '.join(FILE_FORMATS)}) to the task's `data:`")
    reader: dict[str, Callable[..., list[Item]]] = {
        "jsonl": _read_jsonl, "json": _read_json, "csv": _read_delimited, "tsv": _read_delimited,
        "txt": _read_txt, "winobias": _read_winobias}
    return reader[fmt](path, options, error)


def _read_jsonl(path: Path, options: ReadOptions, error) -> list[Item]:
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


def _read_json(path: Path, options: ReadOptions, error) -> list[Item]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise error(f"invalid JSON: {exc.msg}", exc.lineno) from None
    if isinstance(obj, dict) and isinstance(obj.get("data"), list):
        obj = obj["data"]
    if not isinstance(obj, list) or not all(isinstance(o, dict) for o in obj):
        raise error("a .json data file must hold a list of objects (or {\"data\": [...]})", 1)
    return [Item(i, o) for i, o in enumerate(obj)]


def _read_delimited(path: Path, options: ReadOptions, error) -> list[Item]:
    """CSV or TSV; with `columns:` the file has no header row and these are its fields."""
    delimiter = "\t" if format_of(path, options) == "tsv" else ","
    with path.open(encoding="utf-8-sig", newline="") as fh:  # utf-8-sig: a BOM is not part of the header
        reader = csv.DictReader(fh, fieldnames=list(options.columns) if options.columns else None,
                                delimiter=delimiter)
        items = []
        for i, row in enumerate(reader):
            extra, short = row.pop(None, None), [k for k, v in row.items() if v is None]
            if extra or short:
                width = len(reader.fieldnames) + len(extra or []) - len(short)
                raise error(f"row {i} has {width} fields, the header {len(reader.fieldnames)}", reader.line_num,
                            "every row needs one value per column"
                            + ("" if options.columns else " (a file without a header needs `columns:`)"))
            # DictReader's line_num is the last physical line read: right for single-line rows.
            items.append(Item(i, dict(row), reader.line_num))
        return items


def _read_txt(path: Path, options: ReadOptions, error) -> list[Item]:
    """One item per non-empty line: `text`, or with `pattern:` the regex's named groups."""
    regex = re.compile(options.pattern) if options.pattern else None
    items = []
    with path.open(encoding="utf-8") as fh:
        for lineno, text in enumerate(fh, start=1):
            text = text.rstrip("\n\r")
            if not text.strip():
                continue
            if regex is None:
                items.append(Item(len(items), {"text": text}, lineno))
                continue
            match = regex.fullmatch(text)
            if match is None:
                raise error(f"line does not match `pattern:` {options.pattern!r}: {text[:80]!r}", lineno,
                            "fix the pattern (it must match each whole line) or the line")
            items.append(Item(len(items), match.groupdict(), lineno))
    return items


# -- WinoBias --------------------------------------------------------------------------------------

_WINOBIAS_LINE = re.compile(r"(?P<id>\d+) (?P<text>.+)")
_BRACKET = re.compile(r"\[([^\[\]]+)\]")
_DETERMINER = re.compile(r"^(the|a|an) ", re.I)
_FILE_NAME = re.compile(r"(?P<stereotype>pro|anti)_stereotyped_type(?P<type>[12])\.")


def _read_winobias(path: Path, options: ReadOptions, error) -> list[Item]:
    """WinoBias (Zhao et al. 2018) as published: `<n> ...[entity]...[pronoun]...` per line, the
    coreferent occupation and its pronoun(s) in brackets (the first pronoun is the one asked about). Each item gets the sentence without brackets,
    `pronoun`, the two occupations in the order they occur (`first`, `second`; the one the pronoun
    refers to is `referent`, its position `answer`), the two in alphabetical order (`choice_a`,
    `choice_b`; the referent's position `label`: in type 2 the referent is the second occupation in 394
    of 396 sentences, so the order of mention would give the answer away), `stereotype` (pro/anti) and
    `type` (1/2) from
    the file name, and `pair`: the sentence with its pronouns masked, shared with its twin of the
    other pro/anti file (the twin files align line by line for 97.7-99.2 % of their lines, not all:
    pairing by the masked text leaves the few sentences without a twin unpaired, never mismatched)."""
    named = _FILE_NAME.search(path.name)
    if named is None:
        raise error(f"{path.name} is not a WinoBias file name (pro|anti_stereotyped_type1|2.txt.*)", None,
                    "keep the upstream file names")
    rows = [(lineno, text) for lineno, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if text.strip()]
    parsed = [_winobias_line(text, lineno, error) for lineno, text in rows]
    occupations = {_noun(entity) for _, entity, _, _, _ in parsed}
    items = []
    for (lineno, _), (ident, entity, pronoun, sentence, masked) in zip(rows, parsed):
        first, second, answer = _occupations(sentence, entity, occupations)
        if first is None:
            raise error(f"cannot find the second occupation in {sentence!r}", lineno,
                        "a WinoBias sentence names two occupations; check the line")
        choice_a, choice_b = sorted((first, second))
        fields = {"id": ident, "sentence": sentence, "pronoun": pronoun, "referent": _noun(entity), "first": first,
                  "second": second, "answer": answer, "choice_a": choice_a, "choice_b": choice_b,
                  "label": (choice_a, choice_b).index(_noun(entity)), "stereotype": named["stereotype"],
                  "type": named["type"], "pair": f"type{named['type']}: {masked}"}
        items.append(Item(len(items), fields, lineno))
    return items


def _winobias_line(text: str, lineno: int, error) -> tuple[str, str, str, str, str]:
    match = _WINOBIAS_LINE.fullmatch(text.strip())
    spans = list(_BRACKET.finditer(match["text"])) if match else []
    if match is None or len(spans) < 2:  # 87 of the 3,168 lines bracket a second pronoun too
        raise error(f"not a WinoBias line (a number, then [bracketed] mentions): {text[:80]!r}", lineno)
    sentence = " ".join(_BRACKET.sub(r"\1", match["text"]).split())
    masked = match["text"]
    for span in reversed(spans[1:]):
        masked = masked[:span.start()] + "_" + masked[span.end():]
    return match["id"], spans[0][1], spans[1][1], sentence, " ".join(_BRACKET.sub(r"\1", masked).split())


def _noun(mention: str) -> str:
    return _DETERMINER.sub("", mention.strip()).lower()


def _occupations(sentence: str, entity: str, occupations: set[str]) -> tuple[str | None, str | None, int]:
    """The two occupations of a sentence in order of occurrence, and which one `entity` is."""
    lowered = sentence.lower()
    referent = _noun(entity)
    at = lowered.find(entity.lower())
    others = sorted((m.start(), occ) for occ in occupations if occ != referent
                    for m in re.finditer(rf"\b{re.escape(occ)}\b", lowered))
    if not others:
        return None, None, 0
    other_pos, other = others[0]
    return (referent, other, 0) if at < other_pos else (other, referent, 1)

