"""Parse one multiple-choice or free-form task's keys (after its name and data): prompt, answer,
choices or `generate`, scoring keys, regression and checks. Perplexity tasks: `perplexity.py`."""

from __future__ import annotations

from typing import Any

from .checks import parse_checks
from .context import Ctx, check_keys, require_map, require_str, str_list
from .kinds import Kinds
from .metrics import parse_metric
from .model import (
    ANSWER_TYPES,
    GENERATE_KEYS,
    MATCHES,
    REGRESSION_KEYS,
    DataSpec,
    GenerateSpec,
    RegressionSpec,
    TaskSpec,
)
from .params import COUNT, LEVEL, RATE, Param, param_problem
from .yamlio import YamlMap


def parse_task_body(ctx: Ctx, node: YamlMap, name: str, data: DataSpec, kinds: Kinds) -> TaskSpec:
    prompt = require_str(ctx, node, "prompt")
    generate = _parse_generate(ctx, node)
    answer, answer_type = _parse_answer(ctx, node, generate)
    choices = _parse_choices(ctx, node, generate)
    same_answer = _parse_same_answer(ctx, node, generate)
    metric = parse_metric(ctx, node, generate)  # acc, acc_norm, ...; or a generation metric (spec_metrics)
    match, delimiter, chat, unconditional = _scoring_keys(ctx, node, generate, metric)
    cluster = require_str(ctx, node, "cluster", required=False)
    regression = _parse_regression(ctx, node)
    checks = parse_checks(ctx, node, kinds, "task", "task checks")
    return TaskSpec(
        name=name, data=data, prompt=prompt, answer=str(answer), choices=choices, metric=metric,
        delimiter=delimiter, generate=generate, match=match, checks=checks,
        markers=str_list(ctx, node, "markers"), description=str(node.get("description") or ""),
        cluster=cluster, chat=chat, regression=regression, line=node.line, answer_type=answer_type,
        unconditional=unconditional, same_answer=same_answer,
    )


def _parse_answer(ctx: Ctx, node: YamlMap, generate: GenerateSpec | None) -> tuple[str | int, str]:
    answer = node.get("answer")
    if answer is None:
        raise ctx.error("missing required key 'answer'", key="answer", line=node.line,
                        fix='add e.g. `answer: "{label}"` (the right choice\'s text, or its 0-based index)')
    if not isinstance(answer, (str, int)) or isinstance(answer, bool):
        raise ctx.error(f"must be a template string, got {answer!r}", key="answer", line=node.line_of("answer"))
    answer_type = node.get("answer_type", "auto")
    if answer_type not in ANSWER_TYPES:
        raise ctx.error(f"unknown answer_type {answer_type!r}", key="answer_type", line=node.line_of("answer_type"),
                        fix="use `index` (answers are 0-based choice indices), `text` (answers are choice texts) "
                            "or `auto` (the default)")
    if "answer_type" in node and generate is not None:
        raise ctx.error("`answer_type` applies to multiple-choice tasks", key="answer_type",
                        line=node.line_of("answer_type"), fix="remove `answer_type` from this free-form task")
    return answer, answer_type


def _scoring_keys(ctx: Ctx, node: YamlMap, generate: GenerateSpec | None, metric: str) -> tuple[str, str, bool, str]:
    """`match`, `delimiter`, `chat` and `unconditional`, each checked against the task's kind."""
    match = node.get("match", "exact")
    if match not in MATCHES:
        raise ctx.error(f"unknown match {match!r}", key="match", line=node.line_of("match"),
                        fix=f"use one of: {', '.join(MATCHES)}")
    if "match" in node and generate is None:
        raise ctx.error("`match` only applies to free-form tasks", key="match", line=node.line_of("match"),
                        fix="add `generate: {max_tokens: 32}` or remove `match`")
    delimiter = node.get("delimiter", " ")
    if not isinstance(delimiter, str):
        raise ctx.error("must be a string", key="delimiter", line=node.line_of("delimiter"))
    chat = node.get("chat", False)
    if not isinstance(chat, bool):
        raise ctx.error(f"must be true or false, got {chat!r}", key="chat", line=node.line_of("chat"))
    unconditional = node.get("unconditional", "")
    if not isinstance(unconditional, str) or ("unconditional" in node and metric != "acc_pmi"):
        raise ctx.error("`unconditional` is the context of `metric: acc_pmi` and must be a string",
                        key="unconditional", line=node.line_of("unconditional"),
                        fix='e.g. `metric: acc_pmi` with `unconditional: "Answer:"` (default: empty, as lm-eval)')
    return match, delimiter, chat, unconditional


def _parse_regression(ctx: Ctx, node: YamlMap) -> RegressionSpec:
    if "regression" not in node:
        return RegressionSpec()
    reg = require_map(ctx, node["regression"], "regression", node.line_of("regression"))
    check_keys(ctx, reg, REGRESSION_KEYS, "regression")
    example = "e.g. `regression: {max_drop: 0.02, by: region, max_broken: 0.05}`"
    values: dict[str, Any] = {}
    for key, param in (("max_drop", Param(RATE)), ("confidence", Param(LEVEL)), ("min_n", Param(COUNT)),
                       ("by", Param(str))):
        if key in reg:
            problem = param_problem(param, reg[key])
            if problem:
                raise ctx.error(f"{problem}, got {reg[key]!r}", key=f"regression.{key}", line=reg.line_of(key),
                                fix=example)
            values[key] = reg[key]
    if "max_broken" in reg:
        value = reg["max_broken"]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
            (isinstance(value, int) and value >= 0) or (isinstance(value, float) and 0.0 <= value < 1.0))
        if not ok:
            raise ctx.error(f"must be a count of items (an integer >= 0) or a share (a number in [0, 1)), "
                            f"got {value!r}", key="regression.max_broken", line=reg.line_of("max_broken"),
                            fix="e.g. `max_broken: 3` (items) or `max_broken: 0.05` (share of shared items)")
        values["max_broken"] = value
    if "max_drop" in values:
        values["max_drop"] = float(values["max_drop"])
    return RegressionSpec(**values)


def _parse_generate(ctx: Ctx, node: YamlMap) -> GenerateSpec | None:
    if "generate" not in node:
        return None
    gen = node["generate"]
    if gen is True or gen is None:
        gen = YamlMap()
    gen = require_map(ctx, gen, "generate", node.line_of("generate"))
    check_keys(ctx, gen, GENERATE_KEYS, "generate")
    max_tokens = gen.get("max_tokens", 32)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ctx.error(f"must be a positive integer, got {max_tokens!r}", key="generate.max_tokens",
                        line=gen.line_of("max_tokens"))
    stop = gen.get("stop", [])
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise ctx.error("must be a list of non-empty strings", key="generate.stop", line=gen.line_of("stop"))
    return GenerateSpec(max_tokens=max_tokens, stop=tuple(stop))


def _parse_same_answer(ctx: Ctx, node: YamlMap, generate: GenerateSpec | None) -> tuple[str, ...]:
    """`same_answer: [texts]`: choice texts that are one answer (BBQ's "unknown" options)."""
    if "same_answer" not in node:
        return ()
    value, line = node["same_answer"], node.line_of("same_answer")
    if generate is not None:
        raise ctx.error("`same_answer` merges the choices of a multiple-choice task", key="same_answer", line=line,
                        fix="remove `same_answer` from this free-form task")
    if (not isinstance(value, list) or len(value) < 2 or not all(isinstance(v, str) and v for v in value)
            or len(set(value)) != len(value)):
        raise ctx.error("must be a list of at least two different, non-empty texts", key="same_answer", line=line,
                        fix='e.g. `same_answer: ["Unknown", "Cannot be determined", "Not enough info"]`')
    return tuple(value)


def _parse_choices(ctx: Ctx, node: YamlMap, generate: GenerateSpec | None) -> list[str] | str | None:
    if generate is not None:
        if "choices" in node:
            raise ctx.error("a free-form (`generate`) task takes no `choices`", key="choices",
                            line=node.line_of("choices"), fix="remove `choices`, or remove `generate`")
        return None
    if "choices" not in node:
        raise ctx.error("missing required key 'choices'", key="choices", line=node.line,
                        fix='add `choices: ["{a}", "{b}"]` (templates) or `choices: field_name`, '
                            "or `generate: {...}` for a free-form task")
    choices = node["choices"]
    if isinstance(choices, str):
        return choices
    if (not isinstance(choices, list) or len(choices) < 2
            or not all(isinstance(c, (str, int, float)) and not isinstance(c, bool) for c in choices)):
        raise ctx.error("must be a list of at least two template strings, or the name of a field holding a list",
                        key="choices", line=node.line_of("choices"))
    return [str(c) for c in choices]
