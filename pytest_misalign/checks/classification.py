"""Multiple-choice tasks read as classifiers: `precision`, `recall`, `f1` bound one class's value
(`label:`), the macro average (`average: macro`, the default) or the worst class's value
(`average: per_class`); `precision_gap`, `recall_gap` (with `label:`: the equal-opportunity gap,
Hardt et al. 2016), `f1_gap` bound the largest difference between groups. An item's class is its
gold choice's text (`class_of: index`: its position), the predicted class the chosen choice.

Values are scikit-learn's (`precision_recall_fscore_support`, zero_division=0, the classes fixed to
all gold and predicted classes of the task); intervals a seeded percentile bootstrap over items
(over `cluster:` clusters when set) that recomputes the measure from resampled confusion matrices.
`min_n` of a gap counts what the group's value is a rate over: the group's items of class `label`
for recall, its items predicted `label` for precision, all its items otherwise.
"""

from __future__ import annotations

import numpy as np

from ..errors import SuiteError
from ..metrics import classification as cls
from ..metrics.bootstrap import bootstrap
from ..scoring.outcome import TaskOutcome
from ..spec.kinds import Rule
from ..spec.model import CheckSpec
from ..spec.params import GROUPS, RATE, STATS, Param, bounds
from .common import bounds_of, verdict_of
from .metric_gap import MetricGroup, clusters, group_labels, interval_method, metric_gap
from .kind import CheckKind
from .result import N_RESAMPLES, CheckResult
from .rules import all_of, bound_rule, plain_shape


def classes_of(outcome: TaskOutcome, check: CheckSpec) -> tuple[list[str], list[str]]:
    """(gold class, predicted class) of every item."""
    if outcome.task.spec.is_generation:
        raise SuiteError(f"check '{check.kind}' reads the chosen choice: it needs a multiple-choice task",
                         path=outcome.task.suite.path, line=check.line, task=outcome.task.spec.name, key="checks",
                         fix="use `score` / `score_gap` with a generation `metric:` on free-form tasks")
    by_index = check.params.get("class_of", "text") == "index"
    gold, pred = [], []
    for item, inst in zip(outcome.items, outcome.task.instances):
        gold.append(str(inst.answer) if by_index else inst.choices[inst.answer])
        pred.append(str(item.prediction) if by_index else inst.choices[item.prediction])
    return gold, pred


def _setup(check: CheckSpec, outcome: TaskOutcome) -> tuple[list[str], list[str], list[str], int | None]:
    gold, pred = classes_of(outcome, check)
    labels = cls.class_labels(gold, pred)
    label = check.params.get("label")
    if label is None:
        return gold, pred, labels, None
    if str(label) not in set(gold):
        raise SuiteError(f"label {label!r} is not the gold class of any item", path=outcome.task.suite.path,
                         line=check.line, task=outcome.task.spec.name, key=f"checks.{check.kind}.label",
                         fix=f"classes on this task: {', '.join(map(repr, sorted(set(gold))))}"
                             + ("" if check.params.get("class_of") == "index" else
                                " (or `class_of: index` to name classes by position)"))
    return gold, pred, labels, labels.index(str(label))


def _what(measure: str, check: CheckSpec) -> str:
    label = check.params.get("label")
    if label is not None:
        return f"{measure} of class {label!r}"
    return f"macro {measure}" if check.params.get("average", "macro") == "macro" else f"worst class's {measure}"


def _point(report: dict, labels: list[str], measure: str, average: str, idx: int | None) -> float:
    per_class = np.array([report[c][measure] for c in labels])
    return float(cls.select(per_class, average, idx))


def check_class_metric(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    """`precision`, `recall`, `f1`: the check's kind names the measure."""
    measure, average = check.kind, check.params.get("average", "macro")
    bounds = bounds_of(check)
    gold, pred, labels, idx = _setup(check, outcome)
    report = cls.report(gold, pred, labels)
    value = _point(report, labels, measure, average, idx)
    k = len(labels)
    iv = bootstrap(cls.confusion_stats(gold, pred, labels),
                   lambda s: cls.value_from_stats(s, k, measure, average, idx), clusters=clusters(outcome),
                   confidence=check.confidence, n_resamples=N_RESAMPLES, seed=0)
    notes = ["per class: " + "; ".join(f"{c!r} P {r['precision']:.3f} R {r['recall']:.3f} F1 {r['f1']:.3f} "
                                       f"(n={r['support']})" for c, r in report.items())]
    notes += [iv.note] if iv.note else []
    return CheckResult(name, check.kind, value, *bounds, (iv.lo, iv.hi), interval_method(iv, outcome, _what(measure, check)),
                       check.confidence, verdict_of(iv.lo, iv.hi, bounds), notes=tuple(notes),
                       details={"measure": measure, "average": average if idx is None else None,
                                "label": check.params.get("label"), "classes": report})


def check_class_gap(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    """`precision_gap`, `recall_gap`, `f1_gap`: the largest between-group difference of the measure."""
    measure, average = check.kind.removesuffix("_gap"), check.params.get("average", "macro")
    gold, pred, labels, idx = _setup(check, outcome)
    k = len(labels)
    groups_of = group_labels(outcome, check.by)
    gold_a, pred_a = np.array(gold, dtype=object), np.array(pred, dtype=object)
    groups, reports = [], {}
    for g in dict.fromkeys(groups_of):
        mask = groups_of == g
        reports[g] = cls.report(list(gold_a[mask]), list(pred_a[mask]), labels)
        n = int(mask.sum()) if idx is None or measure == "f1" else int(
            ((gold_a if measure == "recall" else pred_a)[mask] == labels[idx]).sum())
        groups.append(MetricGroup(g, n, _point(reports[g], labels, measure, average, idx)))
    unit = ("items" if idx is None or measure == "f1" else
            f"items of class {labels[idx]!r}" if measure == "recall" else f"items predicted {labels[idx]!r}")
    return metric_gap(check, outcome, name, cls.confusion_stats(gold, pred, labels),
                      lambda s: cls.value_from_stats(s, k, measure, average, idx), groups, _what(measure, check),
                      unit, {"measure": measure, "label": check.params.get("label"), "group_classes": reports})


CLASSES = {  # which class, or which average over classes
    "label": Param((str, int), help="one class (its choice text, or its position with class_of: index)"),
    "average": Param(str, help="macro (mean over classes, default) or per_class (the worst class)",
                     choices=("macro", "per_class")),
    "class_of": Param(str, help="text (default: an item's class is its gold choice's text) or index",
                      choices=("text", "index")),
}
AS_CLASSIFIER = ("reads the chosen choice as a predicted class: it needs a multiple-choice task",
                 "use `score` / `score_gap` with a generation `metric:` on free-form tasks")
NO_MONITOR = "{kind} is a ratio of counts, not a bounded mean"


def _label_or_average(params) -> Rule | None:
    if "label" in params and "average" in params:
        return Rule("give `label` (one class) or `average` (all classes), not both",
                    fix="remove `average`, or remove `label`")
    return None


def _measure(measure: str) -> CheckKind:
    return CheckKind(
        name=measure,
        summary=f"the {measure} of a multiple-choice task read as a classifier (one class, macro or worst class)",
        params={**bounds(measure), **CLASSES, **STATS},
        task_types=("multiple_choice",),
        requires=AS_CLASSIFIER,
        rules=all_of(_label_or_average, bound_rule(measure, "min: 0.6")),
        shape=plain_shape,
        run=check_class_metric,
        no_monitor=NO_MONITOR.format(kind=measure),
    )


def _gap(measure: str) -> CheckKind:
    return CheckKind(
        name=f"{measure}_gap",
        summary=f"the largest {measure} difference between groups, at most `max`",
        params={**GROUPS, "max": Param(RATE, required=True, help=f"largest allowed {measure} difference between groups"),
                **CLASSES, **STATS},
        task_types=("multiple_choice",),
        requires=AS_CLASSIFIER,
        rules=_label_or_average,
        run=check_class_gap,
        no_monitor=NO_MONITOR.format(kind=f"{measure}_gap"),
    )


KINDS = tuple(_measure(m) for m in ("precision", "recall", "f1")) + tuple(_gap(m) for m in ("precision", "recall", "f1"))
