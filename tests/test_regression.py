"""Regression against a baseline (pytest_misalign.regression, matching in baseline.py), checked against
independent references: statsmodels' Wilson interval, Newcombe's paired interval written out here from
the paper's formula, scipy's exact binomial test for McNemar, and a plain numpy cluster bootstrap."""

import math
import textwrap

import numpy as np
import pytest
from scipy.stats import binomtest
from statsmodels.stats.proportion import proportion_confint

from helpers import parse_suite_file
from pytest_misalign.baseline.match import BaselineTask, ItemMatch, match_items
from pytest_misalign.baseline.regression import compare
from pytest_misalign.baseline.regression import regression_tests, run_regression
from pytest_misalign.scoring.outcome import ItemOutcome, TaskOutcome
from pytest_misalign.spec import RegressionSpec
from helpers import one_task
from pytest_misalign.tasks.prepare import prepare_task


# -- helpers ---------------------------------------------------------------------------------------

def make_outcome(tmp_path, rows, correct, *, extra_task="", name="suite.yaml", prompt="{q}"):
    """A task over `rows` (dicts) whose item i is answered right iff correct[i]."""
    rows = [dict(row, q=row.get("q", f"q{i}"), label=0) for i, row in enumerate(rows)]
    task = one_task(tmp_path, rows, f'prompt: "{prompt}"\nchoices: ["yes", "no"]\nanswer: "{{label}}"\n'
                    + textwrap.dedent(extra_task), name=name)
    outcomes = [ItemOutcome(i.index, 0, 0 if ok else 1, bool(ok), (0.0, -1.0))
                for i, ok in zip(task.instances, correct)]
    return TaskOutcome(task, outcomes)


def baseline_for(outcome, correct, *, keys=None, sha=None, extra=()):
    """The baseline's item records: outcome's items (keys from `keys` or the outcome), plus `extra` indices."""
    keys = keys or outcome.task.item_keys()
    items = {i.index: {"index": i.index, "correct": bool(ok), "key": k}
             for i, ok, k in zip(outcome.items, correct, keys)}
    items.update({j: {"index": j, "correct": True, "key": f"{j:016x}"} for j in extra})
    return BaselineTask("s", "t", sha if sha is not None else outcome.task.suite.sha256, items, "old-model")


def newcombe_paired(a, b, c, d, confidence):
    """Newcombe (1998b) method 10 for p1 - p2 (p1 = (a+b)/n: candidate, p2 = (a+c)/n: baseline),
    from the paper's formula with statsmodels' Wilson limits."""
    n = a + b + c + d
    alpha = 1 - confidence
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = proportion_confint(a + b, n, alpha=alpha, method="wilson")
    l2, u2 = proportion_confint(a + c, n, alpha=alpha, method="wilson")
    big_a, m = a * d - b * c, (a + b) * (c + d) * (a + c) * (b + d)
    phi = 0.0 if m == 0 else ((big_a - n / 2) / math.sqrt(m) if big_a > n / 2 else
                              0.0 if big_a >= 0 else big_a / math.sqrt(m))
    diff = p1 - p2
    lo = diff - math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    hi = diff + math.sqrt((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2)
    return max(lo, -1.0), min(hi, 1.0)


def drop_ref(a, b, c, d, confidence=0.95):
    lo, hi = newcombe_paired(a, b, c, d, confidence)
    return -hi, -lo


def mcnemar_ref(b, c):
    return binomtest(b, b + c, 0.5).pvalue if b + c else 1.0


# baseline 40/50 right; the candidate fixes 2 (40, 41) and breaks 7 (33..39): 35/50, drop 0.10
BASE = [True] * 40 + [False] * 10
CAND = [True] * 33 + [False] * 7 + [True] * 2 + [False] * 8


# -- matching --------------------------------------------------------------------------------------

def test_match_rule_and_summary():
    old = {0: {"key": "a"}, 1: {"key": "b"}, 2: {"key": "c"}, 3: {}, 5: {"key": "e"}}
    new = {0: {"key": "a"}, 1: {"key": "B"}, 2: {"key": "c"}, 3: {"key": "d"}, 4: {"key": "x"}}
    m = match_items(old, new)
    assert (m.shared, m.changed, m.only_old, m.only_new) == ((0, 2, 3), (1,), (5,), (4,))
    assert m.summary() == ("1 item changed since the baseline (prompt, choices or answer), 1 item is only in "
                           "the baseline and 1 item is only in this run: compared on 3 shared items")
    assert ItemMatch((1, 2), (), (), ()).summary() == "compared on all 2 items"
    assert ItemMatch((), (1, 2), (), ()).summary() == ("no item is shared with the baseline: 2 items changed "
                                                       "since the baseline (prompt, choices or answer)")


def test_changed_prompts_are_dropped_counted_and_do_not_fail(tmp_path):
    rows = [{"q": f"q{i}"} for i in range(50)]
    outcome = make_outcome(tmp_path, rows, CAND)
    # the baseline was run on an older data file: items 0-2 asked something else (their keys differ)
    old = make_outcome(tmp_path, [{"q": "old" if i < 3 else f"q{i}"} for i in range(50)], BASE, name="old.yaml")
    base = baseline_for(outcome, BASE, keys=old.task.item_keys(), extra=(50, 51))
    spec = RegressionSpec(max_drop=0.2)
    r = run_regression(outcome, base, spec, 0.02, None, "regression")
    # shared: items 3..49: both right 30 (3..32), broken 7, fixed 2, both wrong 8
    assert r.details["common_items"] == 47 and r.details["items_changed"] == 3
    assert r.details["items_only_baseline"] == 2 and r.details["items_only_run"] == 0
    assert r.value == pytest.approx(5 / 47)
    assert r.interval == pytest.approx(drop_ref(30, 2, 7, 8), abs=1e-12)
    assert r.details["mcnemar_p"] == pytest.approx(mcnemar_ref(2, 7), rel=1e-6)
    assert ("3 items changed since the baseline (prompt, choices or answer) and 2 items are only in the "
            "baseline: compared on 47 shared items") in r.notes
    assert "changed items (not compared): index 0, 1, 2" in r.notes
    assert r.passes("point") and not r.degenerate
    # the older entry point refuses it instead
    with pytest.raises(Exception, match="3 of 50 items differ from the baseline"):
        compare(outcome, base, 0.2, 0.95)


def test_changed_suite_file_with_identical_items_is_a_note(tmp_path):
    outcome = make_outcome(tmp_path, [{"q": f"q{i}"} for i in range(50)], CAND)
    r = run_regression(outcome, baseline_for(outcome, BASE, sha="0" * 64), RegressionSpec(), 0.2)
    assert "the suite file changed since the baseline, but the compared items did not" in r.notes
    assert r.details["common_items"] == 50 and r.passes("point")


@pytest.mark.parametrize("how", ["keys", "indices"])
def test_no_shared_item_is_inconclusive(tmp_path, how):
    outcome = make_outcome(tmp_path, [{"q": f"q{i}"} for i in range(6)], [True] * 6)
    if how == "keys":
        base = baseline_for(outcome, [True] * 6, keys=["0" * 16] * 6)
    else:
        base = BaselineTask("s", "t", None, {100 + j: {"index": 100 + j, "correct": True, "key": "k"}
                                             for j in range(4)}, "old-model")
    for by in (None, "q"):
        r = run_regression(outcome, base, RegressionSpec(), 0.02, by, "regression")
        assert r.verdict == "inconclusive" and r.degenerate and math.isnan(r.value)
        # reported, not failed by the point gate (a changed suite is not a regressed model); strict fails it
        assert r.passes("point") and not r.passes("confident") and not r.passes("point", strict=True)
        assert r.details["common_items"] == 0
        assert r.notes[0].startswith("no item is shared with the baseline: ")
        assert "no item is shared with the baseline" in r.message()
    if how == "keys":
        assert "6 of 6 items differ from the baseline's (first: index 0)" in r.message()
        assert "fix: regenerate the baseline with the current suite file" in r.message()
    else:
        assert r.notes[0] == ("no item is shared with the baseline: 4 items are only in the baseline and 6 items "
                              "are only in this run")


# -- overall drop and max_broken ---------------------------------------------------------------------

def test_overall_matches_references_and_older_compare(tmp_path):
    outcome = make_outcome(tmp_path, [{"q": f"q{i}"} for i in range(50)], CAND)
    base = baseline_for(outcome, BASE)
    r = run_regression(outcome, base, RegressionSpec(max_drop=None, confidence=0.9), 0.02)
    assert r.value == pytest.approx(0.10) and r.max == 0.02 and r.confidence == 0.9
    assert r.interval == pytest.approx(drop_ref(33, 2, 7, 8, 0.9), abs=1e-12)
    assert r.verdict == "inconclusive" and not r.passes("point")
    assert r.notes[0] == ("baseline 0.800 -> candidate 0.700 on 50 common items; 2 fixed, 7 broken; "
                          f"McNemar exact p = {mcnemar_ref(2, 7):.3g}")
    old = compare(outcome, base, 0.02, 0.95)
    assert old.interval == pytest.approx(drop_ref(33, 2, 7, 8), abs=1e-12) and old.details["broken"] == 7


@pytest.mark.parametrize("limit, point", [(5, "fail"), (7, "pass"), (10, "pass"), (0.1, "fail"), (0.14, "pass"),
                                          (0.2, "pass")])
def test_max_broken_count_and_share(tmp_path, limit, point):
    outcome = make_outcome(tmp_path, [{"q": f"q{i}"} for i in range(50)], CAND)
    r = run_regression(outcome, baseline_for(outcome, BASE), RegressionSpec(max_drop=0.2, max_broken=limit), 0.02)
    lo, hi = proportion_confint(7, 50, alpha=0.05, method="wilson")
    assert r.details["broken_interval"] == pytest.approx([lo, hi], abs=1e-6)
    assert r.details["broken_point_verdict"] == point and r.point_verdict == point  # the drop 0.10 <= 0.2
    threshold = limit / 50 if isinstance(limit, int) else limit
    share_verdict = "pass" if hi <= threshold else "fail" if lo > threshold else "inconclusive"
    assert r.details["broken_verdict"] == share_verdict
    drop_lo, drop_hi = drop_ref(33, 2, 7, 8)
    drop_verdict = "pass" if drop_hi <= 0.2 else "fail" if drop_lo > 0.2 else "inconclusive"
    verdicts = {drop_verdict, share_verdict}
    assert r.verdict == ("fail" if "fail" in verdicts else "pass" if verdicts == {"pass"} else "inconclusive")
    note = next(n for n in r.notes if n.startswith("max_broken"))
    assert "7 broken (right in the baseline, wrong now) and 2 fixed of 50 shared items" in note


def test_max_broken_both_limits_pass_and_either_fails(tmp_path):
    outcome = make_outcome(tmp_path, [{"q": f"q{i}"} for i in range(50)], CAND)
    base = baseline_for(outcome, BASE)
    both = run_regression(outcome, base, RegressionSpec(max_drop=0.5, max_broken=0.5), 0.02)
    assert both.verdict == "pass" and both.passes("confident") and both.passes("point")
    drop_fails = run_regression(outcome, base, RegressionSpec(max_drop=0.01, max_broken=0.5), 0.02)
    assert drop_fails.point_verdict == "fail" and drop_fails.details["broken_point_verdict"] == "pass"
    zero = run_regression(outcome, base, RegressionSpec(max_drop=0.5, max_broken=0), 0.02)
    assert zero.point_verdict == "fail" and zero.verdict == "fail"  # Wilson lower bound of 7/50 > 0


# -- groups ----------------------------------------------------------------------------------------

def _grouped(tmp_path, extra_task=""):
    """x: 40 items, 3 fixed; y: 40 items, 6 broken; z: 40 unchanged; w: 5 items, 5 broken (small)."""
    rows, base, cand = [], [], []
    for g, n, fixed, broken in (("x", 40, 3, 0), ("y", 40, 0, 6), ("z", 40, 0, 0), ("w", 5, 0, 5)):
        for i in range(n):
            rows.append({"g": g, "region": "north" if i % 2 else "south"})
            before = i >= fixed and i < n - 10 + (10 if g == "w" else 0)  # last 10 wrong (x, y, z)
            now = (before or i < fixed) and not (before and i < broken + fixed)
            base.append(before)
            cand.append(now)
    outcome = make_outcome(tmp_path, rows, cand, extra_task=extra_task)
    return outcome, baseline_for(outcome, base)


def _table(before, now):
    before, now = np.asarray(before), np.asarray(now)
    return (int(np.sum(now & before)), int(np.sum(now & ~before)), int(np.sum(~now & before)),
            int(np.sum(~now & ~before)))


def test_group_regression_finds_a_drop_hidden_in_one_group(tmp_path):
    outcome, base = _grouped(tmp_path, "checks:\n  - gap: {by: g, max: 0.5}\n")
    assert regression_tests(outcome.task.spec) == [("regression", None), ("regression[g]", "g")]
    spec = RegressionSpec(max_drop=0.07)
    overall = run_regression(outcome, base, spec, 0.02, None, "regression")
    assert overall.value == pytest.approx((6 + 5 - 3) / 125) and overall.passes("point")
    r = run_regression(outcome, base, spec, 0.02, "g", "regression[g]")
    assert r.by == "g" and r.details["worst_group"] == "y" and r.value == pytest.approx(6 / 40)
    assert not r.passes("point")
    # Bonferroni over the 3 gated groups; w (5 items) is named and kept out of the point gate
    conf = 1 - 0.05 / 3
    labels = np.array([inst.fields["g"] for inst in outcome.task.instances])
    before = np.array([base.items[i]["correct"] for i in range(125)])
    now = outcome.correct
    refs = {g: drop_ref(*_table(before[labels == g], now[labels == g]), conf) for g in "xyz"}
    assert r.interval == pytest.approx((max(lo for lo, _ in refs.values()), max(hi for _, hi in refs.values())),
                                       abs=1e-12)
    rows = {row["group"]: row for row in r.details["groups"]}
    assert rows["y"]["interval"] == pytest.approx(list(refs["y"]), abs=1e-6)
    assert rows["w"]["gated"] is False and rows["w"]["drop"] == 1.0
    assert rows["y"]["mcnemar_p"] == pytest.approx(mcnemar_ref(0, 6), rel=1e-6)
    assert "groups below min_n=10 shared items, kept out of the point gate: w (5, drop +1.000)" in r.notes
    assert r.verdict in ("fail", "inconclusive") and "Bonferroni-level over 3 groups" in r.method


def test_group_regression_passes_when_every_group_holds(tmp_path):
    outcome, base = _grouped(tmp_path)
    r = run_regression(outcome, base, RegressionSpec(max_drop=0.2, min_n=5), 0.02, "g", "regression[g]")
    assert r.point_verdict == "fail" and r.details["worst_group"] == "w"  # w is gated now (min_n 5)
    r = run_regression(outcome, base, RegressionSpec(max_drop=0.2), 0.02, "g", "regression[g]")
    assert r.passes("point") and r.value == pytest.approx(6 / 40)
    assert r.verdict == "inconclusive"  # a small group is never confidently passed


def test_no_group_large_enough(tmp_path):
    outcome, base = _grouped(tmp_path)
    r = run_regression(outcome, base, RegressionSpec(max_drop=0.2, min_n=100), 0.02, "g", "regression[g]")
    assert r.passes("point") and r.verdict != "pass" and not r.passes("confident")
    assert r.degenerate == "no group of 'g' has min_n=100 shared items" and not r.passes("point", strict=True)
    assert r.interval[0] == pytest.approx(max(row["interval"][0] for row in r.details["groups"]), abs=1e-6)
    assert any(n.startswith("no group of 'g' has min_n=100 shared items") for n in r.notes)


def test_regression_tests_names(tmp_path):
    outcome = make_outcome(tmp_path, [{"g": "a", "r": "n", "qid": 1}] * 3, [True] * 3, extra_task="""\
        regression: {by: r}
        checks:
          - group_accuracy: {by: g, min: 0.1}
          - consistency: {of: qid, by: g, min: 0.1}
          - accuracy: {min: 0.1}
        """)
    assert regression_tests(outcome.task.spec) == [("regression", None), ("regression[r]", "r"),
                                                  ("regression[g]", "g")]


# -- clusters --------------------------------------------------------------------------------------

def _clustered(tmp_path, cluster: bool):
    """20 documents of 10 items; the baseline is right everywhere but doc 0's last 5 items, the
    candidate loses documents 1-3 entirely: the drop comes in whole clusters."""
    rows = [{"doc": f"d{k}", "g": "a" if k % 2 else "b"} for k in range(20) for _ in range(10)]
    base = [not (k == 0 and j >= 5) for k in range(20) for j in range(10)]
    cand = [b and k not in (1, 2, 3) for b, k in zip(base, (k for k in range(20) for _ in range(10)))]
    outcome = make_outcome(tmp_path, rows, cand, extra_task="cluster: doc\n" if cluster else "",
                           name=f"c{cluster}.yaml")
    return outcome, baseline_for(outcome, base), np.array(base), np.array(cand)


def test_cluster_aware_intervals_are_wider(tmp_path):
    spec = RegressionSpec(max_drop=0.1, max_broken=0.1)
    plain_outcome, plain_base, base, cand = _clustered(tmp_path, False)
    outcome, cbase, _, _ = _clustered(tmp_path, True)
    plain = run_regression(plain_outcome, plain_base, spec, 0.02)
    clustered = run_regression(outcome, cbase, spec, 0.02)
    assert plain.value == clustered.value == pytest.approx(30 / 200)
    assert plain.method.startswith("Newcombe") and "cluster bootstrap" in clustered.method
    width = lambda iv: iv[1] - iv[0]  # noqa: E731
    assert width(clustered.interval) > 1.5 * width(plain.interval)
    assert width(clustered.details["broken_interval"]) > width(plain.details["broken_interval"])
    # an independent cluster bootstrap of mean(baseline - candidate) over the 20 documents
    docs = np.repeat(np.arange(20), 10)
    diff = base.astype(float) - cand.astype(float)
    rng = np.random.default_rng(7)
    draws = rng.integers(0, 20, size=(4000, 20))
    sums, sizes = np.bincount(docs, weights=diff), np.bincount(docs).astype(float)
    means = sums[draws].sum(axis=1) / sizes[draws].sum(axis=1)
    ref = np.quantile(means, [0.025, 0.975])
    assert clustered.interval == pytest.approx(tuple(ref), abs=0.03)
    # per group as well: each group's interval comes from its own clusters
    pg = run_regression(plain_outcome, plain_base, RegressionSpec(max_drop=0.1), 0.02, "g")
    cg = run_regression(outcome, cbase, RegressionSpec(max_drop=0.1), 0.02, "g")
    assert cg.value == pg.value and width(cg.interval) > width(pg.interval)
    assert "cluster bootstrap" in cg.method and "Bonferroni-level over 2 groups" in cg.method


def test_a_real_results_file_matches_by_key_and_groups_by_fields(pytester):
    """The baseline's item records are those `--misalign-json` writes (key, correct, fields)."""
    import fake_backend
    from helpers import CAPITALS_SUITE, FAKE_CONFTEST

    from pytest_misalign.baseline.match import load_baseline

    pytester.makeconftest(FAKE_CONFTEST)
    fake_backend.KNOWN.clear()
    fake_backend.KNOWN.update({"Paris", "Rome", "Tokyo", "Lima", "Nairobi", "Santiago"})
    try:
        pytester.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
        pytester.runpytest("--misalign-model=fake", "--misalign-json=base.json", "-p", "no:cacheprovider")
    finally:
        fake_backend.KNOWN.clear()
    base = load_baseline(pytester.path / "base.json").get("heldout-capitals", "capitals")
    # the candidate: the same suite with Chile's question reworded, and Peru, Kenya forgotten
    path = pytester.path / "cand.yaml"
    path.write_text(CAPITALS_SUITE.replace("country: Chile", "country: Chile (the country)"))
    spec = parse_suite_file(path)
    task = prepare_task(spec, spec.tasks[0])
    right = [True, True, True, False, False, True]
    outcome = TaskOutcome(task, [ItemOutcome(i.index, i.answer, i.answer if ok else (i.answer + 1) % 3, ok, None)
                                 for i, ok in zip(task.instances, right)])
    assert [name for name, _ in regression_tests(task.spec)] == ["regression", "regression[region]"]
    r = run_regression(outcome, base, RegressionSpec(), 0.02)
    assert r.details["common_items"] == 5 and r.details["items_changed"] == 1 and r.details["broken"] == 2
    assert "1 item changed since the baseline (prompt, choices or answer): compared on 5 shared items" in r.notes
    g = run_regression(outcome, base, RegressionSpec(min_n=1), 0.02, "region", "regression[region]")
    rows = {row["group"]: (row["n"], row["broken"]) for row in g.details["groups"]}
    assert rows == {"europe": (2, 0), "asia": (1, 0), "africa": (1, 1), "americas": (1, 1)}
    assert g.value == 1.0 and not g.passes("point")


def test_a_results_file_from_an_unfinished_run_is_refused_by_every_reader(tmp_path):
    """What `mark_incomplete` leaves behind (a crashed or still-running session) has no tasks: read as
    a baseline it would silently add no regression test, so baseline and compare both refuse it."""
    from pytest_misalign.baseline.match import BaselineError, load_baseline
    from pytest_misalign.report.compare import CompareError, load_run
    from pytest_misalign.report.results import mark_incomplete

    path = tmp_path / "results.json"
    mark_incomplete(path)
    with pytest.raises(BaselineError, match="is from a run that did not finish .*run.status = 'incomplete'"):
        load_baseline(path)
    with pytest.raises(CompareError, match="is from a run that did not finish"):
        load_run(path)
