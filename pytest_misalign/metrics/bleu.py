"""BLEU (Papineni et al. 2002) as sacrebleu computes it (Post 2018), on a 0-1 scale (sacrebleu / 100).

Item scores are sacrebleu's `sentence_bleu` (exponential smoothing, effective order); the task
value is sacrebleu's `corpus_bleu` (no smoothing) -- the standard BLEU, which is not the mean of
sentence BLEUs. Intervals resample items and recompute corpus BLEU from the items' summed n-gram
statistics, as sacrebleu's own paired bootstrap does (`_extract_corpus_statistics`,
`_compute_score_from_stats`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

NAME = "bleu"
LABEL = "BLEU"
CORPUS = True  # the task value is corpus BLEU
REFERENCE = "Papineni et al. (2002); sacrebleu (Post 2018) corpus_bleu / sentence_bleu, divided by 100"


@lru_cache(maxsize=1)
def _metric():
    from sacrebleu.metrics import BLEU

    return BLEU()


def sentence_score(prediction: str, reference: str) -> float:
    import sacrebleu

    return sacrebleu.sentence_bleu(prediction, [reference]).score / 100


def item_stats(predictions: list[str], references: list[str]) -> np.ndarray:
    """(n, 10) sufficient statistics: matches and totals for 1..4-grams, hypothesis and reference length."""
    return np.asarray(_metric()._extract_corpus_statistics(list(predictions), [list(references)]), dtype=np.int64)


def from_stats(summed: np.ndarray) -> np.ndarray:
    """Corpus BLEU (0-1) of each row of summed statistics."""
    metric = _metric()
    return np.array([metric._compute_score_from_stats([int(v) for v in row]).score / 100
                     for row in np.atleast_2d(summed)])
