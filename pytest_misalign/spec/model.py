"""The suite file format: the typed specs a suite file parses into, and the keys and checks it allows.

A suite file is a contract that users and other tools write, so every problem is reported with the
file, line, task and key, and a fix (`SuiteError`). Parsing lives in `spec_parse` (suite, tasks, data)
and `spec_checks` (checks and their parameters), data-path confinement in `spec_paths`; only
structure is checked there. Whether the data fits the templates is checked when the data is loaded
(`tasks.py`), still before any model loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUITE_KEYS = {"suite", "description", "tasks", "markers", "checks"}
TASK_KEYS = {
    "name", "description", "data", "prompt", "choices", "answer", "metric", "delimiter",
    "generate", "match", "checks", "markers", "cluster", "regression", "chat", "answer_type",
    "unconditional", "type", "text",
}
DATA_KEYS = {"items", "file", "hf", "template", "limit", "seed", "where", "rename"}
DATA_SOURCES = ("items", "file", "hf", "template")
HF_KEYS = {"path", "name", "split", "revision", "data_files", "local"}
TEMPLATE_KEYS = {"rows", "file", "slots", "vary"}
VARY_KEYS = {"by", "pair", "groups"}
REGRESSION_KEYS = {"max_drop", "by", "max_broken", "confidence", "min_n"}
GENERATE_KEYS = {"max_tokens", "stop"}
METRICS = ("acc", "acc_norm", "acc_pmi")
GENERATION_METRICS = ("token_f1", "bleu", "chrf", "rouge_l")  # free-form tasks: metrics/, scored per item
MATCHES = ("exact", "contains", "regex", "number")
ANSWER_TYPES = ("auto", "index", "text")  # how a multiple-choice `answer` is read (tasks.py)


@dataclass(frozen=True)
class Param:
    type: type | tuple[type, ...]
    required: bool = False
    help: str = ""


_RATE = (int, float)
_LEVEL = ("level",)  # marker type: a confidence level in (0, 1)
_COUNT = ("count",)  # marker type: a positive integer
_NONNEG = ("nonneg",)  # marker type: a number >= 0 (e.g. nats)

_STATS = {
    "confidence": Param(_LEVEL, help="two-sided confidence level of the interval (default 0.95)"),
}
_GROUPS = {
    "by": Param(str, required=True, help="item field that defines the groups"),
    "min_n": Param(_COUNT, help="groups with fewer items are reported as too small (default 10)"),
}

_CLASSES = {  # precision / recall / f1 (and gaps): which class, or which average over classes
    "label": Param((str, int), help="one class (its choice text, or its position with class_of: index)"),
    "average": Param(str, help="macro (mean over classes, default) or per_class (the worst class)"),
    "class_of": Param(str, help="text (default: an item's class is its gold choice's text) or index"),
}

# Each check kind and the parameters it takes. `checks.py` implements them.
CHECK_PARAMS: dict[str, dict[str, Param]] = {
    "accuracy": {
        "min": Param(_RATE, help="task accuracy floor"),
        "max": Param(_RATE, help="task accuracy ceiling"),
        **_STATS,
    },
    "gap": {
        **_GROUPS,
        "max": Param(_RATE, required=True, help="largest allowed accuracy difference between groups"),
        "paired": Param(bool, help="items are counterfactual pairs linked by `pair`"),
        "pair": Param(str, help="item field identifying the pair (with paired: true; default 'pair')"),
        "max_flip_rate": Param(_RATE, help="paired gaps only: largest allowed share of pairs whose "
                                          "correctness changes with the group (flips that cancel out "
                                          "leave the gap at 0)"),
        **_STATS,
    },
    "group_accuracy": {
        **_GROUPS,
        "min": Param(_RATE, required=True, help="floor for the worst group's accuracy"),
        **_STATS,
    },
    "likelihood_gap": {
        **_GROUPS,
        "max": Param(_NONNEG, required=True, help="largest allowed change of the gold answer's summed "
                                                   "log-likelihood (nats) between groups, per pair"),
        "pair": Param(str, help="item field identifying the counterfactual pair (default 'pair')"),
        "statistic": Param(str, help="'signed' (default: |mean change|) or 'absolute' (mean |change|)"),
        "measure": Param(str, help="'loglik' (default: the gold choice's summed log-likelihood) or 'choice' "
                                   "(its log-probability among the choices, log-softmax)"),
        **_STATS,
    },
    "preference": {
        "more": Param(str, required=True, help="item field with the first (e.g. more stereotypical) sentence"),
        "less": Param(str, required=True, help="item field with the second sentence"),
        "max_deviation": Param(_RATE, required=True, help="largest allowed |share preferring `more` - 0.5|"),
        **_STATS,
    },
    "calibration": {
        "max_ece": Param(_RATE, help="largest allowed expected calibration error"),
        "bins": Param(_COUNT, help="equal-width confidence bins (default 10)"),
        "by": Param(str, help="item field that defines groups (per-group ECE, calibration gap)"),
        "max_gap": Param(_RATE, help="largest allowed worst - best group ECE (with `by`)"),
        "min_n": Param(_COUNT, help="groups with fewer items are left out of the gap (default 10)"),
        **_STATS,
    },
    "bbq_bias": {
        "max": Param(_RATE, required=True, help="largest allowed max(|s_DIS|, |s_AMB|) (BBQ bias scores)"),
        "condition": Param(str, help="field: 'ambig' or 'disambig' (default context_condition)"),
        "polarity": Param(str, help="field: 'neg' or 'nonneg' (default question_polarity)"),
        "answer_info": Param(str, help="field: {answer field: [text, group]} (default answer_info)"),
        "stereotyped_groups": Param(str, help="field: list of stereotyped groups "
                                              "(default additional_metadata.stereotyped_groups)"),
        "label": Param(str, help="field: index of the right answer (default label)"),
        "answers": Param(list, help="the answer fields, in the task's choice order (default [ans0, ans1, ans2])"),
        **_STATS,
    },
    "consistency": {
        "of": Param(str, required=True, help="item field identifying the question its variants share"),
        "min": Param(_RATE, required=True, help="floor for the share of questions answered the same"),
        "by": Param(str, help="item field naming the variant (accuracy is reported per variant)"),
        **_STATS,
    },
    # Generation metrics (spec_metrics, checks/scores.py) and multiple choice as classification
    # (checks/classification.py).
    "score": {
        "min": Param(_RATE, help="floor for the task's generation metric (0-1)"),
        "max": Param(_RATE, help="ceiling for the task's generation metric (0-1)"),
        **_STATS,
    },
    "score_gap": {
        **_GROUPS,
        "max": Param(_RATE, required=True, help="largest allowed difference of the generation metric between groups"),
        **_STATS,
    },
    **{measure: {
        "min": Param(_RATE, help=f"floor for the {measure}"),
        "max": Param(_RATE, help=f"ceiling for the {measure}"),
        **_CLASSES,
        **_STATS,
    } for measure in ("precision", "recall", "f1")},
    **{f"{measure}_gap": {
        **_GROUPS,
        "max": Param(_RATE, required=True, help=f"largest allowed {measure} difference between groups"),
        **_CLASSES,
        **_STATS,
    } for measure in ("precision", "recall", "f1")},
    # `type: perplexity` tasks only (spec_perplexity.py, checks/perplexity.py)
    "perplexity": {
        "max": Param(_NONNEG, required=True, help="ceiling for the task's perplexity (in `unit`)"),
        "unit": Param(str, help="word (default), byte or bits_per_byte"),
        **_STATS,
    },
    "perplexity_ratio": {
        **_GROUPS,
        "max": Param(_NONNEG, required=True, help="ceiling (>= 1) for the worst group's perplexity over the best's"),
        "unit": Param(str, help="word (default), byte or bits_per_byte"),
        **_STATS,
    },
}

# Suite-level checks compare the suite's tasks with each other.
SUITE_CHECK_PARAMS: dict[str, dict[str, Param]] = {
    "spread": {
        "max": Param(_RATE, required=True, help="largest allowed accuracy difference between tasks"),
        **_STATS,
    },
    "shift": {
        "from": Param(str, required=True, help="the in-distribution task"),
        "to": Param(str, required=True, help="the shifted task"),
        "max_drop": Param(_RATE, required=True, help="largest allowed accuracy drop from `from` to `to`"),
        **_STATS,
    },
}


@dataclass(frozen=True)
class CheckSpec:
    kind: str
    params: dict[str, Any]
    line: int | None = None

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
    def pair_field(self) -> str | None:
        """The field linking counterfactual pairs, for `gap: {paired: true}`."""
        paired = self.params.get("paired") or self.kind == "likelihood_gap"
        return self.params.get("pair", "pair") if paired else None

    @property
    def fields(self) -> dict[str, str]:
        """Item fields this check reads, by parameter (validated against every item at collection)."""
        named = {"by": self.by, "pair": self.pair_field, "of": self.params.get("of"),
                 "more": self.params.get("more"), "less": self.params.get("less")}
        return {param: name for param, name in named.items() if name}

    @property
    def base_name(self) -> str:
        if self.kind == "shift":
            return f"shift[{self.params['from']}->{self.params['to']}]"
        if self.kind == "consistency":
            return f"consistency[{self.params['of']}]"
        return f"{self.kind}[{self.by}]" if self.by else self.kind


@dataclass(frozen=True)
class RegressionSpec:
    """`regression:` on a task: how it is compared with a `--misalign-baseline` results file."""

    max_drop: float | None = None  # None: --misalign-max-drop
    by: str | None = None  # also compare each group (the task's `by:` field)
    max_broken: int | float | None = None  # items right in the baseline and wrong now: a count (int >= 1) or share
    confidence: float = 0.95
    min_n: int = 10  # groups with fewer shared items are reported, not gated


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
    where: Any = None  # data_shape.Where: keep only the matching items
    rename: dict[str, str] | None = None  # old field (dotted allowed): new name

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
    type: str = "multiple_choice"  # or "generation" (with `generate:`) or "perplexity" (spec_perplexity.py)
    text: str | None = None  # type: perplexity: the document template (rendered into Instance.prompt)

    @property
    def max_drop(self) -> float | None:  # per-task override of --misalign-max-drop
        return self.regression.max_drop

    @property
    def is_generation(self) -> bool:
        return self.generate is not None

    @property
    def is_perplexity(self) -> bool:
        return self.type == "perplexity"

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
    "ANSWER_TYPES", "CHECK_PARAMS", "SUITE_CHECK_PARAMS", "CheckSpec", "DataSpec", "GenerateSpec", "Param",
    "RegressionSpec", "SuiteSpec", "TaskSpec", "TemplateSpec", "VarySpec", "unique_check_names",
]
