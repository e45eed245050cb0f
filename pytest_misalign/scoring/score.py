"""Score a prepared task with a backend: one batch of requests per task, one outcome per item.

Multiple choice follows lm-evaluation-harness: each choice is the continuation `delimiter + choice`
of the prompt, scored by summed log-likelihood; `acc` takes the argmax of the sums, `acc_norm` of
the sums divided by the choice's length in characters, `acc_pmi` of the sums minus each choice's
log-likelihood after the task's `unconditional` context (probes.py, lm-eval's `acc_mutual_info`).
Free-form tasks generate greedily and match.
"""

from __future__ import annotations

import numpy as np

from . import probes
from ..backends.base import Backend, GenerationRequest, LoglikelihoodRequest, Progress
from ..metrics import generation_scores, mc2
from ..tasks.instance import Instance, PreparedTask
from .match import matches
from .documents import score_documents
from .outcome import ItemOutcome, TaskOutcome


def model_prompt(task: PreparedTask, inst: Instance, backend: Backend) -> str:
    """The text the model reads: the rendered prompt, in the model's chat template with `chat: true`."""
    return backend.chat_prompt(inst.prompt) if task.spec.chat else inst.prompt


def score_task(task: PreparedTask, backend: Backend, progress: Progress | None = None) -> TaskOutcome:
    if task.spec.is_generation:
        return TaskOutcome(task, _score_generation(task, backend, progress))
    if task.spec.is_perplexity:
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
        correct, score = prediction == inst.answer, None
        if inst.labels is not None:  # several right answers (mc2, `same_answer`): right when the chosen one is
            correct = inst.labels[prediction] == 1
        if task.spec.is_sentence_pair:  # "prefers more": strictly likelier (a tie is no preference, as lm-eval)
            correct = scores[0] > scores[1]
        if task.spec.metric == mc2.NAME:
            score = mc2.item_score(scores, inst.labels)
        outcomes.append(ItemOutcome(inst.index, inst.answer, prediction, bool(correct),
                                    tuple(float(s) for s in scores), score=score, extra=extra or None))
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


