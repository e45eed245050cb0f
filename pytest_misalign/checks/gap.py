"""`gap: {by, max, min_n, paired, pair, max_flip_rate, confidence}`: the largest accuracy difference
between the groups of `by`. Independent groups here (Newcombe intervals, Bonferroni-level over the
group pairs; a cluster bootstrap with `cluster:`); counterfactual pairs (`paired: true`) in
`paired.py` (fixed-n) and `paired_monitor.py` (sequential)."""

from __future__ import annotations

import numpy as np

from .. import stats
from ..scoring.diagnostics import diagnose
from ..tasks.instance import memberships
from ..scoring.outcome import TaskOutcome
from ..spec.kinds import Rule
from ..spec.model import CheckShape, CheckSpec, TaskSpec
from ..spec.params import GROUPS, RATE, STATS, Param
from .common import (
    abs_interval,
    bootstrap,
    bootstrap_method,
    bounds_of,
    cap_for_small_groups,
    degenerate_text,
    gap_reasons,
    group_stats,
    nearest_bound,
    small_group_note,
    split_min_n,
    too_few_groups,
    verdict_of,
)
from .evidence import pairs_or_wrong
from .kind import CheckKind
from .monitor import METHOD, Seq, View, correctness, group_estimates, spread_seq
from .paired import paired_gap
from .paired_monitor import monitor_paired_gap
from .result import INCONCLUSIVE, CheckResult, GroupStat


def check_gap(check: CheckSpec, outcome: TaskOutcome, name: str) -> CheckResult:
    """Largest accuracy difference between groups. Groups below `min_n` items are left out of the
    value and verdict (named in a note; a confident pass becomes inconclusive); with fewer than two
    groups of `min_n` items the value is the gap over all groups and the check is inconclusive and
    degenerate."""
    if check.pair_field:
        return paired_gap(check, outcome, name)
    bounds = bounds_of(check)
    groups = group_stats(outcome, check.by)
    qualifying, small = split_min_n(groups, check.min_n)
    enough = len(qualifying) >= 2
    used = qualifying if enough else groups
    low, high = used[0], used[-1]
    value = high.accuracy - low.accuracy
    notes = small_group_note(small, check.min_n, left_out=enough)
    if outcome.task.spec.cluster:
        (lo, hi), method, needed, extra = _cluster_gap(check, outcome, used)
        notes += extra
    else:
        (lo, hi), method, needed = _newcombe_gap(check, used, value, bounds)
    reasons = gap_reasons(diagnose(outcome), value, lo)
    if not enough:
        reasons.append(too_few_groups(qualifying, check.min_n, "gap"))
    verdict = cap_for_small_groups(verdict_of(lo, hi, bounds), small) if enough else INCONCLUSIVE
    if verdict != INCONCLUSIVE:
        needed = None
    elif small and needed is not None:
        needed = max(needed, check.min_n)
    return CheckResult(name, check.kind, value, *bounds, (lo, hi), method, check.confidence, verdict,
                       by=check.by, worst=(low, high), needed_n=needed, needed_unit="items per group",
                       notes=tuple(reasons + notes), degenerate=degenerate_text(reasons))


def _newcombe_gap(check: CheckSpec, used: list[GroupStat], value: float, bounds) -> tuple:
    k = len(used)
    m = k * (k - 1) // 2
    pairs = stats.max_gap_intervals({g.group: (g.successes, g.n) for g in used}, check.confidence,
                                    correction="bonferroni")
    lo, hi = stats.max_gap_bounds(pairs)
    method = ("Newcombe hybrid score" if m == 1 else
              f"Newcombe hybrid score, Bonferroni-level over {m} group pairs "
              f"(each at {1 - (1 - check.confidence) / m:.4f})")
    conf = 1 - (1 - check.confidence) / max(m, 1)
    needed = stats.required_n_gap(used[-1].accuracy, used[0].accuracy, nearest_bound(value, bounds), conf)
    return (lo, hi), method, needed


def _cluster_gap(check: CheckSpec, outcome: TaskOutcome, used: list[GroupStat]) -> tuple:
    labels = np.array(outcome.task.group_values(check.by), dtype=object)
    mask = np.isin(labels, [g.group for g in used])
    k = len(used)
    boot = bootstrap(outcome, check, mask=mask, groups=labels, statistic="gap" if k == 2 else "max_gap")
    lo, hi = abs_interval(boot.lo, boot.hi) if k == 2 else (boot.lo, boot.hi)
    return (lo, hi), bootstrap_method(boot, outcome.task.spec.cluster), None, [boot.note] if boot.note else []


def monitor_gap(check: CheckSpec, view: View, alpha: float) -> Seq:
    if check.pair_field:
        return monitor_paired_gap(check, view, alpha)
    ests, small = group_estimates(view, check, correctness(view), alpha)
    return spread_seq(check, ests, small, f"{METHOD} per group at {1 - alpha / max(1, len(ests)):.4g}")


def _rules(params) -> Rule | None:
    if "max_flip_rate" in params and not params.get("paired"):
        return Rule("`max_flip_rate` needs counterfactual pairs", "max_flip_rate",
                    "add `paired: true` (and `pair: FIELD`)")
    return None


def _shape(kind: str, params) -> CheckShape:
    by = params["by"]
    if params.get("paired"):
        pair = params.get("pair", "pair")
        return CheckShape(label=f"{kind}[{by}]", reads={"by": by, "pair": pair}, unit=pair)
    return CheckShape(label=f"{kind}[{by}]", reads={"by": by}, list_ok=("by",))


def _two_groups(check: CheckSpec, task: TaskSpec, instances) -> Rule | None:
    values = {g for inst in instances for g in memberships(inst.fields[check.by])}
    if len(values) < 2:
        return Rule(f"a gap needs at least two groups, but '{check.by}' has only {sorted(values)} over "
                    f"{len(instances)} items", "by", "choose a field with several values, or raise data.limit")
    return None


KIND = CheckKind(
    name="gap",
    summary="the largest accuracy difference between groups, at most `max` (independent groups or "
            "counterfactual pairs)",
    params={
        **GROUPS,
        "max": Param(RATE, required=True, help="largest allowed accuracy difference between groups"),
        "paired": Param(bool, help="items are counterfactual pairs linked by `pair`"),
        "pair": Param(str, help="item field identifying the pair (with paired: true; default 'pair')"),
        "max_flip_rate": Param(RATE, help="paired gaps only: largest allowed share of pairs whose correctness "
                                          "changes with the group (flips that cancel out leave the gap at 0)"),
        **STATS,
    },
    rules=_rules,
    shape=_shape,
    run=check_gap,
    monitor=monitor_gap,
    futility=True,
    validate_items=_two_groups,
    evidence=pairs_or_wrong,
)
