"""Checks against independent references: statsmodels / scipy values and hand-computed numbers."""

import textwrap

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from pytest_misalign.checks import KINDS
from pytest_misalign.baseline.match import BaselineError, BaselineTask
from pytest_misalign.baseline.regression import compare
from pytest_misalign.checks import run_check, run_suite_check
from pytest_misalign.scoring.outcome import ItemOutcome, TaskOutcome
from helpers import one_task


def make_outcome(tmp_path, rows, correct, *, extra_task="", name="suite.yaml"):
    """A task over `rows` (dicts) whose item i is answered right iff correct[i]. The gold answer
    alternates between the two choices (a row may set its own `label`): with one gold position for
    every item the chance level would be 100 % and every gap check degenerate."""
    rows = [dict({"label": i % 2}, **row, q=f"q{i}") for i, row in enumerate(rows)]
    task = one_task(tmp_path, rows, 'prompt: "{q}"\nchoices: ["yes", "no"]\nanswer: "{label}"\n'
                    + textwrap.dedent(extra_task), name=name)
    outcomes = [ItemOutcome(i.index, i.answer, i.answer if ok else 1 - i.answer, bool(ok), (0.0, -1.0))
                for i, ok in zip(task.instances, correct)]
    return TaskOutcome(task, outcomes)


def check(kind, **params):
    return KINDS.check(kind, params)


def groups_rows(counts):
    """counts: {group: (right, n)} -> rows and correctness."""
    rows, correct = [], []
    for g, (right, n) in counts.items():
        rows += [{"g": g}] * n
        correct += [True] * right + [False] * (n - right)
    return rows, correct


def test_accuracy_wilson_interval_and_verdicts(tmp_path):
    rows, correct = groups_rows({"a": (40, 50)})
    outcome = make_outcome(tmp_path, rows, correct)
    ref = proportion_confint(40, 50, alpha=0.05, method="wilson")
    r = run_check(check("accuracy", min=0.6), outcome, "accuracy")
    assert r.value == pytest.approx(0.8) and r.interval == pytest.approx(ref, abs=1e-12)
    assert r.verdict == "pass" and r.passes("point") and r.passes("confident")
    r = run_check(check("accuracy", min=0.75), outcome, "accuracy")  # 0.75 inside [0.670, 0.888]
    assert r.verdict == "inconclusive" and r.passes("point") and not r.passes("confident")
    assert r.needed_n is not None and r.needed_n > 50
    r = run_check(check("accuracy", min=0.95, confidence=0.99), outcome, "accuracy")
    assert r.interval == pytest.approx(proportion_confint(40, 50, alpha=0.01, method="wilson"), abs=1e-12)
    assert r.verdict == "fail" and not r.passes("point")
    r = run_check(check("accuracy", min=0.5, max=0.7), outcome, "accuracy")
    assert r.verdict == "inconclusive" and not r.passes("point") and r.requirement == "in [0.5, 0.7]"


def test_needed_n_actually_decides(tmp_path):
    from pytest_misalign.stats import wilson_interval

    rows, correct = groups_rows({"a": (40, 50)})
    r = run_check(check("accuracy", min=0.75), make_outcome(tmp_path, rows, correct), "accuracy")
    n = r.needed_n
    assert wilson_interval(0.8 * n, n)[0] > 0.75 >= wilson_interval(0.8 * (n - 1), n - 1)[0]


def test_two_group_gap_is_newcombe(tmp_path):
    rows, correct = groups_rows({"a": (45, 50), "b": (30, 50)})
    r = run_check(check("gap", by="g", max=0.1), make_outcome(tmp_path, rows, correct), "gap[g]")
    lo, hi = confint_proportions_2indep(45, 50, 30, 50, compare="diff", method="newcomb", alpha=0.05)
    assert r.value == pytest.approx(0.3)
    assert r.interval == pytest.approx((lo, hi), abs=1e-9)
    assert r.verdict == "fail" and [g.group for g in r.worst] == ["b", "a"]


def test_many_group_gap_uses_bonferroni_level_intervals(tmp_path):
    counts = {"a": (45, 50), "b": (30, 50), "c": (40, 50)}
    rows, correct = groups_rows(counts)
    r = run_check(check("gap", by="g", max=0.5), make_outcome(tmp_path, rows, correct), "gap[g]")
    alpha = 0.05 / 3  # three pairs
    pairs = [("a", "b"), ("a", "c"), ("c", "b")]
    refs = [confint_proportions_2indep(*counts[x], *counts[y], compare="diff", method="newcomb", alpha=alpha)
            for x, y in pairs]
    # simultaneous interval for the largest |difference|: [max lower-abs, max upper-abs]
    expected = (max(max(lo, 0) for lo, hi in refs), max(max(hi, -lo) for lo, hi in refs))
    assert r.interval == pytest.approx(expected, abs=1e-9)
    assert r.value == pytest.approx(0.3) and r.verdict == "pass"


def test_group_accuracy_every_group_must_clear_the_floor(tmp_path):
    rows, correct = groups_rows({"a": (45, 50), "b": (20, 50)})
    r = run_check(check("group_accuracy", by="g", min=0.6), make_outcome(tmp_path, rows, correct), "ga")
    assert r.value == pytest.approx(0.4) and r.worst[0].group == "b"
    assert r.interval == pytest.approx(proportion_confint(20, 50, method="wilson"), abs=1e-12)
    assert r.verdict == "fail"
    r = run_check(check("group_accuracy", by="g", min=0.3), make_outcome(tmp_path, rows, correct), "ga")
    assert r.verdict == "inconclusive"  # b: [0.276, 0.538] straddles 0.3


def test_small_groups_are_flagged_and_never_confidently_pass(tmp_path):
    rows, correct = groups_rows({"a": (50, 50), "b": (5, 5)})
    r = run_check(check("gap", by="g", max=0.9), make_outcome(tmp_path, rows, correct), "gap[g]")
    assert r.value == 0.0 and r.point_verdict == "pass"
    assert r.verdict == "inconclusive" and any("b (5)" in n for n in r.notes)
    r = run_check(check("gap", by="g", max=0.9, min_n=5), make_outcome(tmp_path, rows, correct), "gap[g]")
    assert not r.notes


def pair_rows(pattern):
    """pattern: list of (group-a right, group-b right) per counterfactual pair."""
    rows, correct = [], []
    for k, (ra, rb) in enumerate(pattern):
        rows += [{"g": "a", "pair": f"p{k}"}, {"g": "b", "pair": f"p{k}"}]
        correct += [ra, rb]
    return rows, correct


def test_paired_gap_uses_the_pairs(tmp_path):
    # 30 both right, 12 only a, 3 only b, 5 both wrong
    pattern = [(1, 1)] * 30 + [(1, 0)] * 12 + [(0, 1)] * 3 + [(0, 0)] * 5
    rows, correct = pair_rows(pattern)
    outcome = make_outcome(tmp_path, rows, correct)
    r = run_check(check("gap", by="g", max=0.1, paired=True), outcome, "gap[g]")
    assert r.value == pytest.approx((12 - 3) / 50)
    assert r.details["pairs"] == 50 and r.details["flip_rate"] == pytest.approx(15 / 50)
    ref_p = mcnemar([[30, 12], [3, 5]], exact=True).pvalue
    assert r.details["mcnemar_p"] == pytest.approx(ref_p, rel=1e-6)
    from pytest_misalign.stats import paired_difference_interval

    assert r.interval == pytest.approx(paired_difference_interval(12, 3, 50, 0.95, a=30), abs=1e-12)
    assert r.method.startswith("Newcombe paired")
    # the same data treated as independent groups gives a wider interval than the paired one
    ind = run_check(check("gap", by="g", max=0.1), outcome, "gap[g]")
    assert ind.interval[1] - ind.interval[0] > r.interval[1] - r.interval[0]


def test_paired_gap_reports_incomplete_pairs(tmp_path):
    rows, correct = pair_rows([(1, 1)] * 20 + [(1, 0)] * 5)
    rows.append({"g": "a", "pair": "lonely"})
    correct.append(True)
    r = run_check(check("gap", by="g", max=0.3, paired=True), make_outcome(tmp_path, rows, correct), "gap[g]")
    assert r.details["pairs"] == 25 and any("1 pair ids lack some group" in n for n in r.notes)


def test_cluster_bootstrap_is_used_and_deterministic(tmp_path):
    rng = np.random.default_rng(1)
    rows, correct = [], []
    for c in range(20):
        p = rng.uniform(0.3, 0.95)
        for g in ("a", "b"):
            for _ in range(5):
                rows.append({"g": g, "template": f"t{c}"})
                correct.append(bool(rng.random() < p))
    outcome = make_outcome(tmp_path, rows, correct, extra_task="cluster: template\n")
    r1 = run_check(check("accuracy", min=0.5), outcome, "accuracy")
    r2 = run_check(check("accuracy", min=0.5), outcome, "accuracy")
    assert r1.method.startswith("cluster bootstrap over 20 'template' clusters")
    assert r1.interval == r2.interval
    wilson = proportion_confint(sum(correct), len(correct), method="wilson")
    assert r1.interval[1] - r1.interval[0] > wilson[1] - wilson[0]  # correlated items: wider
    g = run_check(check("gap", by="g", max=0.5), outcome, "gap[g]")
    assert g.method.startswith("cluster bootstrap") and 0 <= g.interval[0] <= g.value <= g.interval[1]


def test_consistency_over_variants(tmp_path):
    # 4 questions x 2 variants; item outcomes are set so predictions differ on q2 and q3.
    rows = [{"qid": f"q{k}", "variant": v, "label": k % 2} for k in range(4) for v in ("plain", "paraphrase")]
    correct = [True, True, False, False, True, False, False, True]
    outcome = make_outcome(tmp_path, rows, correct)
    r = run_check(check("consistency", of="qid", min=0.4, by="variant"), outcome, "consistency[qid]")
    assert r.value == pytest.approx(2 / 4)
    assert r.interval == pytest.approx(proportion_confint(2, 4, method="wilson"), abs=1e-12)
    assert r.details == {"questions": 4, "consistent": 2}


def test_spread_and_shift_across_tasks(tmp_path):
    a = make_outcome(tmp_path, *groups_rows({"x": (45, 50)}), name="a.yaml")
    b = make_outcome(tmp_path, *groups_rows({"x": (30, 50)}), name="b.yaml")
    c = make_outcome(tmp_path, *groups_rows({"x": (40, 50)}), name="c.yaml")
    outcomes = {"a": a, "b": b, "c": c}
    spread = run_suite_check(check("spread", max=0.5), outcomes, "spread")
    assert spread.value == pytest.approx(0.3) and [g.group for g in spread.worst] == ["b", "a"]
    shift = run_suite_check(check("shift", **{"from": "a", "to": "b", "max_drop": 0.1}), outcomes, "shift")
    assert shift.value == pytest.approx(0.3)
    ref = confint_proportions_2indep(45, 50, 30, 50, compare="diff", method="newcomb")
    assert shift.interval == pytest.approx(ref, abs=1e-9) and shift.verdict == "fail"


def baseline_for(outcome, correct, key_override=None):
    keys = outcome.task.item_keys()
    items = {i.index: {"index": i.index, "correct": ok, "key": key_override or k}
             for i, ok, k in zip(outcome.items, correct, keys)}
    return BaselineTask("s", "t", outcome.task.suite.sha256, items, "old-model")


def test_regression_against_baseline(tmp_path):
    # baseline 40/50 right; candidate fixes 2 and breaks 7 -> 35/50: drop 0.10
    base_correct = [True] * 40 + [False] * 10
    cand_correct = [True] * 33 + [False] * 7 + [True] * 2 + [False] * 8
    outcome = make_outcome(tmp_path, *groups_rows({"x": (0, 50)})[:1], cand_correct)
    r = compare(outcome, baseline_for(outcome, base_correct), max_drop=0.02, confidence=0.95)
    assert r.value == pytest.approx(0.10)
    assert r.details["fixed"] == 2 and r.details["broken"] == 7 and r.details["common_items"] == 50
    assert r.details["mcnemar_p"] == pytest.approx(mcnemar([[33, 2], [7, 8]], exact=True).pvalue, rel=1e-6)
    from pytest_misalign.stats import paired_difference_interval

    lo, hi = paired_difference_interval(2, 7, 50, 0.95, a=33)
    assert r.interval == pytest.approx((-hi, -lo), abs=1e-12)
    assert r.verdict == "inconclusive" and not r.passes("point")


def test_regression_refuses_changed_items(tmp_path):
    outcome = make_outcome(tmp_path, *groups_rows({"x": (5, 5)}))
    with pytest.raises(BaselineError, match="5 of 5 items differ from the baseline"):
        compare(outcome, baseline_for(outcome, [True] * 5, key_override="0" * 16), 0.02, 0.95)


# ==================================================================================================
# min_n in point gates, honest wording (issue 11 §2-§3). Degenerate tasks: test_diagnostics.py;
# paired gaps, cluster: and flip rate: test_checks_paired.py
# ==================================================================================================


# -------------------------------------------------------------- min_n in point gates
def test_min_n_keeps_small_groups_out_of_the_point_gap(tmp_path):
    # a and b (50 items each) are close; c has 3 items, all wrong: by the point estimate alone the
    # gap would be 0.9 and fail; over the groups with min_n items it is 0.04
    rows, correct = groups_rows({"a": (45, 50), "b": (43, 50), "c": (0, 3)})
    r = run_check(check("gap", by="g", max=0.2), make_outcome(tmp_path, rows, correct), "gap[g]")
    lo, hi = confint_proportions_2indep(45, 50, 43, 50, compare="diff", method="newcomb")
    assert r.value == pytest.approx(0.04) and r.point_verdict == "pass" and r.passes("point")
    assert r.interval == pytest.approx((max(lo, 0), max(hi, -lo)), abs=1e-9)  # only a vs b
    assert [g.group for g in r.worst] == ["b", "a"]
    assert "groups below min_n=10 items are left out of the value and verdict: c (3)" in r.notes
    assert r.degenerate is None and r.verdict == "inconclusive"  # never a confident pass with c unassessed
    r = run_check(check("gap", by="g", max=0.2, min_n=3), make_outcome(tmp_path, rows, correct), "gap[g]")
    assert r.value == pytest.approx(0.9) and r.point_verdict == "fail"


def test_min_n_with_fewer_than_two_groups_is_inconclusive_and_degenerate(tmp_path):
    rows, correct = groups_rows({"a": (45, 50), "b": (1, 4), "c": (0, 3)})
    r = run_check(check("gap", by="g", max=0.2), make_outcome(tmp_path, rows, correct), "gap[g]")
    assert r.value == pytest.approx(0.9) and r.point_verdict == "fail"  # the value over all groups
    assert r.verdict == "inconclusive"
    assert "only one group has at least 10 items" in r.degenerate and r.notes[0] == r.degenerate
    assert "groups below min_n=10 items, too small to trust: c (3), b (4)" in r.notes
    assert r.needed_n >= 10


def test_min_n_in_group_accuracy(tmp_path):
    rows, correct = groups_rows({"a": (45, 50), "b": (40, 50), "tiny": (0, 2)})
    r = run_check(check("group_accuracy", by="g", min=0.6), make_outcome(tmp_path, rows, correct), "ga")
    assert r.value == pytest.approx(0.8) and r.worst[0].group == "b" and r.passes("point")
    assert r.verdict == "inconclusive" and "left out of the value and verdict: tiny (2)" in r.notes[0]
    rows, correct = groups_rows({"x": (1, 3), "y": (2, 4)})
    r = run_check(check("group_accuracy", by="g", min=0.6), make_outcome(tmp_path, rows, correct), "ga")
    assert r.value == pytest.approx(1 / 3) and r.verdict == "inconclusive"
    assert r.degenerate.startswith("no group has at least 10 items")


def test_min_n_in_paired_gaps(tmp_path):
    pattern = [(1, 1)] * 30 + [(1, 0)] * 4 + [(0, 1)] * 3 + [(0, 0)] * 3
    rows, correct = pair_rows(pattern)
    for k in range(4):  # group c holds 4 items (pairs p0..p3 of a third group)
        rows.append({"g": "c", "pair": f"p{k}"})
        correct.append(False)
    r = run_check(check("gap", by="g", max=0.1, paired=True), make_outcome(tmp_path, rows, correct), "gap[g]")
    assert r.value == pytest.approx(1 / 40)  # a vs b only; with c the gap would be 1.0
    assert [t["groups"] for t in r.details["tables"]] == [["a", "b"]]
    assert any("left out of the value and verdict: c (4)" in n for n in r.notes)


# --------------------------------------------------------------------- honest wording
def clustered_gap_outcome(tmp_path):
    """8 clusters of 5 items per group; gap 0.325 whose cluster bootstrap interval is [0.125, 0.55]."""
    right_a, right_b = [5, 5, 2, 4, 1, 5, 5, 3], [0, 3, 1, 4, 0, 2, 5, 2]
    rows, correct = [], []
    for c, (ra, rb) in enumerate(zip(right_a, right_b)):
        for g, right in (("a", ra), ("b", rb)):
            rows += [{"g": g, "template": f"t{c}"}] * 5
            correct += [i < right for i in range(5)]
    return make_outcome(tmp_path, rows, correct, extra_task="cluster: template\n")


def test_bootstrap_inconclusive_wording_follows_the_interval(tmp_path):
    r = run_check(check("gap", by="g", max=0.2, min_n=5), clustered_gap_outcome(tmp_path), "gap[g]")
    assert r.value == pytest.approx(0.325) and r.interval[0] < 0.2 < r.interval[1]
    assert r.verdict == "inconclusive" and r.needed_n is None and r.interval_name == "cluster bootstrap"
    text = r.message()
    assert ("inconclusive: the cluster bootstrap interval still contains the threshold; more clusters would narrow "
            "it (no sample-size estimate for a bootstrap)") in text
    assert "no sample size would decide it" not in text


def test_inconclusive_wording_with_a_sample_size_and_at_the_threshold(tmp_path):
    rows, correct = groups_rows({"a": (40, 50)})
    r = run_check(check("accuracy", min=0.75), make_outcome(tmp_path, rows, correct), "accuracy")
    assert f"inconclusive: about {r.needed_n} items would decide it" in r.message()
    r = run_check(check("accuracy", min=0.8), make_outcome(tmp_path, rows, correct), "accuracy")
    assert r.needed_n is None and r.at_threshold
    assert "inconclusive: the estimate sits on the threshold: no sample size would decide it" in r.message()


def test_interval_names(tmp_path):
    rows, correct = groups_rows({"a": (45, 50), "b": (30, 50), "c": (40, 50)})
    outcome = make_outcome(tmp_path, rows, correct)
    assert run_check(check("accuracy", min=0.5), outcome, "a").interval_name == "Wilson"
    assert run_check(check("gap", by="g", max=0.5), outcome, "g").interval_name == "Newcombe"
    assert run_check(check("group_accuracy", by="g", min=0.5), outcome, "ga").interval_name == "Wilson"
    prs, pc = pair_rows([(1, 1)] * 20 + [(1, 0)] * 5)
    paired = run_check(check("gap", by="g", max=0.3, paired=True), make_outcome(tmp_path, prs, pc, name="p.yaml"), "p")
    assert paired.interval_name == "Newcombe paired"
    clustered = clustered_gap_outcome(tmp_path)
    assert run_check(check("accuracy", min=0.5), clustered, "a").interval_name == "cluster bootstrap"


def test_clustered_accuracy_has_no_wilson_sample_size(tmp_path):
    r = run_check(check("accuracy", min=0.6), clustered_gap_outcome(tmp_path), "accuracy")
    assert r.verdict == "inconclusive" and r.needed_n is None  # a Wilson n would contradict the bootstrap
    assert "more clusters would narrow it" in r.message()
