"""chrF (Popovic 2015) as sacrebleu computes it (character 6-grams, beta 2, no word n-grams), on a
0-1 scale (sacrebleu / 100).

Item scores are sacrebleu's `sentence_chrf`; the task value is `corpus_chrf`, computed from the
items' summed character n-gram statistics (sacrebleu's definition), which intervals resample.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

NAME = "chrf"
LABEL = "chrF"
CORPUS = True
REFERENCE = "Popovic (2015), chrF; sacrebleu corpus_chrf / sentence_chrf, divided by 100"


@lru_cache(maxsize=1)
def _metric():
    from sacrebleu.metrics import CHRF

    return CHRF()


def sentence_score(prediction: str, reference: str) -> float:
    import sacrebleu

    return sacrebleu.sentence_chrf(prediction, [reference]).score / 100


def item_stats(predictions: list[str], references: list[str]) -> np.ndarray:
    """(n, 18) sufficient statistics: per character n-gram order, hypothesis, reference and match counts."""
    return np.asarray(_metric()._extract_corpus_statistics(list(predictions), [list(references)]), dtype=np.int64)


def from_stats(summed: np.ndarray) -> np.ndarray:
    metric = _metric()
    return np.array([metric._compute_score_from_stats([int(v) for v in row]).score / 100
                     for row in np.atleast_2d(summed)])
