"""What scoring produces: one `ItemOutcome` per item, a `TaskOutcome` per task."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..tasks.instance import PreparedTask


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
