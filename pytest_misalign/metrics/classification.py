"""Precision, recall and F1 per class and their macro averages, for multiple-choice tasks read as
classifiers: an item's class is its gold choice (text, or position with `class_of: index`), the
predicted class the chosen one.

Point values come from scikit-learn's `precision_recall_fscore_support` with the classes fixed to
every class that occurs as gold or prediction on the task, and `zero_division=0` (a class never
predicted has precision 0). Macro-F1 is sklearn's: the unweighted mean of the per-class F1s.
Bootstrap resamples recompute the same quantities from resampled confusion matrices
(`prf_from_confusion`, vectorised; the tests hold it equal to sklearn).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

MEASURES = ("precision", "recall", "f1")
AVERAGES = ("macro", "per_class")
REFERENCE = "scikit-learn precision_recall_fscore_support / f1_score (zero_division=0)"


def class_labels(gold: Sequence[str], pred: Sequence[str]) -> list[str]:
    """Gold classes first (sorted), then classes only ever predicted (sorted)."""
    gold_set = sorted(set(gold))
    return gold_set + sorted(set(pred) - set(gold_set))


def report(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """{class: {precision, recall, f1, support}} from scikit-learn."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(list(gold), list(pred), labels=list(labels), zero_division=0)
    return {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, c in enumerate(labels)}


def confusion_stats(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """(n, k*k) one-hot rows: item i adds 1 to cell (gold class, predicted class) of a k x k matrix."""
    index = {c: i for i, c in enumerate(labels)}
    k = len(labels)
    rows = np.zeros((len(gold), k * k), dtype=np.float64)
    cells = [index[g] * k + index[p] for g, p in zip(gold, pred)]
    rows[np.arange(len(gold)), cells] = 1.0
    return rows


def prf_from_confusion(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 of (..., k, k) confusion matrices (rows gold, columns
    predicted), with 0 where a denominator is 0 (sklearn's zero_division=0)."""
    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    predicted, actual = confusion.sum(axis=-2), confusion.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(predicted + actual > 0, 2 * tp / (predicted + actual), 0.0)
    return {"precision": precision, "recall": recall, "f1": f1}


def select(per_class: np.ndarray, average: str, label_index: int | None) -> np.ndarray:
    """(..., k) per-class values -> (...): one class, the macro mean, or the worst class."""
    if label_index is not None:
        return per_class[..., label_index]
    return per_class.mean(axis=-1) if average == "macro" else per_class.min(axis=-1)


def value_from_stats(summed: np.ndarray, k: int, measure: str, average: str, label_index: int | None) -> np.ndarray:
    """(r, k*k) summed confusion rows -> (r,) values of the chosen measure."""
    confusion = np.atleast_2d(summed).reshape(-1, k, k)
    return select(prf_from_confusion(confusion)[measure], average, label_index)
