"""Score a prepared task with a backend: one batch of requests per task, one outcome per item.

Multiple choice follows lm-evaluation-harness: each choice is the continuation `delimiter + choice`
of the prompt, scored by summed log-likelihood; `acc` takes the argmax of the sums, `acc_norm` of
the sums divided by the choice's length in characters, `acc_pmi` of the sums minus each choice's
log-likelihood after the task's `unconditional` context (probes.py, lm-eval's `acc_mutual_info`).
Free-form tasks generate greedily and match.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import probes
from ..backends.base import Backend, GenerationRequest, LoglikelihoodRequest, Progress
from ..metrics import generation_scores
from ..tasks.prepare import Instance, PreparedTask


@dataclass(frozen=True)
class ItemOutcome:
    index: int
    answer: int | str
    prediction: int | str | None
    correct: bool
    scores: tuple[float, ...] | None = None  # multiple choice: summed log-likelihood per choice
    output: str | None = None  # free-form: the generated text
    score: float | None = None  # free-form with a generation `metric:`: the item's score in [0, 1] (metrics/)
    extra: dict[str, float] | None = None  # probes (probes.py): log-likelihoods beyond the choices
    document: tuple[float, int, int] | None = None  # type: perplexity: (rolling log-likelihood, words, bytes)


@dataclass
class TaskOutcome:
    task: PreparedTask
    items: list[ItemOutcome]

    @cached_property
    def correct(self) -> np.ndarray:
        return np.fromiter((o.correct for o in self.items), dtype=bool, count=len(self.items))

    @property
    def n(self) -> int:
        return len(self.items)

    @property
    def successes(self) -> int:
        return int(self.correct.sum())

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if self.n and not self.task.spec.is_perplexity else float("nan")

    def groups(self, by: str) -> dict[str, tuple[int, int]]:
        """`{group: (successes, n)}` in order of first appearance."""
        counts: dict[str, list[int]] = {}
        for labels, ok in zip(self.task.group_memberships(by), self.correct):
            for label in labels:  # a list-valued group field: the item counts in each of its groups
                entry = counts.setdefault(label, [0, 0])
                entry[0] += int(ok)
                entry[1] += 1
        return {label: (s, n) for label, (s, n) in counts.items()}


def model_prompt(task: PreparedTask, inst: Instance, backend: Backend) -> str:
    """The text the model reads: the rendered prompt, in the model's chat template with `chat: true`."""
    return backend.chat_prompt(inst.prompt) if task.spec.chat else inst.prompt


def score_task(task: PreparedTask, backend: Backend, progress: Progress | None = None) -> TaskOutcome:
    if task.spec.is_generation:
        return TaskOutcome(task, _score_generation(task, backend, progress))
    if task.spec.is_perplexity:
        from .documents import score_documents  # rolling log-likelihood per document
        return TaskOutcome(task, score_documents(task, backend, progress))
    return TaskOutcome(task, _score_multiple_choice(task, backend, progress))


def _score_multiple_choice(task: PreparedTask, backend: Backend, progress: Progress | None) -> list[ItemOutcome]:
    requests = [LoglikelihoodRequest(model_prompt(task, inst, backend), task.spec.delimiter + choice)
                for inst in task.instances for choice in inst.choices]
    item_probes = probes.requests(task)  # extra requests some checks and metrics need, same batch
    results = backend.loglikelihood(requests + probes.flatten(item_probes), progress=progress)
    extras = probes.attach(item_probes, results[len(requests):])
    outcomes, start = [], 0
    for inst, extra in zip(task.instances, extras):
        scores = np.array([r.logprob for r in results[start:start + len(inst.choices)]], dtype=np.float64)
        start += len(inst.choices)
        prediction = predict_choice(probes.decision_scores(scores, extra, task.spec.metric), inst.choices,
                                    task.spec.metric)
        outcomes.append(ItemOutcome(inst.index, inst.answer, prediction, prediction == inst.answer,
                                    tuple(float(s) for s in scores), extra=extra or None))
    return outcomes


def predict_choice(scores: np.ndarray, choices: tuple[str, ...], metric: str) -> int:
    if metric == "acc_norm":
        lengths = np.array([max(len(c), 1) for c in choices], dtype=np.float64)
        scores = scores / lengths
    return int(np.argmax(scores))


def _score_generation(task: PreparedTask, backend: Backend, progress: Progress | None) -> list[ItemOutcome]:
    gen = task.spec.generate
    # With `chat: true` the backend applies the template (or sends the turn to a chat endpoint).
    requests = [GenerationRequest(inst.prompt, gen.max_tokens, gen.stop, chat=task.spec.chat)
                for inst in task.instances]
    outputs = backend.generate(requests, progress=progress)
    scores = generation_scores(task.spec.metric, outputs, [str(inst.answer) for inst in task.instances])
    return [
        ItemOutcome(inst.index, inst.answer, output, matches(output, str(inst.answer), task.spec.match),
                    output=output, score=score)
        for inst, output, score in zip(task.instances, outputs, scores)
    ]


_WS = re.compile(r"\s+")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def normalize(text: str) -> str:
    """Case-, whitespace- and accent-insensitive form used by `exact` and `contains`."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _WS.sub(" ", stripped).strip().casefold()


def extract_number(text: str) -> float | None:
    """The last number in `text` (lm-eval's "flexible extract"); thousands separators allowed."""
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def matches(output: str, expected: str, how: str) -> bool:
    if how == "exact":
        return normalize(output) == normalize(expected)
    if how == "contains":
        return normalize(expected) in normalize(output)
    if how == "regex":
        return re.search(expected, output) is not None
    if how == "number":
        got, want = extract_number(output), extract_number(expected)
        return got is not None and want is not None and abs(got - want) <= 1e-9 * max(1.0, abs(want))
    raise ValueError(f"unknown match {how!r}")
