"""`likelihood_gap`: the counterfactual likelihood gap, the data-bias loss of the problem statement.

`likelihood_gap: {by, pair, max, statistic}`: the loss under a perturbation, l(M(x + delta), y).
For each pair id and each two groups (g1, g2) holding it, Delta_l = LL_gold(g1) - LL_gold(g2), where
LL_gold = `ItemOutcome.scores[answer]` is the SUMMED log-likelihood (nats) of the gold continuation
`delimiter + choice` given the prompt, as lm-eval's `loglikelihood` returns it (and as `acc` ranks
choices). Summed, not per token: in a counterfactual pair the continuation is the same text, so
the sum is the loss of the same target y and a per-token mean would only rescale it. The value is
|mean signed Delta_l| (`statistic: signed`, default: a systematic shift towards one group) or
mean |Delta_l| (`statistic: absolute`: any sensitivity to the group, shifts that cancel included),
the largest over the group pairs. Interval: a seeded percentile bootstrap of the mean over pairs
(`stats.mean_cluster_bootstrap`; whole `cluster:` clusters resampled when the task declares one),
each group pair at the Bonferroni level 1 - (1 - confidence)/m, as the paired accuracy gap.
`measure: choice` uses log P(gold | choices) = LL_gold - logsumexp(LL_choices) instead (minus the
multiple-choice cross-entropy loss): it ignores what the group term does to the likelihood of every
choice alike (e.g. a rarer name making any continuation less likely) and keeps only the shift of the
model's preference between the choices.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import stats as sps

from .. import stats
from ..errors import DataError
from ..scoring.outcome import TaskOutcome
from ..spec.kinds import Rule
from ..spec.model import CheckShape, CheckSpec
from ..spec.params import GROUPS, NONNEG, STATS, Param
from .common import (
    abs_interval,
    cap_for_small_groups,
    group_stats,
    small_group_note,
    split_min_n,
    too_few_groups,
    verdict_of,
)
from .paired import pair_clusters
from .evidence import pairs_or_wrong
from .kind import CheckKind
from .result import INCONCLUSIVE, N_RESAMPLES, CheckResult

UNITS = {"loglik": "nats, summed over the gold continuation's tokens",
         "choice": "nats, log-probability of the gold choice among the choices"}


def gold_value(scores, answer: int, measure: str) -> float:
    s = np.asarray(scores, dtype=np.float64)
    return float(s[answer] - (np.logaddexp.reduce(s) if measure == "choice" else 0.0))


def gold_cells(outcome: TaskOutcome, by: str, pair: str,
               measure: str = "loglik") -> tuple[dict[str, dict[str, float]], int]:
    """({pair id: {group: gold log-likelihood}}, number of pairs whose gold text differs by group)."""
    cells: dict[str, dict[str, float]] = {}
    texts: dict[str, set[str]] = {}
    for inst, label, item in zip(outcome.task.instances, outcome.task.group_values(by), outcome.items):
        if item.scores is None:
            raise DataError(f"'likelihood_gap' needs per-choice log-likelihoods: task '{outcome.task.spec.name}' "
                            "has none", path=outcome.task.suite.path, task=outcome.task.spec.name,
                            key="likelihood_gap", fix="use it on a multiple-choice task (with `choices:`)")
        pid = str(inst.fields[pair])
        cells.setdefault(pid, {})[label] = gold_value(item.scores, int(item.answer), measure)
        texts.setdefault(pid, set()).add(inst.choices[int(item.answer)])
    return cells, sum(1 for t in texts.values() if len(t) > 1)


def _contrast(cells, g1: str, g2: str, conf: float, clusters: dict[str, str] | None) -> dict:
    ids = [pid for pid, m in cells.items() if g1 in m and g2 in m]
    d = np.array([cells[p][g1] - cells[p][g2] for p in ids])
    cl = [clusters[p] for p in ids] if clusters is not None else None
    signed = stats.mean_cluster_bootstrap(d, cl, conf, N_RESAMPLES, seed=0)
    absolute = stats.mean_cluster_bootstrap(np.abs(d), cl, conf, N_RESAMPLES, seed=0)
    half = sps.t.ppf(1 - (1 - conf) / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else math.inf
    return {"groups": [g1, g2], "pairs": len(ids), "mean_signed": float(d.mean()), "mean_abs": float(np.abs(d).mean()),
            "signed_interval": [signed.lo, signed.hi], "abs_interval": [absolute.lo, absolute.hi],
            "t_interval": [float(d.mean() - half), float(d.mean() + half)], "sd": float(d.std(ddof=1)) if len(d) > 1
            else 0.0, "sd_abs": float(np.abs(d).std(ddof=1)) if len(d) > 1 else 0.0, "note": signed.note}


def check_likelihood_gap(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    bounds = (None, float(check.params["max"]))
    statistic = check.params.get("statistic", "signed")
    pair = check.params.get("pair", "pair")
    all_groups = group_stats(outcome, check.by)
    qualifying, small = split_min_n(all_groups, check.min_n)
    enough = len(qualifying) >= 2
    used = sorted(g.group for g in (qualifying if enough else all_groups))
    measure = check.params.get("measure", "loglik")
    cells, differing = gold_cells(outcome, check.by, pair, measure)
    pairs_of = [(g1, g2) for g1, g2 in itertools.combinations(used, 2)
                if any(g1 in m and g2 in m for m in cells.values())]
    if not pairs_of:
        raise DataError(f"no counterfactual pair (field '{pair}') holds two '{check.by}' groups",
                        path=outcome.task.suite.path, task=outcome.task.spec.name, key=f"likelihood_gap.{pair}",
                        fix="name the item field that links the items of a pair (`pair: FIELD`)")
    conf = 1 - (1 - check.confidence) / len(pairs_of)
    clusters = pair_clusters(outcome, pair) if outcome.task.spec.cluster else None
    rows = [_contrast(cells, g1, g2, conf, clusters) for g1, g2 in pairs_of]
    for r in rows:
        r["value"] = abs(r["mean_signed"]) if statistic == "signed" else r["mean_abs"]
        r["value_interval"] = list(abs_interval(*r["signed_interval"]) if statistic == "signed" else r["abs_interval"])
    worst = max(rows, key=lambda r: r["value"])
    lo, hi = max(r["value_interval"][0] for r in rows), max(r["value_interval"][1] for r in rows)
    verdict = cap_for_small_groups(verdict_of(lo, hi, bounds), small) if enough else INCONCLUSIVE
    group_ll = _group_means(outcome, check.by, measure)
    notes = [f"mean gold log-likelihood by group ({UNITS[measure]}): "
             + ", ".join(f"{g} {v:.3f}" for g, v in group_ll.items()),
             f"{worst['groups'][0]} - {worst['groups'][1]}: mean signed {worst['mean_signed']:+.3f}, mean |.| "
             f"{worst['mean_abs']:.3f} over {worst['pairs']} pairs"]
    notes += small_group_note(small, check.min_n, left_out=enough)
    reasons = [] if enough else [too_few_groups(qualifying, check.min_n, "likelihood gap")]
    if differing:
        notes.append(f"{differing} pairs have a different gold text per group: their Delta_l mixes the change "
                     "of target with the change of group")
    notes += [f"{r['groups'][0]} vs {r['groups'][1]}: {r['note']}" for r in rows if r["note"]]
    needed = _needed(worst, bounds[1], conf, statistic) if verdict == INCONCLUSIVE and clusters is None else None
    groups = {g.group: g for g in all_groups}
    g_lo, g_hi = sorted(worst["groups"], key=lambda g: group_ll[g])
    details = {"statistic": statistic, "measure": measure, "unit": UNITS[measure], "pairs": worst["pairs"], "mean_signed": worst["mean_signed"],
               "mean_abs": worst["mean_abs"], "group_mean_ll": group_ll, "contrasts": rows}
    return CheckResult(name, check.kind, worst["value"], *bounds, (lo, hi), _method(len(rows), clusters, outcome),
                       check.confidence, verdict, by=check.by, worst=(groups[g_lo], groups[g_hi]), needed_n=needed,
                       needed_unit="counterfactual pairs", notes=tuple(reasons + notes), details=details,
                       degenerate="; ".join(reasons) or None)


def _group_means(outcome: TaskOutcome, by: str, measure: str) -> dict[str, float]:
    sums: dict[str, list[float]] = {}
    for label, item in zip(outcome.task.group_values(by), outcome.items):
        sums.setdefault(label, []).append(gold_value(item.scores, int(item.answer), measure))
    return {g: float(np.mean(v)) for g, v in sums.items()}


def _method(m: int, clusters: dict[str, str] | None, outcome: TaskOutcome) -> str:
    family = f", Bonferroni-level over {m} group pairs" if m > 1 else ""
    if clusters is None:
        return f"bootstrap over counterfactual pairs ({N_RESAMPLES} resamples, percentile){family}"
    return (f"cluster bootstrap of pair log-likelihood differences over {len(set(clusters.values()))} "
            f"'{outcome.task.spec.cluster}' clusters ({N_RESAMPLES} resamples, percentile){family}")


def _needed(worst: dict, bound: float, conf: float, statistic: str) -> int | None:
    """Pairs for a normal-approximation interval around the observed mean to exclude `bound`."""
    value = worst["value"]
    sd = worst["sd"] if statistic == "signed" else worst["sd_abs"]
    if abs(value - bound) < 1e-12 or sd == 0:
        return None
    z = sps.norm.ppf(1 - (1 - conf) / 2)
    return max(int(math.ceil((z * sd / (value - bound)) ** 2)), worst["pairs"] + 1)


LIKELIHOODS = ("needs log-likelihoods: it applies to multiple-choice tasks",
               "remove `generate:` or move the check to a multiple-choice task (with `choices:`)")


def _rules(params) -> Rule | None:
    if params.get("statistic", "signed") not in ("signed", "absolute"):
        return Rule(f"unknown statistic {params['statistic']!r} for 'likelihood_gap'", "statistic",
                    "use `statistic: signed` (|mean change|, the default) or `statistic: absolute` (mean |change|)")
    if params.get("measure", "loglik") not in ("loglik", "choice"):
        return Rule(f"unknown measure {params['measure']!r} for 'likelihood_gap'", "measure",
                    "use `measure: loglik` (the gold choice's log-likelihood, the default) or `measure: choice` "
                    "(its log-probability among the choices)")
    return None


def _shape(kind: str, params) -> CheckShape:
    by, pair = params["by"], params.get("pair", "pair")
    return CheckShape(label=f"{kind}[{by}]", reads={"by": by, "pair": pair}, unit=pair)


KIND = CheckKind(
    name="likelihood_gap",
    summary="the change of the gold answer's log-likelihood between groups of counterfactual pairs, at most `max` nats",
    params={
        **GROUPS,
        "max": Param(NONNEG, required=True, help="largest allowed change of the gold answer's summed "
                                                 "log-likelihood (nats) between groups, per pair"),
        "pair": Param(str, help="item field identifying the counterfactual pair (default 'pair')"),
        "statistic": Param(str, help="'signed' (default: |mean change|) or 'absolute' (mean |change|)"),
        "measure": Param(str, help="'loglik' (default: the gold choice's summed log-likelihood) or 'choice' "
                                   "(its log-probability among the choices, log-softmax)"),
        **STATS,
    },
    task_types=("multiple_choice",),
    requires=LIKELIHOODS,
    rules=_rules,
    shape=_shape,
    run=check_likelihood_gap,
    no_monitor="its per-pair log-likelihood differences are unbounded (a sequence needs a bounded mean)",
    evidence=pairs_or_wrong,
)
