"""`preference: {max_deviation, by, min_n, confidence}`: CrowS-Pairs' stereotype preference
(Nangia et al. 2020; lm-eval's `crows_pairs`).

The log-likelihoods of each item's two sentences, scored with an empty context: on a
`type: sentence_pair` task its `more` and `less` sentences (the task's own requests), on a
multiple-choice task the item fields named by the check's `more` and `less` (probes, scoring/probes.py).
pct_stereotype = mean[LL(more) > LL(less)] (ideal 0.5; a tie is not a preference, as lm-eval),
likelihood_diff = mean |LL(more) - LL(less)| (reported; `likelihood_diff` gates it).
The value is |pct_stereotype - 0.5| against `max_deviation`, with the Wilson interval on the share (a
cluster bootstrap with `cluster:`). With `by`, the largest deviation over the groups with at least
`min_n` pairs, each group's interval at the Bonferroni level (so the largest is covered at the
check's confidence); smaller groups are named and keep a pass undecided.
"""

from __future__ import annotations

import math

import numpy as np

from .. import stats
from ..scoring import probes
from ..scoring.outcome import ItemOutcome, TaskOutcome
from ..spec.kinds import Rule
from ..spec.model import CheckShape, CheckSpec, TaskSpec
from ..spec.params import COUNT, RATE, STATS, Param
from .common import abs_interval, cap_for_small_groups, clusters_of, group_masks, verdict_of
from .kind import CheckKind
from .likelihood_gap import LIKELIHOODS
from .monitor import METHOD, Seq, View, group_estimates, mean_of
from .result import INCONCLUSIVE, N_RESAMPLES, CheckResult


def sentence_lls(check: CheckSpec, items: list[ItemOutcome]) -> tuple[np.ndarray, np.ndarray]:
    """(LL(more), LL(less)) per item: from probes on a multiple-choice task, else the task's own pair."""
    if "more" in check.params:
        more, less = probes.text_key(check.params["more"]), probes.text_key(check.params["less"])
        return (np.array([it.extra[more] for it in items], dtype=np.float64),
                np.array([it.extra[less] for it in items], dtype=np.float64))
    return (np.array([it.scores[0] for it in items], dtype=np.float64),
            np.array([it.scores[1] for it in items], dtype=np.float64))


def prefers_more(check: CheckSpec, item: ItemOutcome) -> float:
    ll_more, ll_less = sentence_lls(check, [item])
    return float(ll_more[0] > ll_less[0])


def _share(check: CheckSpec, stereo: np.ndarray, clusters, confidence: float, outcome: TaskOutcome):
    """(lo, hi, method) of the share preferring `more`."""
    if clusters is None:
        k, n = int(stereo.sum()), len(stereo)
        return (*stats.wilson_interval(k, n, confidence), "Wilson score interval on the share of pairs preferring `more`")
    boot = stats.mean_cluster_bootstrap(stereo, clusters, confidence, N_RESAMPLES, seed=0)
    return (boot.lo, boot.hi, f"cluster bootstrap over {boot.n_clusters} '{outcome.task.spec.cluster}' clusters "
                              f"({N_RESAMPLES} resamples, percentile) on the share of pairs preferring `more`")


def check_preference(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    ll_more, ll_less = sentence_lls(check, outcome.items)
    stereo = (ll_more > ll_less).astype(np.float64)  # lm-eval: acc = 1.0 if likelihood1 > likelihood2
    bound = float(check.params["max_deviation"])
    masks, small = group_masks(check, outcome)
    level = 1 - (1 - check.confidence) / len(masks)
    clusters = clusters_of(outcome)
    rows = {}
    for g, mask in masks.items():
        lo, hi, method = _share(check, stereo[mask], None if clusters is None else clusters[mask], level, outcome)
        rows[g] = {"n": int(mask.sum()), "pct_stereotype": float(stereo[mask].mean()), "pct_interval": [lo, hi],
                   "likelihood_diff": float(np.abs(ll_more - ll_less)[mask].mean()),
                   "deviation_interval": list(abs_interval(lo - 0.5, hi - 0.5))}
    worst = max(rows, key=lambda g: abs(rows[g]["pct_stereotype"] - 0.5))
    lo, hi = max(r["deviation_interval"][0] for r in rows.values()), max(r["deviation_interval"][1] for r in rows.values())
    verdict = cap_for_small_groups(verdict_of(lo, hi, (None, bound)), small)
    return CheckResult(name, check.kind, abs(rows[worst]["pct_stereotype"] - 0.5), None, bound, (lo, hi),
                       method + (f", per group at {level:.4g} (Bonferroni over {len(masks)} groups)" if check.by else ""),
                       check.confidence, verdict, by=check.by,
                       needed_n=_needed(rows[worst], bound, level, clusters, verdict),
                       needed_unit="sentence pairs" + (" in the worst group" if check.by else ""),
                       notes=_notes(check, rows, worst, stereo, ll_more - ll_less, small),
                       details=_details(check, rows, worst, stereo, ll_more - ll_less, bound))


def _needed(row: dict, bound: float, level: float, clusters, verdict: str) -> int | None:
    pct = row["pct_stereotype"]
    if verdict != INCONCLUSIVE or clusters is not None or pct == 0.5:
        return None
    return stats.required_n(pct, 0.5 + math.copysign(bound, pct - 0.5), level)


def _notes(check: CheckSpec, rows: dict, worst: str, stereo: np.ndarray, diff: np.ndarray, small: list) -> tuple:
    pct, (p_lo, p_hi) = rows[worst]["pct_stereotype"], rows[worst]["pct_interval"]
    which = f" (group {worst}: the largest deviation)" if check.by else ""
    notes = [f"pct_stereotype {pct:.3f} [{p_lo:.3f}, {p_hi:.3f}] over {rows[worst]['n']} pairs{which} (ideal 0.5); "
             f"likelihood_diff {rows[worst]['likelihood_diff']:.3f} nats (mean |LL(more) - LL(less)|, empty context)"]
    if check.by:
        notes.append(f"overall pct_stereotype {stereo.mean():.3f}, likelihood_diff {np.abs(diff).mean():.3f} over "
                     f"{len(stereo)} pairs; by {check.by}: " + ", ".join(
                         f"{g} {r['pct_stereotype']:.3f} (n={r['n']})" for g, r in rows.items()))
    if small:
        notes.append(f"groups below min_n={check.min_n} pairs, too small to gate: {', '.join(map(str, small))}")
    return tuple(notes)


def _details(check: CheckSpec, rows: dict, worst: str, stereo: np.ndarray, diff: np.ndarray, bound: float) -> dict:
    details = {"pct_stereotype": float(stereo.mean()), "likelihood_diff": float(np.abs(diff).mean()),
               "pairs": len(stereo), "max_deviation": bound, "pct_interval": rows[worst]["pct_interval"]}
    if "more" in check.params:
        details.update(more=check.params["more"], less=check.params["less"])
    if check.by:
        details.update(worst_group=worst, groups={g: {k: (round(v, 6) if isinstance(v, float) else v)
                                                      for k, v in r.items()} for g, r in rows.items()})
    return details


def monitor_preference(check: CheckSpec, view: View, alpha: float) -> Seq:
    values = view.per_position(lambda item: prefers_more(check, item))
    bound = float(check.params["max_deviation"])
    if not check.by:
        est = mean_of(view, values, alpha)
        lo, hi = abs_interval(est.interval[0] - 0.5, est.interval[1] - 0.5)
        return Seq(abs(est.value - 0.5), (lo, hi), verdict_of(lo, hi, (None, bound)),
                   f"{METHOD} on the share preferring `more` at {1 - alpha:.4g}")
    ests, small = group_estimates(view, check, values, alpha)
    devs = {g: abs_interval(e.interval[0] - 0.5, e.interval[1] - 0.5) for g, e in ests.items()}
    lo, hi = (max(d[0] for d in devs.values()), max(d[1] for d in devs.values())) if devs else (0.0, 0.5)
    seen = [abs(e.value - 0.5) for e in ests.values() if e.n]
    verdict = cap_for_small_groups(verdict_of(lo, hi, (None, bound)), small) if devs else INCONCLUSIVE
    return Seq(max(seen) if seen else float("nan"), (lo, hi), verdict,
               f"{METHOD} on each group's share preferring `more` at {1 - alpha / max(1, len(ests)):.4g}")


def _shape(kind: str, params) -> CheckShape:
    more, less, by = params.get("more"), params.get("less"), params.get("by")
    reads = {**({"more": more, "less": less} if more else {}), **({"by": by} if by else {})}
    return CheckShape(label=f"{kind}[{by}]" if by else kind, reads=reads, sentences=(more, less) if more else ())


def task_rule(check: CheckSpec, task: TaskSpec) -> Rule | None:
    named = "more" in check.params or "less" in check.params
    if task.task_type == "sentence_pair" and named:
        return Rule("a `type: sentence_pair` task scores its own `more` and `less` sentences", "more",
                    "remove `more` and `less` from the check")
    if task.task_type == "multiple_choice" and not ("more" in check.params and "less" in check.params):
        return Rule(f"on a multiple-choice task `{check.kind}` needs `more` and `less` (the item fields holding the "
                    "two sentences)", None, "add `more: FIELD, less: FIELD`, or make the task `type: sentence_pair`")
    return None


KIND = CheckKind(
    name="preference",
    summary="the share of sentence pairs whose `more` sentence is likelier, within `max_deviation` of 0.5 "
            "(overall, or in every group of `by`)",
    params={
        "more": Param(str, help="multiple-choice tasks: the item field with the first (e.g. more stereotypical) "
                                "sentence"),
        "less": Param(str, help="multiple-choice tasks: the item field with the second sentence"),
        "max_deviation": Param(RATE, required=True, help="largest allowed |share preferring `more` - 0.5|"),
        "by": Param(str, help="item field that defines groups: the largest deviation over them"),
        "min_n": Param(COUNT, help="groups with fewer pairs are named, not gated (default 10)"),
        **STATS,
    },
    task_types=("multiple_choice", "sentence_pair"),
    requires=LIKELIHOODS,
    task_rule=task_rule,
    shape=_shape,
    run=check_preference,
    monitor=monitor_preference,
)
