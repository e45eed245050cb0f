"""Per-task diagnostics: the chance level, whether accuracy is above it, and constant answers.

A release gate must not be passable by accident: a model that answers the same choice everywhere
shows no gap between groups and answers every variant the same -- its gap and consistency checks
would pass while saying nothing. `diagnose` finds such tasks; the checks mark themselves
`degenerate` on them (see `checks`).

Chance level (`chance`): what a model that knows nothing scores by a fixed strategy.

* Multiple choice: the highest of the mean of 1/len(choices) (uniform guessing), the majority rate
  of the gold answer's *position* (always answering that position) and the majority rate of the
  gold answer's *text* (always picking that choice, wherever it appears).
* Free-form generation: the majority rate of the normalized gold answers (always generating the
  most common answer).

The majority rates are read off the same items (a plug-in estimate): they are the accuracy a
constant answer would really get on this task.

Above chance (`above_chance`): the one-sided exact binomial test of "accuracy > chance",
``p = P[Binomial(n, chance) >= successes]`` (`stats.binomial_greater_pvalue`); accuracy is
distinguishable from chance when ``p < CHANCE_ALPHA`` (0.05).

Constant answer (`constant_answer`): at least `CONSTANT_SHARE` (95 %) of the predictions are one
choice position, or one choice text, or (free-form) one normalized generated text -- judged only on
tasks with at least `CONSTANT_MIN_ITEMS` items (on fewer, every answer looks constant).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .. import stats
from .outcome import TaskOutcome
from .match import normalize

CONSTANT_SHARE = 0.95  # predictions sharing one answer at least this often are a constant answer
CONSTANT_MIN_ITEMS = 5  # below this many items no answer pattern is called constant
CHANCE_ALPHA = 0.05  # one-sided level of the exact binomial test against the chance level
_QUOTE_MAX = 40  # characters of an answer quoted in a sentence


@dataclass(frozen=True)
class TaskDiagnostics:
    n: int
    accuracy: float
    chance: float  # the chance level (see the module docstring)
    chance_basis: str  # which strategy sets it, in words
    above_chance: bool  # p_above_chance < CHANCE_ALPHA
    p_above_chance: float  # one-sided exact binomial p-value of "accuracy > chance"
    constant_answer: str | None  # e.g. "predicts position 0 ('positive') for 100% of items"
    top_prediction_share: float  # share of the most common prediction (position, text or output)

    def to_json(self) -> dict[str, Any]:
        return {
            "chance": _round(self.chance),
            "above_chance": self.above_chance,
            "p_above_chance": _round(self.p_above_chance, 8),
            "constant_answer": self.constant_answer,
            "top_prediction_share": _round(self.top_prediction_share),
        }

    @property
    def at_chance(self) -> bool:
        """Accuracy is not distinguishable from the chance level."""
        return self.n > 0 and not self.above_chance

    def chance_sentence(self) -> str:
        return (f"accuracy {self.accuracy:.3f} is indistinguishable from chance level {self.chance:.3f} "
                f"({self.chance_basis}; one-sided exact binomial p = {self.p_above_chance:.3g})")

    def notes(self) -> list[str]:
        """Human sentences: the constant answer, and an accuracy at chance."""
        out = [f"constant answer: the model {self.constant_answer}"] if self.constant_answer else []
        if self.at_chance:
            out.append(self.chance_sentence())
        return out


def diagnose(outcome: TaskOutcome) -> TaskDiagnostics:
    """Chance level, above-chance test and constant-answer diagnostic of one scored task."""
    n = outcome.n
    if n == 0:
        return TaskDiagnostics(0, math.nan, math.nan, "no items", False, 1.0, None, math.nan)
    if outcome.task.spec.is_generation:
        chance, basis = _generation_chance(outcome)
        share, constant = _constant_generation(outcome)
    else:
        chance, basis = _choice_chance(outcome)
        share, constant = _constant_choice(outcome)
    p = stats.binomial_greater_pvalue(outcome.successes, n, min(chance, 1.0))
    return TaskDiagnostics(n, outcome.accuracy, chance, basis, p < CHANCE_ALPHA, p,
                           constant if n >= CONSTANT_MIN_ITEMS else None, share)


def _choice_chance(outcome: TaskOutcome) -> tuple[float, str]:
    instances = outcome.task.instances
    n = len(instances)
    right = [_right_choices(inst) for inst in instances]
    uniform = sum(len(r) / len(inst.choices) for r, inst in zip(right, instances)) / n
    position, p_count = Counter(k for r in right for k in r).most_common(1)[0]
    text, t_count = Counter(t for r, inst in zip(right, instances)
                            for t in {normalize(inst.choices[k]) for k in r}).most_common(1)[0]
    candidates = [
        (uniform, "1/choices"),
        (p_count / n, f"the gold answer is position {position} for {_pct(p_count / n)} of items"),
        (t_count / n, f"the gold answer is {_quote(text)} for {_pct(t_count / n)} of items"),
    ]
    return max(candidates, key=lambda c: c[0])  # ties: the first (uniform, then position)


def _right_choices(inst) -> list[int]:
    """The positions of an item's right answers: the answer, or every choice its labels mark true."""
    return [inst.answer] if inst.labels is None else [k for k, v in enumerate(inst.labels) if v == 1]


def _generation_chance(outcome: TaskOutcome) -> tuple[float, str]:
    answers = Counter(normalize(str(inst.answer)) for inst in outcome.task.instances)
    text, count = answers.most_common(1)[0]
    share = count / outcome.n
    return share, f"the most common gold answer {_quote(text)} is {_pct(share)} of items"


def _constant_choice(outcome: TaskOutcome) -> tuple[float, str | None]:
    instances = outcome.task.instances
    predicted = [(item.prediction, normalize(inst.choices[item.prediction]))
                 for item, inst in zip(outcome.items, instances) if isinstance(item.prediction, int)]
    if not predicted:
        return 0.0, None
    n = outcome.n
    position, p_count = Counter(p for p, _ in predicted).most_common(1)[0]
    text, t_count = Counter(t for _, t in predicted).most_common(1)[0]
    share = max(p_count, t_count) / n
    if p_count / n >= CONSTANT_SHARE and p_count >= t_count:
        at = Counter(t for p, t in predicted if p == position).most_common(1)[0][0]
        sentence = f"predicts position {position} ({_quote(at)}) for {_pct(p_count / n)} of items"
        gold = sum(1 for inst in instances if inst.answer == position) / n
    elif t_count / n >= CONSTANT_SHARE:
        sentence = f"predicts the choice {_quote(text)} for {_pct(t_count / n)} of items, wherever it is listed"
        gold = sum(1 for inst in instances if normalize(inst.choices[inst.answer]) == text) / n
    else:
        return share, None
    if gold >= CONSTANT_SHARE:
        sentence += f"; so is the gold answer for {_pct(gold)}: this task cannot tell knowledge from a constant answer"
    return share, sentence


def _constant_generation(outcome: TaskOutcome) -> tuple[float, str | None]:
    outputs = Counter(normalize(item.output if item.output is not None else str(item.prediction or ""))
                      for item in outcome.items)
    text, count = outputs.most_common(1)[0]
    share = count / outcome.n
    if share < CONSTANT_SHARE:
        return share, None
    return share, f"generates {_quote(text)} for {_pct(share)} of items"


def _pct(share: float) -> str:
    if 0.995 <= share < 1.0:
        return ">99%"
    return f"{share:.0%}"


def _quote(text: str) -> str:
    return repr(text if len(text) <= _QUOTE_MAX else text[:_QUOTE_MAX - 1] + "…")


def _round(value: float, digits: int = 6) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), digits)
