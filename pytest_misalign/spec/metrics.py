"""A task's `metric:`: how a multiple-choice task picks its answer (acc, acc_norm, acc_pmi), or the
generation metric of a free-form task (token_f1, bleu, chrf, rouge_l; `metrics/`). The checks that read
a metric (`score`, `score_gap`) state their own rules (`checks/score.py`)."""

from __future__ import annotations

from typing import Any

from .model import GENERATION_METRICS, METRICS, GenerateSpec


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
