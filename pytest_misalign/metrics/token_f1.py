"""Token F1 of SQuAD v1.1 (Rajpurkar et al. 2016): the harmonic mean of token precision and recall
after the official evaluation script's normalisation (lowercase, drop punctuation, drop the
articles a/an/the, collapse whitespace). Two texts sharing no token -- an empty one included --
score 0, as in the v1.1 script. The task value is the mean over items (as SQuAD reports it).
"""

from __future__ import annotations

import re
import string
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)

NAME = "token_f1"
LABEL = "token F1"
CORPUS = False  # the task value is the mean of the item scores
REFERENCE = "SQuAD v1.1 official evaluation script (Rajpurkar et al. 2016), as in lm-eval's squad metrics"


def normalize_answer(text: str) -> str:
    """The SQuAD script's `normalize_answer`: lower, remove punctuation, articles, extra whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def sentence_score(prediction: str, reference: str) -> float:
    pred, gold = normalize_answer(prediction).split(), normalize_answer(reference).split()
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)
