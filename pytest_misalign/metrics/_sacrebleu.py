"""The part BLEU and chrF share: a sacrebleu metric on a 0-1 scale, per item and from summed statistics.

Intervals resample items and recompute the corpus score from the items' summed statistics, as
sacrebleu's own paired bootstrap does (`_extract_corpus_statistics`, `_compute_score_from_stats`;
private methods, hence the `sacrebleu<3` pin).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np


class SacrebleuMetric:
    def __init__(self, class_name: str, sentence_function: str) -> None:
        self.class_name, self.sentence_function = class_name, sentence_function

    @cached_property
    def metric(self):
        import sacrebleu.metrics

        return getattr(sacrebleu.metrics, self.class_name)()

    def sentence_score(self, prediction: str, reference: str) -> float:
        import sacrebleu

        return getattr(sacrebleu, self.sentence_function)(prediction, [reference]).score / 100

    def item_stats(self, predictions: list[str], references: list[str]) -> np.ndarray:
        """(n, d) additive sufficient statistics, one row per item."""
        stats = self.metric._extract_corpus_statistics(list(predictions), [list(references)])
        return np.asarray(stats, dtype=np.int64)

    def from_stats(self, summed: np.ndarray) -> np.ndarray:
        """The corpus score (0-1) of each row of summed statistics."""
        return np.array([self.metric._compute_score_from_stats([int(v) for v in row]).score / 100
                         for row in np.atleast_2d(summed)])
