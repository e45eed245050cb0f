"""How a free-form answer is matched against the expected one (`match: exact | contains | regex | number`)."""

from __future__ import annotations

import functools
import re
import unicodedata


_WS = re.compile(r"\s+")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


@functools.lru_cache(maxsize=1 << 14)
def normalize(text: str) -> str:
    """Case-, whitespace- and accent-insensitive form used by `exact` and `contains` (answers and
    choices repeat across items and looks: cached)."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _WS.sub(" ", stripped).strip().casefold()


def extract_number(text: str) -> float | None:
    """The last number in `text` (lm-eval's "flexible extract"); thousands separators allowed."""
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def matches(output: str, expected: str, how: str) -> bool:
    if how == "exact":
        return normalize(output) == normalize(expected)
    if how == "contains":
        return normalize(expected) in normalize(output)
    if how == "regex":
        return re.search(expected, output) is not None
    if how == "number":
        got, want = extract_number(output), extract_number(expected)
        return got is not None and want is not None and abs(got - want) <= 1e-9 * max(1.0, abs(want))
    raise ValueError(f"unknown match {how!r}")
