"""Validation helpers shared by the suite parser, and the parsing of `checks:` and their parameters.

Every problem is a `SuiteError` naming the file, line, task and key, with a fix where one is clear.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from ..errors import SuiteError
from .model import _COUNT, _LEVEL, _NONNEG, _RATE, CHECK_PARAMS, SUITE_CHECK_PARAMS, CheckSpec, Param
from .yamlio import YamlList, YamlMap


class _Ctx:
    """Where we are in the file, to build errors."""

    def __init__(self, path: Path, task: str | None = None) -> None:
        self.path = path
        self.task = task

    def error(self, message: str, *, key: str | None = None, line: int | None = None,
              fix: str | None = None) -> SuiteError:
        return SuiteError(message, path=self.path, line=line, task=self.task, key=key, fix=fix)


def _line(node: Any, key: str | None = None) -> int | None:
    if isinstance(node, YamlMap):
        return node.line_of(key) if key is not None else node.line
    if isinstance(node, YamlList):
        return node.line
    return None


def _check_keys(ctx: _Ctx, node: YamlMap, allowed: set[str], where: str) -> None:
    for key in node:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(sorted(allowed))}"
            raise ctx.error(f"unknown key '{key}' in {where}", key=str(key), line=node.line_of(key),
                            fix=hint)


def _require_map(ctx: _Ctx, node: Any, key: str, line: int | None) -> YamlMap:
    if not isinstance(node, dict):
        raise ctx.error(f"must be a mapping, got {type(node).__name__}", key=key, line=line)
    return node


def _require_str(ctx: _Ctx, node: YamlMap, key: str, *, required: bool = True) -> str | None:
    if key not in node:
        if required:
            raise ctx.error(f"missing required key '{key}'", key=key, line=node.line,
                            fix=f"add `{key}: ...`")
        return None
    value = node[key]
    if not isinstance(value, str) or (required and not value.strip()):
        raise ctx.error(f"must be a non-empty string, got {value!r}", key=key, line=node.line_of(key))
    return value


def _str_list(ctx: _Ctx, node: YamlMap, key: str) -> list[str]:
    value = node.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ctx.error("must be a list of strings", key=key, line=node.line_of(key))
    return list(value)


def _parse_checks(ctx: _Ctx, node: YamlMap, schemas: dict[str, dict[str, Param]], what: str) -> list[CheckSpec]:
    raw = node.get("checks", [])
    if not isinstance(raw, list):
        raise ctx.error(f"{what} must be a list like `- {next(iter(schemas))}: {{...}}`", key="checks",
                        line=node.line_of("checks"))
    return [_parse_check(ctx, entry, raw.line_of(i), i, schemas, what) for i, entry in enumerate(raw)]


def _parse_check(ctx: _Ctx, entry: Any, line: int | None, index: int, schemas: dict[str, dict[str, Param]],
                 what: str) -> CheckSpec:
    where = f"checks[{index}]"
    if isinstance(entry, str):
        entry = YamlMap({entry: YamlMap()})
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ctx.error("each check is a one-key mapping such as `- gap: {by: region, max: 0.3}`",
                        key=where, line=line)
    (kind, params), = entry.items()
    if kind not in schemas:
        other = SUITE_CHECK_PARAMS if schemas is CHECK_PARAMS else CHECK_PARAMS
        close = difflib.get_close_matches(str(kind), sorted(schemas), n=1)
        fix = (f"'{kind}' belongs in the {'suite' if schemas is CHECK_PARAMS else 'task'}-level `checks:`"
               if kind in other else f"did you mean '{close[0]}'?" if close
               else f"{what}: {', '.join(sorted(schemas))}")
        raise ctx.error(f"unknown check '{kind}' in {what}", key=where, line=line, fix=fix)
    if params is None:
        params = YamlMap()
    if not isinstance(params, dict):
        raise ctx.error(f"parameters of '{kind}' must be a mapping, got {params!r}", key=where, line=line)
    schema = schemas[kind]
    for key, value in params.items():
        if key not in schema:
            close = difflib.get_close_matches(str(key), sorted(schema), n=1)
            raise ctx.error(f"unknown parameter '{key}' for check '{kind}'", key=f"{where}.{kind}.{key}",
                            line=_line(params, key) or line,
                            fix=f"did you mean '{close[0]}'?" if close else f"'{kind}' takes: {', '.join(sorted(schema))}")
        problem = _param_problem(schema[key], value)
        if problem:
            raise ctx.error(f"parameter '{key}' {problem}, got {value!r}", key=f"{where}.{kind}.{key}",
                            line=_line(params, key) or line)
    for key, param in schema.items():
        if param.required and key not in params:
            raise ctx.error(f"check '{kind}' needs '{key}' ({param.help})", key=f"{where}.{kind}", line=line,
                            fix=f"add `{key}: ...`")
    if "max_flip_rate" in params and not params.get("paired"):
        raise ctx.error("`max_flip_rate` needs counterfactual pairs", key=f"{where}.{kind}.max_flip_rate",
                        line=_line(params, "max_flip_rate") or line, fix="add `paired: true` (and `pair: FIELD`)")
    low, high = params.get("min"), params.get("max")
    if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low > high:
        raise ctx.error(f"contradictory thresholds: min {low} is above max {high}, so no result can pass",
                        key=f"{where}.{kind}", line=_line(params, "min") or line,
                        fix=f"swap them (`{{min: {high}, max: {low}}}`), or keep only one")
    if kind == "accuracy" and not ({"min", "max"} & set(params)):
        raise ctx.error("check 'accuracy' needs `min` and/or `max`", key=f"{where}.accuracy", line=line,
                        fix="e.g. `- accuracy: {min: 0.5}`")
    _likelihood_rules(ctx, kind, params, f"{where}.{kind}", line)
    return CheckSpec(kind=kind, params=dict(params), line=line)


LIKELIHOOD_CHECKS = ("likelihood_gap", "preference", "calibration")  # need log-likelihoods: multiple choice


def _likelihood_rules(ctx: _Ctx, kind: str, params: Any, where: str, line: int | None) -> None:
    """Cross-parameter rules of likelihood_gap and calibration (checks/likelihood.py, calibration.py)."""
    if kind == "likelihood_gap" and params.get("statistic", "signed") not in ("signed", "absolute"):
        raise ctx.error(f"unknown statistic {params['statistic']!r} for 'likelihood_gap'", key=f"{where}.statistic",
                        line=_line(params, "statistic") or line,
                        fix="use `statistic: signed` (|mean change|, the default) or `statistic: absolute` "
                            "(mean |change|)")
    if kind == "likelihood_gap" and params.get("measure", "loglik") not in ("loglik", "choice"):
        raise ctx.error(f"unknown measure {params['measure']!r} for 'likelihood_gap'", key=f"{where}.measure",
                        line=_line(params, "measure") or line,
                        fix="use `measure: loglik` (the gold choice's log-likelihood, the default) or "
                            "`measure: choice` (its log-probability among the choices)")
    if kind == "calibration" and not {"max_ece", "max_gap"} & set(params):
        raise ctx.error("check 'calibration' needs `max_ece` and/or `max_gap`", key=where, line=line,
                        fix="e.g. `- calibration: {max_ece: 0.1}`")
    if kind == "calibration" and "max_gap" in params and "by" not in params:
        raise ctx.error("`max_gap` compares groups: it needs `by`", key=f"{where}.max_gap",
                        line=_line(params, "max_gap") or line, fix="add `by: FIELD` naming the groups")


def check_needs_choices(ctx: _Ctx, checks: list[CheckSpec], is_generation: bool) -> None:
    """likelihood checks read per-choice log-likelihoods: a free-form task has none."""
    for check in checks:
        if is_generation and check.kind in LIKELIHOOD_CHECKS:
            raise ctx.error(f"check '{check.kind}' needs log-likelihoods: it applies to multiple-choice tasks",
                            key=check.kind, line=check.line, fix="remove `generate:` or move the check to a "
                                                                 "multiple-choice task (with `choices:`)")


def _param_problem(param: Param, value: Any) -> str | None:
    """Why `value` does not fit `param`, or None."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if param.type is _RATE:
        return None if number and 0.0 <= value <= 1.0 else "is a rate and must be a number in [0, 1]"
    if param.type is _NONNEG:
        return None if number and 0.0 <= value < float("inf") else "must be a number >= 0"
    if param.type is _LEVEL:
        return None if number and 0.0 < value < 1.0 else "is a confidence level and must lie strictly between 0 and 1"
    if param.type is _COUNT:
        return None if isinstance(value, int) and not isinstance(value, bool) and value >= 1 \
            else "must be a positive integer"
    if param.type is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if param.type is list:
        return None if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value) \
            else "must be a non-empty list of field names"
    return None if isinstance(value, param.type) and not isinstance(value, bool) else "must be a string"
