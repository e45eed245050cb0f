"""`type: perplexity` tasks: every item is a document (the rendered `text:` template), scored with
the backend's rolling log-likelihood (lm-eval `loglikelihood_rolling`: the whole text, over
windows of the model's maximum length, the first token conditioned on the prefix token).

Each document keeps (LL, words, bytes) with lm-eval's counts (`stats/perplexity.py`); the task and
each group get word perplexity, byte perplexity and bits per byte as ratios of sums.
"""

from __future__ import annotations

import re

import numpy as np

from ..backends.base import Backend, Progress
from .outcome import ItemOutcome, TaskOutcome
from ..stats.perplexity import summary
from ..tasks.instance import PreparedTask

_WHITESPACE = re.compile(r"\s+")


def document_counts(text: str) -> tuple[int, int]:
    """(words, bytes) of a document, as lm-eval counts them (`re.split(r"\\s+", doc)`, UTF-8)."""
    return len(_WHITESPACE.split(text)), len(text.encode("utf-8"))


def score_documents(task: PreparedTask, backend: Backend, progress: Progress | None = None) -> list[ItemOutcome]:
    """One outcome per document: `document = (rolling log-likelihood, words, bytes)`."""
    texts = [inst.prompt for inst in task.instances]
    lls = backend.loglikelihood_rolling(texts, progress=progress)
    if len(lls) != len(texts):
        raise RuntimeError(f"the backend returned {len(lls)} rolling log-likelihoods for {len(texts)} documents")
    return [ItemOutcome(inst.index, "", None, False, document=(float(ll), *document_counts(text)))
            for inst, text, ll in zip(task.instances, texts, lls)]


def document_arrays(outcome: TaskOutcome) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(LL, words, bytes) per document of a perplexity task, as arrays."""
    docs = [item.document for item in outcome.items]
    if any(d is None for d in docs):
        raise ValueError(f"task '{outcome.task.spec.name}' is not a perplexity task")
    ll, words, bytes_ = (np.array(col) for col in zip(*docs)) if docs else (np.zeros(0),) * 3
    return ll.astype(np.float64), words.astype(np.int64), bytes_.astype(np.int64)


def task_perplexity(outcome: TaskOutcome) -> dict[str, float]:
    """`{"n", "word_perplexity", "byte_perplexity", "bits_per_byte"}` over the task's documents."""
    return summary(*document_arrays(outcome))


def group_perplexity(outcome: TaskOutcome, by: str) -> dict[str, dict[str, float]]:
    """The same per group of `by`, in order of first appearance."""
    ll, words, bytes_ = document_arrays(outcome)
    labels = np.array(outcome.task.group_values(by), dtype=object)
    return {g: summary(ll[labels == g], words[labels == g], bytes_[labels == g]) for g in dict.fromkeys(labels)}
