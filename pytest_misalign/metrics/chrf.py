"""chrF (Popovic 2015) as sacrebleu computes it (character 6-grams, beta 2, no word n-grams), on a
0-1 scale (sacrebleu / 100).

Item scores are sacrebleu's `sentence_chrf`; the task value is `corpus_chrf`, computed from the
items' summed character n-gram statistics (sacrebleu's definition), which intervals resample.
"""

from __future__ import annotations

from ._sacrebleu import SacrebleuMetric

NAME = "chrf"
LABEL = "chrF"
CORPUS = True
REFERENCE = "Popovic (2015), chrF; sacrebleu corpus_chrf / sentence_chrf, divided by 100"

_SACREBLEU = SacrebleuMetric("CHRF", "sentence_chrf")
sentence_score = _SACREBLEU.sentence_score
item_stats = _SACREBLEU.item_stats  # statistics (n, 18): per character n-gram order, hypothesis, reference and match counts
from_stats = _SACREBLEU.from_stats
