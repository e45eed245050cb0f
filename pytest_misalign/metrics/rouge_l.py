"""ROUGE-L F-measure (Lin 2004) of `rouge-score` (Google's reference implementation): the longest
common subsequence of tokens, with the package's default tokenizer (lowercase, non-alphanumerics
dropped) and no stemming. The task value is the mean over items (as `rouge-score` aggregates).
"""

from __future__ import annotations

from functools import lru_cache

NAME = "rouge_l"
LABEL = "ROUGE-L"
CORPUS = False
REFERENCE = "Lin (2004), ROUGE; rouge-score RougeScorer(['rougeL']).fmeasure"


@lru_cache(maxsize=1)
def _scorer():
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer(["rougeL"], use_stemmer=False)


def sentence_score(prediction: str, reference: str) -> float:
    return float(_scorer().score(reference, prediction)["rougeL"].fmeasure)
