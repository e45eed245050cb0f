"""Probes: extra log-likelihood requests per item that a check or a metric needs beside the task's
choices. They go to the backend in the same batch as the task's own requests (so they share its
batching, prefix sharing and result cache) and land in `ItemOutcome.extra` as `{key: logprob}`.

* sentences a check's kind asks for (`CheckShape.sentences`; `preference: {more: F, less: G}`,
  CrowS-Pairs as lm-eval's `crows_pairs`): the summed log-likelihood of the item's field F and of
  its field G, each with an EMPTY context and no delimiter (lm-eval: `doc_to_text: ""`,
  `target_delimiter: ""`; an empty context is scored after the tokenizer's prefix token). Keys
  `text:F`, `text:G`.
* `metric: acc_pmi` (lm-eval's `acc_mutual_info`): for every choice k the log-likelihood of
  `delimiter + choice_k` after the task's `unconditional` context (default "", as lm-eval; e.g.
  "Answer:" for Holtzman et al.'s domain-conditional PMI). Keys `uncond:k`. The prediction is the
  argmax of LL(choice | prompt) - LL(choice | unconditional).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..backends.base import LoglikelihoodRequest

if TYPE_CHECKING:
    from ..tasks.instance import Instance, PreparedTask

PMI_METRIC = "acc_pmi"
ProbeList = list[tuple[str, LoglikelihoodRequest]]


def text_key(field: str) -> str:
    return f"text:{field}"


def uncond_key(k: int) -> str:
    return f"uncond:{k}"


def unconditional_context(task: PreparedTask) -> str:
    return getattr(task.spec, "unconditional", None) or ""


def _item_probes(task: PreparedTask, inst: Instance) -> ProbeList:
    probes: ProbeList = []
    for check in task.spec.checks:
        for field in check.shape.sentences:
            probes.append((text_key(field), LoglikelihoodRequest("", str(inst.fields[field]))))
    if task.spec.metric == PMI_METRIC:
        context = unconditional_context(task)
        probes += [(uncond_key(k), LoglikelihoodRequest(context, task.spec.delimiter + choice))
                   for k, choice in enumerate(inst.choices)]
    return list(dict(probes).items())  # two checks naming the same field share one request


def requests(task: PreparedTask) -> list[ProbeList]:
    """Per instance, the (key, request) probes its task's checks and metric need (often none)."""
    return [_item_probes(task, inst) for inst in task.instances]


def flatten(probes: list[ProbeList]) -> list[LoglikelihoodRequest]:
    return [req for per_item in probes for _, req in per_item]


def attach(probes: list[ProbeList], results: list) -> list[dict[str, float]]:
    """Split the probe results (in `flatten` order) back into one `{key: logprob}` per instance."""
    out, pos = [], 0
    for per_item in probes:
        out.append({key: float(results[pos + i].logprob) for i, (key, _) in enumerate(per_item)})
        pos += len(per_item)
    return out


def decision_scores(scores: np.ndarray, extra: dict[str, float], metric: str) -> np.ndarray:
    """The scores the prediction takes the argmax of: PMI for `acc_pmi`, else the raw scores."""
    if metric != PMI_METRIC:
        return scores
    return scores - np.array([extra[uncond_key(k)] for k in range(len(scores))], dtype=np.float64)
