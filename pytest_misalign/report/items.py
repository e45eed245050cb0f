"""The items of a scored task as the run model keeps them: every item as a person needs it to see what
went wrong (rendered prompt, choices, target, prediction and the chosen text, per-choice scores or the
generated output, the fields its checks group by, and for pairs and variants the partner items)."""

from __future__ import annotations

import math
from typing import Any

from ..scoring.outcome import ItemOutcome, TaskOutcome
from ..spec.model import TaskSpec


def num(x: Any) -> float | None:
    """A number for the results file: rounded to 6 places; None for None and NaN."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 6)


def grouping_fields(spec: TaskSpec) -> list[str]:
    """The item fields the task's checks read, and its cluster and regression fields (shown with every item)."""
    names = [name for c in spec.checks for name in c.fields.values()
             if name not in c.shape.sentences] + [spec.cluster, spec.regression.by]
    return [n for n in dict.fromkeys(names) if isinstance(n, str) and n]


def unit_fields(spec: TaskSpec) -> list[str]:
    """The fields linking items that go together (counterfactual pairs, a question's variants)."""
    names = [c.pair_field for c in spec.checks] + [c.shape.unit for c in spec.checks]
    return [n for n in dict.fromkeys(names) if isinstance(n, str) and n]


def item_records(outcome: TaskOutcome) -> list[dict[str, Any]]:
    task = outcome.task
    grouping, units = grouping_fields(task.spec), unit_fields(task.spec)
    members: dict[tuple[str, str], list[int]] = {}
    for inst in task.instances:
        for f in units:
            members.setdefault((f, str(inst.fields.get(f))), []).append(inst.index)
    out = []
    for item, inst, key in zip(outcome.items, task.instances, task.item_keys()):
        record = _item(item, key)
        record["prompt"] = inst.prompt
        if inst.choices:
            record["choices"] = list(inst.choices)
            record["target"] = inst.choices[inst.answer] if isinstance(inst.answer, int) else str(inst.answer)
            if isinstance(item.prediction, int) and 0 <= item.prediction < len(inst.choices):
                record["predicted"] = inst.choices[item.prediction]
        else:
            record["target"] = str(inst.answer)
        record["fields"] = {f: _jsonable(inst.fields.get(f)) for f in grouping}
        pairs = [{"field": f, "id": str(inst.fields.get(f)),
                  "partners": [i for i in members[(f, str(inst.fields.get(f)))] if i != inst.index]} for f in units]
        if pairs:
            record["pairs"] = pairs
        out.append(record)
    return out


def _jsonable(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def _item(item: ItemOutcome, key: str) -> dict[str, Any]:
    out = {"index": item.index, "key": key, "answer": item.answer, "prediction": item.prediction,
           "correct": item.correct}
    if item.scores is not None:
        out["scores"] = [round(s, 6) for s in item.scores]
    if item.extra:  # probes: unconditional / sentence log-likelihoods
        out["extra"] = {k: round(v, 6) for k, v in item.extra.items()}
    if item.output is not None:
        out["output"] = item.output
    if item.score is not None:
        out["score"] = round(item.score, 6)
    if item.document is not None:  # type: perplexity: loglikelihood, words, bytes
        ll, words, bytes_ = item.document
        out.update(loglikelihood=round(ll, 6), words=words, bytes=bytes_)
    return out
