"""Turn a task spec plus its loaded items into concrete, validated instances.

Everything that can be wrong with data against templates is found here, at collection, before any
model is loaded: missing fields, answers that are not among the choices, unusable group values.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..data.load import Item, LoadedData, load_items, subsample
from ..errors import DataError, SuiteError
from ..spec.model import SuiteSpec, TaskSpec
from .instance import Instance, PreparedTask
from .template import Template
from .validate import validate_checks, validate_fields, validate_metric

def prepare_task(suite: SuiteSpec, task: TaskSpec, *, cap: int | None = None, data_dir: Path | None = None,
                 num_fewshot: int | None = None) -> PreparedTask:
    """Load, subsample (`data.limit`, capped by `cap`), render and validate a task's items.
    `num_fewshot` overrides `fewshot.n` of a task that has `fewshot:` (others are left as they are)."""
    loaded = load_items(task, suite.path, data_dir=data_dir, roots=suite.data_roots)
    limit = min((x for x in (task.data.limit, cap) if x is not None), default=None)
    loaded = subsample(loaded, limit, task.data.seed, unit=sampling_unit(task))
    renderer = _Renderer(suite, task, loaded)
    instances = [renderer.instance(item) for item in loaded.items]
    validate_fields(suite, task, instances)
    validate_checks(suite, task, instances)
    validate_metric(suite, task, instances)
    shots = 0 if task.fewshot is None else (task.fewshot.n if num_fewshot is None else num_fewshot)
    text = _shots(suite, task, shots, data_dir)
    if task.preamble + text:
        instances = [replace(inst, prompt=task.preamble + text + inst.prompt) for inst in instances]
    return PreparedTask(suite, task, instances, loaded.source, loaded.total, fewshot=shots, fewshot_text=text)


def _shots(suite: SuiteSpec, task: TaskSpec, n: int, data_dir: Path | None) -> str:
    """The first `n` rows of `fewshot.data`, each as the task's prompt, `delimiter` and gold answer,
    joined by `fewshot.separator`, which also ends the text (lm-eval's first_n sampler and layout:
    `description + shot + sep + ... + shot + sep + question`)."""
    if n == 0:
        return ""
    fs = task.fewshot
    loaded = load_items(replace(task, data=fs.data), suite.path, data_dir=data_dir, roots=suite.data_roots)
    if len(loaded.items) < n:
        raise DataError(f"{n} shots asked for, but the few-shot data has {len(loaded.items)} rows [{loaded.source}]",
                        path=suite.path, line=task.line, task=task.name, key="fewshot.n",
                        fix=f"ask for at most {len(loaded.items)} (`fewshot.n` or --misalign-num-fewshot)")
    renderer = _Renderer(suite, task, replace(loaded, items=loaded.items[:n]))
    texts = []
    for item in renderer.loaded.items:
        inst = renderer.instance(item)
        gold = inst.answer if isinstance(inst.answer, str) else inst.choices[inst.answer]
        texts.append(inst.prompt + task.delimiter + gold)
    return "".join(text + fs.separator for text in texts)


def sampling_unit(task: TaskSpec) -> str | None:
    """The field whose items must be kept together when subsampling (pairs, question variants)."""
    pairs = [c.pair_field for c in task.checks if c.pair_field]
    units = [c.shape.unit for c in task.checks if c.shape.unit]
    return (pairs + units + [None])[0]


class _Renderer:
    def __init__(self, suite: SuiteSpec, task: TaskSpec, loaded: LoadedData) -> None:
        self.suite, self.task, self.loaded = suite, task, loaded
        self.prompt = Template(task.prompt, "prompt", self._spec_error)
        self.answer = Template(task.answer, "answer", self._spec_error)
        # `answer: "{label}"` — a bare field reference, whose raw value may be an integer index.
        bare = len(self.answer.fields) == 1 and task.answer == "{%s}" % self.answer.fields[0]
        self.answer_field = self.answer.fields[0] if bare else None
        self.choice_field = task.choices if isinstance(task.choices, str) else None
        self.choices = ([Template(c, f"choices[{i}]", self._spec_error) for i, c in enumerate(task.choices)]
                        if isinstance(task.choices, list) else [])
        self.text = Template(task.text, "text", self._spec_error) if task.is_perplexity else None

    def _spec_error(self, message: str, key: str, fix: str | None = None) -> SuiteError:
        return SuiteError(message, path=self.suite.path, line=self.task.line, task=self.task.name,
                          key=key, fix=fix)

    def item_error(self, item: Item, message: str, key: str, fix: str | None = None) -> DataError:
        # Point at the item's own line when we know it (inline YAML item or a JSONL/CSV row).
        path = (item.path or self.loaded.path) if item.line else self.suite.path
        line = item.line or self.task.line
        source = "" if self.loaded.source == "inline items" else f" [{self.loaded.source}]"
        return DataError(message + source, path=path, line=line, task=self.task.name, key=key, fix=fix)

    def instance(self, item: Item) -> Instance:
        if self.text is not None:  # type: perplexity: the document is the prompt, nothing to answer
            return Instance(item.index, self.text.render(item, self.item_error), (), "", item.fields)
        prompt = self.prompt.render(item, self.item_error)
        if self.task.is_generation:
            expected = self.answer.render(item, self.item_error)
            if self.task.match == "regex":
                try:
                    re.compile(expected)
                except re.error as exc:
                    raise self.item_error(item, f"answer {expected!r} of item {item.index} is not a valid "
                                                f"regular expression: {exc}", "answer") from None
            return Instance(item.index, prompt, (), expected, item.fields)
        choices, labels = self._choices(item)
        answer = self._answer_index(item, choices)
        if self.task.same_answer:
            choices, answer, labels = merge_same_answer(choices, answer, self.task.same_answer)
        return Instance(item.index, prompt, choices, answer, item.fields, labels)

    def _choices(self, item: Item) -> tuple[tuple[str, ...], tuple[int, ...] | None]:
        """The item's choices, and which are true when its choices field says (a labelled mapping)."""
        labels = None
        if self.choice_field is None:
            choices = tuple(t.render(item, self.item_error) for t in self.choices)
        else:
            value = item.fields.get(self.choice_field)
            if value is None:
                raise self.item_error(item, f"field '{self.choice_field}' named by `choices` is missing from item "
                                            f"{item.index}", "choices")
            listed, labels = labelled_choices(value)
            if listed is None or len(listed) < 2:
                raise self.item_error(item, f"field '{self.choice_field}' must hold at least two choices (a list, a "
                                            f"list written as text, or a mapping of choice to label), got {value!r}",
                                      "choices")
            choices = tuple(str(v) for v in listed)
        if self.task.is_sentence_pair:
            return self._sentences(item, choices), None
        seen: dict[str, int] = {}
        for i, choice in enumerate(choices):
            if choice in seen:
                raise self.item_error(item, f"choices {seen[choice]} and {i} of item {item.index} are both "
                                            f"{choice!r}: they would tie and either would count as right",
                                      "choices", "every item's choices must render to different texts")
            seen[choice] = i
        return choices, labels

    def _sentences(self, item: Item, sentences: tuple[str, ...]) -> tuple[str, ...]:
        """A sentence pair's `more` and `less`: both non-empty (equal sentences tie: no preference)."""
        for key, sentence in zip(("more", "less"), sentences):
            if not sentence.strip():
                raise self.item_error(item, f"the `{key}` sentence of item {item.index} is empty", key,
                                      "every item needs two sentences to compare; filter it out with `data.where`")
        return sentences

    def _answer_index(self, item: Item, choices: tuple[str, ...]) -> int:
        """Which choice the answer names: see `answer_choice`."""
        raw = item.fields.get(self.answer_field) if self.answer_field else None
        rendered = self.answer.render(item, self.item_error)
        index, problem = answer_choice(rendered, raw, choices, self.task.answer_type, item.index)
        if problem is not None:
            raise self.item_error(item, problem[0], "answer", problem[1])
        return index


def merge_same_answer(choices: tuple[str, ...], answer: int, same: tuple[str, ...]
                      ) -> tuple[tuple[str, ...], int, tuple[int, ...] | None]:
    """`same_answer`: an item's choice among `same` is replaced by all of `same`, appended after the
    other choices; an answer among them is right whichever is chosen (labels), and the answer index
    is the first of them. lm-eval's bbq `doc_to_choice` / `doc_to_targets` (HELM's unknown
    responses). An item with none of `same` among its choices keeps them as they are."""
    if not any(c in same for c in choices):
        return choices, answer, None
    kept = tuple(c for c in choices if c not in same)
    merged = kept + tuple(same)
    if choices[answer] in same:
        return merged, len(kept), tuple(int(i >= len(kept)) for i in range(len(merged)))
    index = kept.index(choices[answer])
    return merged, index, tuple(int(i == index) for i in range(len(merged)))


_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")


def labelled_choices(value: Any) -> tuple[list | None, tuple[int, ...] | None]:
    """(choices, labels) from a choices field: a list; a list written as Python/JSON text (as the
    inverse-scaling files publish `classes`); a mapping {choice: label} (TruthfulQA's mc_task.json) or
    {"choices": [...], "labels": [...]} (the same on the hub). Labels are None for a plain list."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = ast.literal_eval(value.strip())  # literals only: never code
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None, None
    if isinstance(value, (list, tuple)):
        return list(value), None
    if isinstance(value, dict) and set(value) == {"choices", "labels"} and isinstance(value["choices"], list):
        listed, labels = value["choices"], value["labels"]
    elif isinstance(value, dict):
        listed, labels = list(value), list(value.values())
    else:
        return None, None
    if not isinstance(labels, list) or len(labels) != len(listed) or not all(v in (0, 1) for v in labels):
        return None, None
    return listed, tuple(int(v) for v in labels)


def answer_choice(rendered: str, raw: Any, choices: tuple[str, ...], answer_type: str = "auto", item: Any = "?"
                  ) -> tuple[int, None] | tuple[None, tuple[str, str]]:
    """The index of the choice an answer names, or a problem (message about item `item`, fix).

    The answer is read two ways. As text: it names the choice whose text it renders to exactly. As an
    index: when it is a whole number (a YAML/JSON integer, or digits, as CSV gives), it names the
    choice at that 0-based position. `answer_type: text` or `index` uses only that reading. With
    `auto` (the default) a single reading decides; when both exist and name different choices the
    answer is ambiguous and an error asks for `answer_type`.
    """
    as_text = choices.index(rendered) if rendered in choices else None
    number = raw if isinstance(raw, int) and not isinstance(raw, bool) else (
        int(rendered.strip()) if _INTEGER.fullmatch(rendered.strip()) else None)
    as_index = number if number is not None and 0 <= number < len(choices) else None
    listed = list(choices)
    if answer_type == "text":
        if as_text is None:
            return None, (f"answer {rendered!r} of item {item} is not among its choices {listed}",
                          "with `answer_type: text` the answer must render to a choice's exact text")
        return as_text, None
    if answer_type == "index":
        if number is None:
            return None, (f"answer {rendered!r} of item {item} is not a choice index",
                          "with `answer_type: index` the answer must be a 0-based index into the choices")
        if as_index is None:
            return None, (f"answer index {number} of item {item} is out of range for {len(choices)} choices",
                          "indices are 0-based: 0 is the first choice")
        return as_index, None
    if as_text is not None and as_index is not None and as_text != as_index:
        return None, (f"answer {rendered!r} of item {item} is ambiguous: it is the text of choice {as_text} "
                      f"and the index of choice {as_index} ({choices[as_index]!r})",
                      "add `answer_type: text` (answers are choice texts) or `answer_type: index` "
                      "(answers are 0-based indices) to the task")
    if as_text is not None:
        return as_text, None
    if as_index is not None:
        return as_index, None
    if number is not None and raw is number:
        return None, (f"answer index {number} of item {item} is out of range for {len(choices)} choices",
                      "indices are 0-based: 0 is the first choice")
    hint = f" nor a 0-based index below {len(choices)}" if number is not None else ""
    return None, (f"answer {rendered!r} of item {item} is not among its choices {listed}{hint}",
                  "the answer must render to a choice's exact text or to its 0-based index")


