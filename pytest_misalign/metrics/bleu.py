"""BLEU (Papineni et al. 2002) as sacrebleu computes it (Post 2018), on a 0-1 scale (sacrebleu / 100).

Item scores are sacrebleu's `sentence_bleu` (exponential smoothing, effective order); the task
value is sacrebleu's `corpus_bleu` (no smoothing) -- the standard BLEU, which is not the mean of
sentence BLEUs. Intervals resample items and recompute corpus BLEU from the items' summed n-gram
statistics, as sacrebleu's own paired bootstrap does (`_extract_corpus_statistics`,
`_compute_score_from_stats`).
"""

from __future__ import annotations

from ._sacrebleu import SacrebleuMetric

NAME = "bleu"
LABEL = "BLEU"
CORPUS = True  # the task value is corpus BLEU
REFERENCE = "Papineni et al. (2002); sacrebleu (Post 2018) corpus_bleu / sentence_bleu, divided by 100"

_SACREBLEU = SacrebleuMetric("BLEU", "sentence_bleu")
sentence_score = _SACREBLEU.sentence_score
item_stats = _SACREBLEU.item_stats  # statistics (n, 10): matches and totals for 1..4-grams, hypothesis and reference length
from_stats = _SACREBLEU.from_stats
