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
from .score import ItemOutcome, TaskOutcome
from ..stats.perplexity import summary
from ..tasks.prepare import PreparedTask

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


def _rounded(row: dict) -> dict:
    return {k: v if isinstance(v, int) else (None if v != v else round(float(v), 6)) for k, v in row.items()}


def perplexity_json(outcome: TaskOutcome) -> dict:
    """The task-level keys of a perplexity task's results entry (`{}` for other tasks)."""
    if not outcome.task.spec.is_perplexity:
        return {}
    return {k: v for k, v in _rounded(task_perplexity(outcome)).items() if k != "n"}


def group_json(outcome: TaskOutcome, by: str) -> dict:
    """A perplexity task's group table: `{group: {n, word_perplexity, byte_perplexity, bits_per_byte}}`."""
    return {g: _rounded(row) for g, row in group_perplexity(outcome, by).items()}


def document_json(item) -> dict:
    """An item's document record: log-likelihood, words, bytes."""
    if item.document is None:
        return {}
    ll, words, bytes_ = item.document
    return {"loglikelihood": round(ll, 6), "words": words, "bytes": bytes_}


GROUP_HEADERS = ["group", "n", "word ppl", "byte ppl", "bits/byte"]


def report_cell(outcome: TaskOutcome) -> str:
    """The terminal report's score cell of a perplexity task."""
    return f"word ppl {task_perplexity(outcome)['word_perplexity']:.2f}"


def group_rows(outcome: TaskOutcome, by: str) -> list[list[str]]:
    """The terminal report's group table of a perplexity task, worst (highest word perplexity) first."""
    table = sorted(group_perplexity(outcome, by).items(), key=lambda kv: (-kv[1]["word_perplexity"], kv[0]))
    return [[g, str(r["n"]), f"{r['word_perplexity']:.2f}", f"{r['byte_perplexity']:.4f}", f"{r['bits_per_byte']:.4f}"]
            for g, r in table]


def evidence_lines(check, result, outcome: TaskOutcome, limit: int, width: int) -> list[str]:
    """Under a failing perplexity check: the documents the model fits worst (highest word
    perplexity), in the worst group for `perplexity_ratio`."""
    worst = result.details.get("worst_group") if check.by else None
    labels = outcome.task.group_values(check.by) if check.by else [None] * outcome.n
    rows = [(inst, item.document, g) for inst, item, g in zip(outcome.task.instances, outcome.items, labels)
            if worst is None or g == worst]
    rows.sort(key=lambda r: r[1][0] / r[1][1])  # log-likelihood per word, lowest first
    where = f" in group {worst!r}" if worst is not None else ""
    lines = [f"  highest-perplexity documents{where} ({min(limit, len(rows))} of {len(rows)}):"]
    for inst, (ll, words, _), g in rows[:limit]:
        head = f"    #{inst.index}" + (f" [{g}]" if g is not None else "") + f" word ppl {np.exp(-ll / words):.1f} | "
        text = " ".join(inst.prompt.split())
        room = max(10, width - len(head))
        lines.append(head + (text if len(text) <= room else text[:room - 1] + "…"))
    return lines
