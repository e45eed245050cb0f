"""`type:` of a task, and the parsing of `type: perplexity` tasks and of perplexity checks.

A perplexity task scores documents, not answers:

    - name: domain-texts
      type: perplexity
      data: {file: data/domain_texts.jsonl}
      text: "{text}"                 # a template, like `prompt:`
      checks:
        - perplexity_ratio: {by: domain, max: 1.3}

It takes `text` instead of `prompt`, and none of the multiple-choice / free-form keys; only the
perplexity checks apply to it, and they apply to nothing else.
"""

from __future__ import annotations

from typing import Any

from .model import CHECK_PARAMS, TaskSpec
from .checks import _Ctx, _parse_checks, _require_str, _str_list
from ..stats.perplexity import UNITS
from .yamlio import YamlMap

TASK_TYPES = ("multiple_choice", "generation", "perplexity")
PERPLEXITY_CHECKS = ("perplexity", "perplexity_ratio")
# keys of answer-scored tasks, meaningless for a document
_NOT_FOR_DOCUMENTS = ("prompt", "choices", "answer", "generate", "metric", "match", "delimiter", "answer_type",
                      "chat", "unconditional", "regression")


def parse_task_type(ctx: _Ctx, node: YamlMap) -> str:
    """The task's `type:` (default: generation with `generate:`, else multiple_choice), checked."""
    default = "generation" if "generate" in node else "multiple_choice"
    kind = node.get("type", default)
    line = node.line_of("type")
    if kind not in TASK_TYPES:
        raise ctx.error(f"unknown task type {kind!r}", key="type", line=line,
                        fix=f"use one of: {', '.join(TASK_TYPES)} (default: multiple_choice, or generation "
                            "when `generate:` is set)")
    if kind == "generation" and "generate" not in node:
        raise ctx.error("`type: generation` needs `generate:`", key="type", line=line,
                        fix="add `generate: {max_tokens: 32}` (or remove `type:`)")
    if kind == "multiple_choice" and "generate" in node:
        raise ctx.error("`type: multiple_choice` takes no `generate:`", key="generate",
                        line=node.line_of("generate"), fix="remove `generate:`, or `type:` (generation)")
    if kind != "perplexity" and "text" in node:
        raise ctx.error("`text` is the document of a `type: perplexity` task", key="text", line=node.line_of("text"),
                        fix="add `type: perplexity`, or use `prompt:` for a task with answers")
    return kind


def parse_perplexity_task(ctx: _Ctx, node: YamlMap, name: str, data: Any) -> TaskSpec:
    for key in _NOT_FOR_DOCUMENTS:
        if key in node:
            raise ctx.error(f"a `type: perplexity` task takes no `{key}`: it scores whole documents, not answers",
                            key=key, line=node.line_of(key),
                            fix=f"remove `{key}`; the document is the `text:` template"
                                + (" (write `text:` instead of `prompt:`)" if key == "prompt" else ""))
    if "text" not in node:
        raise ctx.error("a `type: perplexity` task needs `text`", key="text", line=node.line,
                        fix='add e.g. `text: "{text}"` (a template over the item fields)')
    text = _require_str(ctx, node, "text")
    checks = _parse_checks(ctx, node, CHECK_PARAMS, "task checks")
    for check in checks:
        if check.kind not in PERPLEXITY_CHECKS:
            raise ctx.error(f"check '{check.kind}' is about answers, but a `type: perplexity` task has none",
                            key=check.kind, line=check.line,
                            fix="use `perplexity: {max: ...}` or `perplexity_ratio: {by: FIELD, max: ...}`")
        _perplexity_params(ctx, check.kind, check.params, check.line)
    return TaskSpec(name=name, data=data, prompt="", answer="", checks=checks, type="perplexity", text=text,
                    markers=_str_list(ctx, node, "markers"), description=str(node.get("description") or ""),
                    cluster=_require_str(ctx, node, "cluster", required=False), line=node.line)


def _perplexity_params(ctx: _Ctx, kind: str, params: dict, line: int | None) -> None:
    unit = params.get("unit", "word")
    if unit not in UNITS:
        raise ctx.error(f"unknown perplexity unit {unit!r}", key=f"{kind}.unit", line=line,
                        fix=f"use one of: {', '.join(UNITS)}")
    if kind == "perplexity" and params["max"] <= 0:
        raise ctx.error(f"a perplexity is positive: `max: {params['max']}` can never pass", key=f"{kind}.max",
                        line=line, fix="give the largest perplexity you accept, e.g. `max: 40`")
    if kind == "perplexity_ratio" and params["max"] < 1:
        raise ctx.error(f"the worst group over the best is at least 1: `max: {params['max']}` can never pass",
                        key=f"{kind}.max", line=line, fix="e.g. `max: 1.3` (30% worse than the best group at most)")


def reject_perplexity_checks(ctx: _Ctx, checks: list) -> None:
    """Perplexity checks need documents: on any other task they are a suite error."""
    for check in checks:
        if check.kind in PERPLEXITY_CHECKS:
            raise ctx.error(f"check '{check.kind}' needs a `type: perplexity` task (documents with a `text:` "
                            "template)", key=check.kind, line=check.line,
                            fix="move it to a task with `type: perplexity` and `text: \"{field}\"`")


def reject_perplexity_tasks_in_suite_checks(ctx: _Ctx, checks: list, tasks: dict[str, TaskSpec]) -> None:
    """`shift` compares accuracies: it cannot name a perplexity task (`spread` leaves them out)."""
    answered = [t for t in tasks.values() if not t.is_perplexity]
    for check in checks:
        if check.kind == "spread" and len(answered) < 2:
            raise ctx.error("`spread` compares the accuracies of tasks with answers and needs two of them "
                            "(`type: perplexity` tasks are left out)", key="checks.spread", line=check.line)
        for key in ("from", "to"):
            task = tasks.get(check.params.get(key)) if check.kind == "shift" else None
            if task is not None and task.is_perplexity:
                raise ctx.error(f"shift compares accuracies, but '{task.name}' is a `type: perplexity` task",
                                key=f"checks.shift.{key}", line=check.line,
                                fix="name tasks that have answers; compare domains of documents with "
                                    "`perplexity_ratio` on the perplexity task")
