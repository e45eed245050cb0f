"""The suite file format: the typed specs a suite file parses into, and the keys it allows.

A suite file is a contract that users and other tools write, so every problem is reported with the
file, line, task and key, and a fix (`SuiteError`). Parsing lives in `suite.py` (the suite), `task.py`
and `perplexity.py` (tasks), `data.py` (data), `checks.py` (checks; each kind declares its parameters
in `checks/`, see `kinds.py`), data-path confinement in `paths.py`; only
structure is checked there. Whether the data fits the templates is checked when the data is loaded
(`tasks.py`), still before any model loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

SUITE_KEYS = {"suite", "description", "tasks", "markers", "checks"}
TASK_KEYS = {
    "name", "description", "data", "prompt", "choices", "answer", "metric", "delimiter",
    "generate", "match", "checks", "markers", "cluster", "regression", "chat", "answer_type",
    "unconditional", "type", "text", "more", "less", "same_answer", "preamble", "fewshot",
}
FEWSHOT_KEYS = {"n", "data", "separator"}
DATA_KEYS = {"items", "file", "hf", "template", "limit", "seed", "where", "rename", "format", "columns", "pattern",
             "strip", "derive"}
DATA_SOURCES = ("items", "file", "hf", "template")
HF_KEYS = {"path", "name", "split", "revision", "data_files", "local", "partial", "rename", "sha256"}
FILE_FORMATS = ("jsonl", "json", "csv", "tsv", "txt", "winobias")  # data/formats.py
FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".txt")  # read by their suffix without `format:`
TEMPLATE_KEYS = {"rows", "file", "slots", "vary"}
VARY_KEYS = {"by", "pair", "groups"}
REGRESSION_KEYS = {"max_drop", "by", "max_broken", "confidence", "min_n"}
GENERATE_KEYS = {"max_tokens", "stop"}
METRICS = ("acc", "acc_norm", "acc_pmi", "mc2")  # multiple choice; mc2 also scores each item (metrics/mc2.py)
GENERATION_METRICS = ("token_f1", "bleu", "chrf", "rouge_l")  # free-form tasks: metrics/, scored per item
SCORED_METRICS = GENERATION_METRICS + ("mc2",)  # metrics that give every item a score (`score` checks)
MATCHES = ("exact", "contains", "regex", "number")
TASK_TYPES = ("multiple_choice", "generation", "perplexity", "sentence_pair")
ANSWERED = ("multiple_choice", "generation")  # tasks with answers (accuracy); the others score documents or pairs
ANSWER_TYPES = ("auto", "index", "text")  # how a multiple-choice `answer` is read (tasks.py)


@dataclass(frozen=True)
class CheckShape:
    """What a check reads of every item and needs from scoring, worked out from its parameters by its
    kind when the suite is parsed (`spec.kinds.KindSchema.shape`)."""

    label: str  # the test's base name: `accuracy`, `gap[region]`, `shift[a->b]`
    reads: dict[str, str] = field(default_factory=dict)  # item fields it reads, by parameter
    list_ok: tuple[str, ...] = ()  # parameters whose field may be list-valued (an item in several groups)
    unit: str | None = None  # field whose items are scored and sampled together (pairs, variants)
    sentences: tuple[str, ...] = ()  # fields scored as sentences with an empty context (scoring/probes.py)
    # the kind's rules on the data, checked when the task's items are prepared (`tasks/validate.py`):
    # (check, task, instances) -> spec.kinds.Rule | None
    item_rules: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    def __getstate__(self) -> dict:
        """Pickled without `item_rules` (xdist workers send specs back after collection, when the rules
        have been applied; a plugin's rule may be a function that cannot be pickled)."""
        return {**self.__dict__, "item_rules": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


@dataclass(frozen=True)
class CheckSpec:
    """One check of a suite: its kind, parameters, line, and the shape its kind gave it when parsed.
    Build one in code with `checks.KINDS.check(kind, params)` (a spec without a shape is refused: its
    fields, pairs and name depend on the kind)."""

    kind: str
    params: dict[str, Any]
    line: int | None = None
    shape: CheckShape | None = None

    def __post_init__(self) -> None:
        if self.shape is None:
            raise TypeError(f"CheckSpec({self.kind!r}) needs the shape its kind gives it: build it with "
                            f"pytest_misalign.checks.KINDS.check({self.kind!r}, params) or parse a suite")

    @property
    def by(self) -> str | None:
        return self.params.get("by")

    @property
    def confidence(self) -> float:
        return float(self.params.get("confidence", 0.95))

    @property
    def min_n(self) -> int:
        return int(self.params.get("min_n", 10))

    @property
    def fields(self) -> dict[str, str]:
        """Item fields this check reads, by parameter (validated against every item at collection)."""
        return dict(self.shape.reads)

    @property
    def pair_field(self) -> str | None:
        """The field linking counterfactual pairs, when the check compares pairs."""
        return self.fields.get("pair")

    @property
    def base_name(self) -> str:
        return self.shape.label


@dataclass(frozen=True)
class RegressionSpec:
    """`regression:` on a task: how it is compared with a `--misalign-baseline` results file."""

    max_drop: float | None = None  # None: --misalign-max-drop
    by: str | None = None  # also compare each group (the task's `by:` field)
    max_broken: int | float | None = None  # items right in the baseline and wrong now: a count (int >= 1) or share
    confidence: float = 0.95
    min_n: int = 10  # groups with fewer shared items are reported, not gated


@dataclass(frozen=True)
class FewshotSpec:
    """`fewshot:` on a task: the first `n` rows of `data` (lm-eval's `fewshot_split` with the `first_n`
    sampler), each rendered as the task's prompt, `delimiter` and gold answer, joined by `separator`
    and placed between the task's `preamble` and every item's prompt (`tasks/prepare.py`)."""

    data: DataSpec
    n: int = 0  # --misalign-num-fewshot overrides it
    separator: str = "\n\n"  # lm-eval's fewshot_delimiter


@dataclass(frozen=True)
class GenerateSpec:
    max_tokens: int = 32
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class VarySpec:
    """One counterfactual axis: every generated question is rendered once per group."""

    by: str
    pair: str
    groups: dict[str, dict[str, Any]]  # group -> {field: scalar or list (position k forms pair k)}
    width: int  # K: the common length of the list values (1 when all are scalars)


@dataclass(frozen=True)
class TemplateSpec:
    rows: list[dict] | None = None
    file: Path | None = None
    slots: dict[str, list] = field(default_factory=dict)
    vary: VarySpec | None = None


@dataclass(frozen=True)
class DataSpec:
    items: list[dict] | None = None
    file: Path | tuple[Path, ...] | None = None  # a tuple: several files, concatenated in order
    hf: dict[str, Any] | None = None
    template: TemplateSpec | None = None
    limit: int | None = None
    seed: int = 0
    line: int | None = None
    where: Any = None  # spec.shape.Where: keep only the matching items
    rename: dict[str, str] | None = None  # old field (dotted allowed): new name
    format: str | None = None  # how local files are read (data/formats.py); None: from the suffix
    columns: tuple[str, ...] | None = None  # the fields of a CSV/TSV without a header row
    pattern: str | None = None  # a regex with named groups splitting each line of a text file
    strip: tuple[str, ...] = ()  # fields whose surrounding whitespace is removed
    derive: dict[str, str] | None = None  # new field: a template over the item's fields, e.g. "{a}/{b}"

    @property
    def source(self) -> str:
        for name in ("items", "file", "hf", "template"):
            if getattr(self, name) is not None:
                return name
        raise AssertionError("DataSpec without a source")


@dataclass(frozen=True)
class TaskSpec:
    name: str
    data: DataSpec
    prompt: str
    answer: str
    choices: list[str] | str | None = None  # templates, or the name of a field holding a list
    metric: str = "acc"
    delimiter: str = " "
    generate: GenerateSpec | None = None
    match: str = "exact"
    checks: list[CheckSpec] = field(default_factory=list)
    markers: list[str] = field(default_factory=list)
    description: str = ""
    cluster: str | None = None  # items sharing this field are not independent
    chat: bool = False  # wrap the prompt in the model's chat template (as one user turn)
    regression: RegressionSpec = field(default_factory=RegressionSpec)  # against a baseline
    line: int | None = None
    answer_type: str = "auto"  # auto, index or text: how `answer` picks a choice (see tasks.py)
    unconditional: str = ""  # acc_pmi: the context each choice is also scored after (probes.py)
    type: str = "multiple_choice"  # or generation (with `generate:`), perplexity or sentence_pair (task_types.py)
    text: str | None = None  # type: perplexity: the document template (rendered into Instance.prompt)
    same_answer: tuple[str, ...] = ()  # choice texts that are one answer (tasks/prepare.py `merge_same_answer`)
    preamble: str = ""  # text before the shots and the prompt (lm-eval's `description`)
    fewshot: FewshotSpec | None = None

    @property
    def max_drop(self) -> float | None:  # per-task override of --misalign-max-drop
        return self.regression.max_drop

    @property
    def is_generation(self) -> bool:
        return self.generate is not None

    @property
    def is_perplexity(self) -> bool:
        return self.type == "perplexity"

    @property
    def is_sentence_pair(self) -> bool:
        return self.type == "sentence_pair"

    @property
    def has_answers(self) -> bool:
        """Whether items have a right answer (an accuracy): not so for documents and sentence pairs."""
        return self.task_type in ANSWERED

    @property
    def task_type(self) -> str:
        """multiple_choice, generation, perplexity or sentence_pair (what check kinds declare they apply to)."""
        if self.type in ("perplexity", "sentence_pair"):
            return self.type
        return "generation" if self.is_generation else "multiple_choice"

    def check_names(self) -> list[str]:
        return unique_check_names(self.checks)


def unique_check_names(checks: list[CheckSpec]) -> list[str]:
    """Unique, readable test names: `accuracy`, `gap[region]`, a repeat gets `#2`."""
    seen: dict[str, int] = {}
    names = []
    for check in checks:
        base = check.base_name
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return names


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    path: Path
    tasks: list[TaskSpec]
    description: str = ""
    markers: list[str] = field(default_factory=list)
    checks: list[CheckSpec] = field(default_factory=list)  # suite-level: spread, shift
    sha256: str = ""
    # Folders data files must resolve into (symlinks followed); None: not confined (library use).
    data_roots: tuple[Path, ...] | None = None

    def task(self, name: str) -> TaskSpec | None:
        return next((t for t in self.tasks if t.name == name), None)


__all__ = [
    "ANSWERED", "ANSWER_TYPES", "TASK_TYPES", "CheckShape", "CheckSpec", "DataSpec", "GenerateSpec",
    "RegressionSpec", "SuiteSpec", "TaskSpec", "TemplateSpec", "VarySpec", "unique_check_names",
]
