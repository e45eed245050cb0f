"""Small pieces of check-kind declarations that several kinds share: rules and shapes."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ..spec.kinds import Rule
from ..spec.model import CheckShape


def bound_rule(kind: str, example: str = "min: 0.5") -> Callable[[Mapping[str, Any]], Rule | None]:
    """The rule of a kind bounding one value: at least one of `min` and `max`."""
    def rule(params: Mapping[str, Any]) -> Rule | None:
        if {"min", "max"} & set(params):
            return None
        return Rule(f"check '{kind}' needs `min` and/or `max`", fix=f"e.g. `- {kind}: {{{example}}}`")

    return rule


def groups_shape(kind: str, params: Mapping[str, Any]) -> CheckShape:
    """A check over the groups of `by` on independent items: `by` may hold a list (an item in several
    groups), and the check is named `kind[by]`."""
    return CheckShape(label=f"{kind}[{params['by']}]", reads={"by": params["by"]}, list_ok=("by",))


def all_of(*rules: Callable[[Mapping[str, Any]], Rule | None]) -> Callable[[Mapping[str, Any]], Rule | None]:
    """The first broken rule of several."""
    def rule(params: Mapping[str, Any]) -> Rule | None:
        return next((r for r in (f(params) for f in rules) if r is not None), None)

    return rule


def plain_shape(kind: str, params: Mapping[str, Any]) -> CheckShape:
    """A check over the whole task, reading no item field of its own: named after its kind."""
    return CheckShape(label=kind)
