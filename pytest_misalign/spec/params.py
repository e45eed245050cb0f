"""Check parameters: what a check kind's parameter accepts (`Param`), and the common groups of them.

A check kind (`checks/`) declares its parameters once, as a mapping of name to `Param`; suite parsing
validates every check against it (`spec/checks.py`) and reports a bad value with the file, line, key
and what the parameter accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RATE = (int, float)  # a number in [0, 1]
LEVEL = ("level",)  # a confidence level in (0, 1)
COUNT = ("count",)  # a positive integer
NONNEG = ("nonneg",)  # a number >= 0 (e.g. nats)


@dataclass(frozen=True)
class Param:
    """One parameter of a check: its type (a Python type, a tuple of them, or one of the markers
    RATE, LEVEL, COUNT, NONNEG), whether the check needs it, and a line of help for error messages.
    `choices`: the values a string parameter may take (None: any non-empty string)."""

    type: type | tuple[Any, ...]
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] | None = None


STATS = {
    "confidence": Param(LEVEL, help="two-sided confidence level of the interval (default 0.95)"),
}
GROUPS = {
    "by": Param(str, required=True, help="item field that defines the groups"),
    "min_n": Param(COUNT, help="groups with fewer items are reported as too small (default 10)"),
}


def bounds(what: str) -> dict[str, Param]:
    """`min` and `max` of a bounded value (the kind's rules require at least one)."""
    return {"min": Param(RATE, help=f"floor for the {what}"), "max": Param(RATE, help=f"ceiling for the {what}")}


_NAMES = {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "a mapping"}


def _types(kind: Any) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def param_problem(param: Param, value: Any) -> str | None:
    """Why `value` does not fit `param`, or None."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if param.type is RATE:
        return None if number and 0.0 <= value <= 1.0 else "is a rate and must be a number in [0, 1]"
    if param.type is NONNEG:
        return None if number and 0.0 <= value < float("inf") else "must be a number >= 0"
    if param.type is LEVEL:
        return None if number and 0.0 < value < 1.0 else "is a confidence level and must lie strictly between 0 and 1"
    if param.type is COUNT:
        return None if isinstance(value, int) and not isinstance(value, bool) and value >= 1 \
            else "must be a positive integer"
    if param.type is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if param.type is list:
        return None if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value) \
            else "must be a non-empty list of field names"
    if not isinstance(value, param.type) or isinstance(value, bool):
        return "must be " + " or ".join(_NAMES.get(t, f"a {t.__name__}") for t in _types(param.type))
    if param.choices is not None and value not in param.choices:
        return f"must be one of {', '.join(param.choices)}"
    return None
