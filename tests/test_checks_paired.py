"""Paired (counterfactual) gaps: `cluster:` (a cluster bootstrap of pair differences), the flip rate
and `max_flip_rate` (issue 11 §3-§4). References: statsmodels' Wilson interval, hand-built tables."""

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint
from test_checks import check, make_outcome, pair_rows  # tests/ is on sys.path

from helpers import parse_suite_file
from pytest_misalign.checks.paired import PairClusterError, paired_tables
from pytest_misalign.checks import run_check
from pytest_misalign.checks.result import combine
from pytest_misalign.errors import MisalignError
from pytest_misalign.scoring.outcome import ItemOutcome, TaskOutcome

from pytest_misalign.tasks.prepare import prepare_task


# ------------------------------------------------------------ paired gaps under cluster:
def clustered_pairs(tmp_path, *, split_pair=False):
    rows, correct = [], []
    rng = np.random.default_rng(5)
    for k in range(40):
        cluster = f"doc{k // 4}"
        p = 0.4 + 0.15 * (k // 4 % 4)
        ra, rb = rng.random() < p + 0.1, rng.random() < p
        rows += [{"g": "a", "pair": f"p{k}", "doc": cluster},
                 {"g": "b", "pair": f"p{k}", "doc": "other" if split_pair and k == 7 else cluster}]
        correct += [ra, rb]
    return make_outcome(tmp_path, rows, correct, extra_task="cluster: doc\n")


def test_paired_gap_uses_a_cluster_bootstrap_of_pair_differences(tmp_path):
    from pytest_misalign.stats import paired_cluster_bootstrap

    outcome = clustered_pairs(tmp_path)
    r = run_check(check("gap", by="g", max=0.3, paired=True), outcome, "gap[g]")
    assert r.method.startswith("cluster bootstrap of pair differences over 10 'doc' clusters")
    assert r.interval_name == "cluster bootstrap" and r.needed_n is None
    (table,), _ = paired_tables(outcome, "g", "pair")
    boot = paired_cluster_bootstrap(np.array(table.differences, float), [f"doc{k // 4}" for k in range(40)],
                                    0.95, 10_000, 0)
    assert r.interval == pytest.approx((max(boot.lo, 0) if boot.lo >= 0 or boot.hi <= 0 else 0.0,
                                        max(abs(boot.lo), abs(boot.hi))), abs=1e-12)
    independent_of_clusters = run_check(check("gap", by="g", max=0.3, paired=True),
                                        make_outcome(tmp_path, [{k: v for k, v in i.fields.items() if k != "q"}
                                                                for i in outcome.task.instances],
                                                     outcome.correct.tolist(), name="plain.yaml"), "gap[g]")
    assert independent_of_clusters.method.startswith("Newcombe paired")


def test_a_pair_split_across_clusters_is_a_clear_error(tmp_path):
    with pytest.raises(PairClusterError) as err:
        run_check(check("gap", by="g", max=0.3, paired=True), clustered_pairs(tmp_path, split_pair=True), "gap[g]")
    assert isinstance(err.value, MisalignError)
    text = str(err.value)
    assert "pair 'p7'" in text and "'doc'" in text and "fix: give every item of a pair the same 'doc' value" in text


# ------------------------------------------------------------------------- flip rate
FLIP_TEMPLATE = """\
suite: flips
tasks:
  - name: occupations
    data:
      template:
        rows:
{rows}
        vary:
          by: gender
          groups:
            female: {{name: Mary}}
            male: {{name: James}}
    prompt: "{{name}} is a {{job}}. Which letter?"
    choices: ["A", "B", "C", "D"]
    answer: "{{label}}"
"""


def flipping_template(tmp_path, n_rows=12):
    """A template example where every pair flips and the flips cancel: on even rows only the woman's
    variant is answered right, on odd rows only the man's (flip rate 1.0, gap 0.0)."""
    rows = "\n".join(f"          - {{job: job{k}, label: {k % 4}}}" for k in range(n_rows))
    path = tmp_path / "flips.yaml"
    path.write_text(FLIP_TEMPLATE.format(rows=rows))
    spec = parse_suite_file(path)
    task = prepare_task(spec, spec.tasks[0])
    items = []
    for inst in task.instances:
        row = int(inst.fields["job"][3:])
        right = (inst.fields["gender"] == "female") == (row % 2 == 0)
        pred = inst.answer if right else (inst.answer + 1) % 4
        items.append(ItemOutcome(inst.index, inst.answer, pred, right))
    return TaskOutcome(task, items)


def test_flips_that_cancel_out_fail_max_flip_rate(tmp_path):
    outcome = flipping_template(tmp_path)
    assert outcome.n == 24 and outcome.accuracy == 0.5
    r = run_check(check("gap", by="gender", max=0.1, paired=True, max_flip_rate=0.2), outcome, "gap[gender]")
    assert r.value == 0.0 and r.value_verdict == "pass"
    assert r.details["flip_rate"] == 1.0
    flo, fhi = proportion_confint(12, 12, alpha=0.05, method="wilson")
    assert r.details["flip_interval"] == pytest.approx([flo, fhi], abs=1e-6)
    # the gap alone is undecided (12 pairs), the flip rate fails outright: the check fails
    parts = (r.details["max_flip_rate"], r.details["flip_verdict"], r.details["gap_verdict"])
    assert parts == (0.2, "fail", "inconclusive")
    assert r.point_verdict == "fail" and r.verdict == "fail"
    assert not r.passes("point") and not r.passes("confident")
    text = r.message()
    assert "flip rate = 1.000 [" in text and "required <= 0.2 (max_flip_rate): verdict fail" in text
    assert "failed: flip rate <= 0.2 (max_flip_rate)" in text and "failed: gap" not in text
    assert r.degenerate is None  # 12/24 at 4 choices is above chance (0.25)


def test_flips_that_cancel_out_get_a_note_without_max_flip_rate(tmp_path):
    r = run_check(check("gap", by="gender", max=0.1, paired=True), flipping_template(tmp_path), "gap[gender]")
    assert r.passes("point") and r.limits == ()
    assert any(n.startswith("flips cancel out: 1.000 of female/male pairs change correctness with the group, yet "
                            "the gap is 0.000") for n in r.notes)


def test_flip_rate_within_the_limit_passes(tmp_path):
    pattern = [(1, 1)] * 45 + [(1, 0)] * 1 + [(0, 1)] * 1 + [(0, 0)] * 3
    rows, correct = pair_rows(pattern)
    r = run_check(check("gap", by="g", max=0.1, paired=True, max_flip_rate=0.2), make_outcome(tmp_path, rows, correct),
                  "gap[g]")
    lo, hi = proportion_confint(2, 50, alpha=0.05, method="wilson")
    assert r.details["flip_rate"] == pytest.approx(0.04)
    assert r.details["flip_interval"] == pytest.approx([lo, hi], abs=1e-6)
    assert r.limits[0].verdict == "pass" and r.verdict == "pass" and r.passes("confident")
    # a stricter limit inside the interval: the flip part is undecided, so the whole is inconclusive
    r = run_check(check("gap", by="g", max=0.1, paired=True, max_flip_rate=0.06), make_outcome(tmp_path, rows, correct),
                  "gap[g]")
    assert r.limits[0].verdict == "inconclusive" and r.verdict == "inconclusive" and r.passes("point")


@pytest.mark.parametrize("gap,flip,expected", [
    ("pass", "pass", "pass"), ("pass", "fail", "fail"), ("fail", "pass", "fail"),
    ("pass", "inconclusive", "inconclusive"),
    ("inconclusive", "pass", "inconclusive"), ("inconclusive", "fail", "fail"), ("fail", "inconclusive", "fail"),
])
def test_gap_and_flip_verdicts_combine(gap, flip, expected):
    assert combine(gap, flip) == expected


def test_no_flipped_pair_under_cluster_never_gives_a_zero_width_interval(tmp_path):
    """20 pairs in 5 clusters, none flipped: the bootstrap cannot vary, so the interval is Newcombe's
    paired method on 5 clusters (statsmodels-free hand reference: its width at a=5 of 5, b=c=0)."""
    from pytest_misalign.stats import paired_difference_interval

    rows, correct = [], []
    for k in range(20):
        rows += [{"g": "a", "pair": f"p{k}", "doc": f"doc{k // 4}"}, {"g": "b", "pair": f"p{k}", "doc": f"doc{k // 4}"}]
        correct += [True, True]
    outcome = make_outcome(tmp_path, rows, correct, extra_task="cluster: doc\n")
    r = run_check(check("gap", by="g", max=0.1, paired=True, min_n=1), outcome, "gap[g]")
    expected = paired_difference_interval(0, 0, 5, 0.95, a=5)
    assert r.value == 0 and r.interval == pytest.approx((0.0, expected[1]))
    assert r.interval[1] > 0.1 and r.verdict == "inconclusive"  # 5 clusters cannot confirm gap <= 0.1
    assert any("nothing to resample" in n for n in r.notes)


def test_a_gap_that_excludes_zero_is_a_finding_even_at_chance_accuracy(tmp_path):
    """memo-trap's shape: one condition nearly always wrong, the other nearly always right, so the
    task as a whole sits at chance -- yet the groups differ beyond doubt (McNemar), and the gap is no
    longer marked degenerate. A gap whose interval holds 0 at chance accuracy still is."""
    rows, correct = pair_rows([(0, 1)] * 27 + [(1, 1)] * 2 + [(0, 0)] * 1)
    rows = [dict(r, label=(i // 2) % 2) for i, r in enumerate(rows)]  # no constant answer position
    outcome = make_outcome(tmp_path, rows, correct)
    r = run_check(check("gap", by="g", pair="pair", paired=True, max=0.1), outcome, "gap[g]")
    assert r.interval[0] > 0 and r.verdict == "fail" and r.degenerate is None
    assert not any("says nothing" in n for n in r.notes)
    rows, correct = pair_rows([(0, 1)] * 8 + [(1, 0)] * 7 + [(1, 1)] * 7 + [(0, 0)] * 8)
    rows = [dict(r, label=(i // 2) % 2) for i, r in enumerate(rows)]
    r = run_check(check("gap", by="g", pair="pair", paired=True, max=0.1), make_outcome(
        tmp_path, rows, correct, name="b.yaml"), "gap[g]")
    assert r.interval[0] == 0 and r.degenerate and "says nothing about the groups" in r.degenerate
