"""Calibration of a multiple-choice task: `calibration: {max_ece, bins, by, max_gap, min_n, confidence}`.

Per item the choice probabilities are the softmax of the per-choice summed log-likelihoods (lm-eval's
`prob_norm = softmax(lls)`); confidence is the largest, correct whether that choice is the gold one
(top-label calibration, Guo et al. 2017, whatever the task's `metric`). ECE over `bins` equal-width
bins (default 10), Brier score as lm-eval's multiple-choice `brier_score` (`stats.calibration`).
`max_ece` bounds the task's ECE; with `by`, `max_gap` bounds the calibration gap across groups
(worst - best group ECE over the groups with at least `min_n` items), reported as a `Limit` when both
are given. Intervals: seeded percentile bootstrap over items (over `cluster:` clusters when declared),
stratified by which groups a unit holds; the ECE is recomputed in every replicate. Caveat: the binned
plug-in ECE is biased upwards on small samples (empty-ish bins); the interval is for that estimator.
"""

from __future__ import annotations

import numpy as np

from .. import stats
from ..errors import DataError
from ..scoring.outcome import TaskOutcome
from ..spec.kinds import Rule
from ..spec.model import CheckSpec
from ..spec.params import COUNT, RATE, STATS, Param
from ..stats import calibration as cal
from .common import clusters_of, split_min_n, group_stats, verdict_of
from .kind import CheckKind
from .likelihood_gap import LIKELIHOODS
from .result import FAIL, INCONCLUSIVE, N_RESAMPLES, PASS, CheckResult, Limit


def _arrays(outcome: TaskOutcome, name: str) -> tuple[list, list[int]]:
    if any(item.scores is None for item in outcome.items):
        raise DataError(f"check '{name}' needs per-choice log-likelihoods: task '{outcome.task.spec.name}' "
                        "generates text", path=outcome.task.suite.path, task=outcome.task.spec.name,
                        key="calibration", fix="use `calibration` on a multiple-choice task (with `choices:`)")
    return [item.scores for item in outcome.items], [int(item.answer) for item in outcome.items]


def check_calibration(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    bins = int(check.params.get("bins", 10))
    scores, gold = _arrays(outcome, name)
    conf, correct = cal.confidence_correct(scores, gold)
    brier = cal.brier_scores(scores, gold)
    labels = np.array(outcome.task.group_values(check.by) if check.by else ["all"] * outcome.n, dtype=object)
    clusters = clusters_of(outcome)
    overall, per_group, names = cal.ece_bootstrap(conf, correct, bins, labels, clusters, check.confidence,
                                                 N_RESAMPLES, seed=0)
    ece = cal.ece(conf, correct, bins)
    ece_ci = cal.percentile(overall, check.confidence)
    brier_ci = stats.mean_cluster_bootstrap(brier, clusters, check.confidence, N_RESAMPLES, seed=0)
    details = {"ece": ece, "ece_interval": list(ece_ci), "brier": float(brier.mean()),
               "brier_interval": [brier_ci.lo, brier_ci.hi], "bins": cal.reliability(conf, correct, bins),
               "n_bins": bins, "mean_confidence": float(conf.mean()), "accuracy_top": float(correct.mean())}
    notes = [f"ECE {ece:.3f} [{ece_ci[0]:.3f}, {ece_ci[1]:.3f}], Brier {brier.mean():.3f} "
             f"[{brier_ci.lo:.3f}, {brier_ci.hi:.3f}]; mean confidence {conf.mean():.3f}, accuracy {correct.mean():.3f}"]
    gap = _gap(check, outcome, conf, correct, brier, labels, names, per_group, bins, details, notes) if check.by else None
    return _result(check, name, ece, ece_ci, gap, details, notes, clusters is not None, outcome)


def _gap(check, outcome, conf, correct, brier, labels, names, per_group, bins, details, notes):
    """Per-group ECE/Brier into details; returns (gap, interval, worst, best) or None with < 2 groups."""
    groups = {}
    for g in names:
        m = labels.astype(str) == g
        groups[g] = {"n": int(m.sum()), "ece": cal.ece(conf[m], correct[m], bins), "brier": float(brier[m].mean()),
                     "mean_confidence": float(conf[m].mean()), "accuracy_top": float(correct[m].mean()),
                     "ece_interval": list(cal.percentile(per_group[:, names.index(g)], check.confidence))}
    details["groups"] = groups
    qualifying, small = split_min_n(group_stats(outcome, check.by), check.min_n)
    if small:
        notes.append(f"groups below min_n={check.min_n} items are left out of the calibration gap: "
                     + ", ".join(f"{g.group} ({g.n})" for g in small))
    used = [g.group for g in qualifying]
    if len(used) < 2:
        notes.append(f"fewer than two groups have {check.min_n} items: no calibration gap")
        return None
    cols = [names.index(g) for g in used]
    reps = per_group[:, cols].max(axis=1) - per_group[:, cols].min(axis=1)
    worst = max(used, key=lambda g: groups[g]["ece"])
    best = min(used, key=lambda g: groups[g]["ece"])
    value = groups[worst]["ece"] - groups[best]["ece"]
    lo, hi = cal.percentile(reps, check.confidence)
    details.update(calibration_gap=value, gap_interval=[lo, hi], worst_group=worst, best_group=best)
    notes.append(f"calibration gap {value:.3f} [{lo:.3f}, {hi:.3f}]: {worst} ECE {groups[worst]['ece']:.3f} vs "
                 f"{best} {groups[best]['ece']:.3f}")
    return value, (min(lo, value), max(hi, value)), bool(small)


def _result(check, name, ece, ece_ci, gap, details, notes, clustered, outcome) -> CheckResult:
    max_ece, max_gap = check.params.get("max_ece"), check.params.get("max_gap")
    method = (f"cluster bootstrap over '{outcome.task.spec.cluster}' clusters" if clustered else "bootstrap over items") \
        + f" ({N_RESAMPLES} resamples, percentile, ECE recomputed per resample)"
    gap_verdict = None
    if gap is not None and max_gap is not None:
        gap_verdict = verdict_of(*gap[1], (None, float(max_gap)))
        gap_verdict = INCONCLUSIVE if gap[2] and gap_verdict == PASS else gap_verdict
    elif max_gap is not None:
        gap_verdict = INCONCLUSIVE
    if max_ece is None:  # only the gap is bounded: it is the value
        value, interval = (gap[0], gap[1]) if gap else (float("nan"), (0.0, 1.0))
        return CheckResult(name, check.kind, value, None, float(max_gap), interval, method, check.confidence,
                           gap_verdict, by=check.by, notes=tuple(notes), details=details,
                           degenerate=None if gap else "fewer than two groups with min_n items")
    own = verdict_of(*ece_ci, (None, float(max_ece)))
    limits = ()
    verdict = own
    if max_gap is not None:
        g_value, g_int = (gap[0], gap[1]) if gap else (0.0, (0.0, 1.0))
        limits = (Limit("calibration gap", "max_gap", g_value, float(max_gap), g_int, gap_verdict),)
        verdict = FAIL if FAIL in (own, gap_verdict) else PASS if own == gap_verdict == PASS else INCONCLUSIVE
        details["own_verdict"] = own
    return CheckResult(name, check.kind, ece, None, float(max_ece), ece_ci, method, check.confidence, verdict,
                       by=check.by, notes=tuple(notes), details=details, limits=limits)


def _rules(params) -> Rule | None:
    if not {"max_ece", "max_gap"} & set(params):
        return Rule("check 'calibration' needs `max_ece` and/or `max_gap`", fix="e.g. `- calibration: {max_ece: 0.1}`")
    if "max_gap" in params and "by" not in params:
        return Rule("`max_gap` compares groups: it needs `by`", "max_gap", "add `by: FIELD` naming the groups")
    return None


KIND = CheckKind(
    name="calibration",
    summary="expected calibration error of the chosen answer (at most `max_ece`), and its gap between groups "
            "(at most `max_gap`)",
    params={
        "max_ece": Param(RATE, help="largest allowed expected calibration error"),
        "bins": Param(COUNT, help="equal-width confidence bins (default 10)"),
        "by": Param(str, help="item field that defines groups (per-group ECE, calibration gap)"),
        "max_gap": Param(RATE, help="largest allowed worst - best group ECE (with `by`)"),
        "min_n": Param(COUNT, help="groups with fewer items are left out of the gap (default 10)"),
        **STATS,
    },
    task_types=("multiple_choice",),
    requires=LIKELIHOODS,
    rules=_rules,
    run=check_calibration,
    no_monitor="expected calibration error is not a mean of per-item values",
)
