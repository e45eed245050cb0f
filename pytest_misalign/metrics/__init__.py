"""Generation and classification metrics, one small module each, on a 0-1 scale.

Free-form tasks (`generate:`) with `metric: token_f1 | bleu | chrf | rouge_l` get a score per item
(`ItemOutcome.score`) and a task value:

| metric     | item score                         | task value                         | library            |
|------------|------------------------------------|------------------------------------|--------------------|
| `token_f1` | SQuAD v1.1 token F1                | mean of item scores                | (the formula)      |
| `bleu`     | `sacrebleu.sentence_bleu` / 100    | `sacrebleu.corpus_bleu` / 100      | sacrebleu          |
| `chrf`     | `sacrebleu.sentence_chrf` / 100    | `sacrebleu.corpus_chrf` / 100      | sacrebleu          |
| `rouge_l`  | rouge-score ROUGE-L F-measure      | mean of item scores                | rouge-score        |

Every metric is also written as additive per-item sufficient statistics (`item_stats`, an (n, d)
array) and a function of their sum (`value_from_stats`), so a bootstrap resamples items (or
clusters) by summing rows: for a mean the statistics are (score, 1); for corpus BLEU and chrF they
are sacrebleu's own n-gram counts. `classification` holds precision / recall / F1 for
multiple-choice tasks read as classifiers; `mc2` TruthfulQA's MC2 score of a multiple-choice item;
`bootstrap` the resampling.
"""

from __future__ import annotations

from types import ModuleType
from typing import Sequence

import numpy as np

from . import bleu, chrf, mc2, rouge_l, token_f1

GENERATION_METRICS: dict[str, ModuleType] = {m.NAME: m for m in (token_f1, bleu, chrf, rouge_l)}
CHOICE_METRICS: dict[str, ModuleType] = {m.NAME: m for m in (mc2,)}  # a score per multiple-choice item
SCORED_METRICS: dict[str, ModuleType] = {**GENERATION_METRICS, **CHOICE_METRICS}


def get(metric: str) -> ModuleType:
    try:
        return SCORED_METRICS[metric]
    except KeyError:
        raise ValueError(f"unknown scored metric {metric!r}; known: {', '.join(SCORED_METRICS)}") from None


def item_scores(metric: str, predictions: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """Each item's score in [0, 1] (sentence-level for BLEU and chrF)."""
    module = get(metric)
    return np.array([module.sentence_score(p, r) for p, r in zip(predictions, references)], dtype=np.float64)


def item_stats(metric: str, predictions: Sequence[str], references: Sequence[str],
               scores: np.ndarray | None = None) -> np.ndarray:
    """(n, d) additive statistics whose column sums determine the task value (`value_from_stats`)."""
    module = get(metric)
    if module.CORPUS:
        return module.item_stats(list(predictions), list(references)).astype(np.float64)
    if scores is None:
        scores = item_scores(metric, predictions, references)
    return np.column_stack([np.asarray(scores, dtype=np.float64), np.ones(len(scores))])


def value_from_stats(metric: str, summed: np.ndarray) -> np.ndarray:
    """The task value of each row of summed statistics, shape (r, d) -> (r,)."""
    summed = np.atleast_2d(summed)
    module = get(metric)
    if module.CORPUS:
        return module.from_stats(summed)
    with np.errstate(invalid="ignore", divide="ignore"):
        return summed[:, 0] / summed[:, 1]


def task_value(metric: str, predictions: Sequence[str], references: Sequence[str],
               scores: np.ndarray | None = None) -> float:
    """Corpus BLEU / chrF, or the mean item score (token F1, ROUGE-L); NaN for no items."""
    if not len(predictions):
        return float("nan")
    stats_ = item_stats(metric, predictions, references, scores)
    return float(value_from_stats(metric, stats_.sum(axis=0))[0])


__all__ = ["CHOICE_METRICS", "GENERATION_METRICS", "SCORED_METRICS", "generation_scores", "get", "item_scores", "item_stats", "task_value", "value_from_stats"]


def generation_scores(metric: str, outputs: Sequence[str], references: Sequence[str]) -> list[float | None]:
    """Per-item scores for `scoring`: None for every item when `metric` is not a generation metric."""
    if metric not in GENERATION_METRICS:
        return [None] * len(outputs)
    return [float(s) for s in item_scores(metric, outputs, references)]
