"""Suite validation for generation metrics (`metric: token_f1 | bleu | chrf | rouge_l` on free-form
tasks) and the checks that read them (`score`, `score_gap`) or read a multiple-choice task as a
classifier (`precision`, `recall`, `f1` and their `_gap`s). Called from `spec_task.parse_task_body`."""

from __future__ import annotations

from typing import Any

from .model import GENERATION_METRICS, METRICS, CheckSpec, GenerateSpec

SCORE_CHECKS = ("score", "score_gap")
CLASS_CHECKS = ("precision", "recall", "f1", "precision_gap", "recall_gap", "f1_gap")
_CHOICES = {"average": ("macro", "per_class"), "class_of": ("text", "index")}


def parse_metric(ctx: Any, node: Any, generate: GenerateSpec | None) -> str:
    """The task's `metric:`: a multiple-choice metric (acc, acc_norm, ...) or, on a free-form task, a
    generation metric. Free-form tasks without one keep the default (no per-item score)."""
    metric = node.get("metric", "acc")
    line = node.line_of("metric")
    if metric not in METRICS and metric not in GENERATION_METRICS:
        raise ctx.error(f"unknown metric {metric!r}", key="metric", line=line,
                        fix=f"multiple choice: {', '.join(METRICS)}; free-form (`generate:`): "
                            f"{', '.join(GENERATION_METRICS)}")
    if metric in GENERATION_METRICS and generate is None:
        raise ctx.error(f"`metric: {metric}` scores generated text: this is a multiple-choice task",
                        key="metric", line=line,
                        fix=f"add `generate: {{max_tokens: 32}}` (and drop `choices`) to make it free-form, or use "
                            f"one of {', '.join(METRICS)}")
    if generate is not None and "metric" in node and metric in METRICS:
        raise ctx.error(f"`metric: {metric}` is a multiple-choice metric; a free-form task is judged right or "
                        "wrong by `match:`", key="metric", line=line,
                        fix=f"remove `metric`, or score the text with one of {', '.join(GENERATION_METRICS)}")
    return metric


def check_metric_checks(ctx: Any, checks: list[CheckSpec], metric: str, generate: GenerateSpec | None) -> None:
    """Each score / classification check fits the task; its enumerated parameters are known values."""
    for check in checks:
        where = f"checks.{check.kind}"
        if check.kind in SCORE_CHECKS and metric not in GENERATION_METRICS:
            raise ctx.error(f"check '{check.kind}' bounds a generation metric, and this task has none",
                            key=where, line=check.line,
                            fix=f"on a free-form task (`generate:`) add `metric:` one of {', '.join(GENERATION_METRICS)}"
                                + ("" if generate else "; on multiple choice use accuracy, or precision/recall/f1"))
        if check.kind == "score" and not ({"min", "max"} & set(check.params)):
            raise ctx.error("check 'score' needs `min` and/or `max`", key=where, line=check.line,
                            fix="e.g. `- score: {min: 0.5}`")
        if check.kind in CLASS_CHECKS:
            _check_class_check(ctx, check, where, generate)


def _check_class_check(ctx: Any, check: CheckSpec, where: str, generate: GenerateSpec | None) -> None:
    if generate is not None:
        raise ctx.error(f"check '{check.kind}' reads the chosen choice as a predicted class: it needs a "
                        "multiple-choice task", key=where, line=check.line,
                        fix="use `score` / `score_gap` with a generation `metric:` on free-form tasks")
    for key, allowed in _CHOICES.items():
        if key in check.params and check.params[key] not in allowed:
            raise ctx.error(f"parameter '{key}' must be one of {', '.join(allowed)}, got {check.params[key]!r}",
                            key=f"{where}.{key}", line=check.line)
    if "label" in check.params and "average" in check.params:
        raise ctx.error("give `label` (one class) or `average` (all classes), not both", key=where,
                        line=check.line, fix="remove `average`, or remove `label`")
    if not check.kind.endswith("_gap") and not ({"min", "max"} & set(check.params)):
        raise ctx.error(f"check '{check.kind}' needs `min` and/or `max`", key=where, line=check.line,
                        fix=f"e.g. `- {check.kind}: {{min: 0.6}}`")
