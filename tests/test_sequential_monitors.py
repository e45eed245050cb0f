"""Each check kind's anytime-valid monitor (sequential/monitors.py, paired.py, bbq.py, sequences.py)
against the same quantity computed by hand from the scored items in scoring order: the level split
(α/k per group, α/m per group pair, α/2 per part of a ratio) and the combination formulas of the
issue ([l₁ − u₂, u₁ − l₂] for a gap; (d + 1)/2 for paired differences)."""

import numpy as np
import pytest

from helpers import one_task
from pytest_misalign.checks import KINDS
from pytest_misalign.scoring.outcome import ItemOutcome
from pytest_misalign.stats import sequences
from pytest_misalign.checks.monitor import View
from pytest_misalign.sequential.plan import make_plan

CS = sequences.cs_interval  # the bounded-mean sequence (verified against confseq in test_stats_*)


def _view(task, correct, n_units=None, seed=0, chunk=None):
    plan = make_plan(task, task.spec.checks, seed=seed, chunk=chunk)
    n_units = len(plan.units) if n_units is None else n_units
    items = {p: ItemOutcome(task.instances[p].index, 0, 0 if correct[p] else 1, bool(correct[p]))
             for unit in plan.units[:n_units] for p in unit}
    return View(task, plan, n_units, items)


def _ordered(view, values, positions=None):
    """values of the scored items in scoring order (one per unit: the units here are single items)."""
    keep = set(range(len(values))) if positions is None else set(positions)
    return np.array([values[u[0]] for u in view.plan.units[:view.n_units] if u[0] in keep], dtype=float)


def _task(tmp_path, n, checks, extra=lambda i: {}):
    rows = [{"q": f"q{i}", "label": 0, "g": "ab"[i % 2], **extra(i)} for i in range(n)]
    body = 'prompt: "{q}"\nchoices: ["yes", "no"]\nanswer: "{label}"\nchecks:\n' + "".join(
        f"  - {c}\n" for c in checks)
    return one_task(tmp_path, rows, body)


def test_accuracy_is_one_sequence_of_the_correct_items(tmp_path):
    task = _task(tmp_path, 120, ["accuracy: {min: 0.6}"])
    rng = np.random.default_rng(1)
    correct = rng.random(120) < 0.8
    view = _view(task, correct, n_units=70)
    seq = KINDS["accuracy"].monitor(task.spec.checks[0], view, 0.025)
    x = _ordered(view, correct)
    assert x.size == 70
    assert seq.interval == pytest.approx(CS(x, 0.975), abs=1e-12)
    assert seq.value == pytest.approx(x.mean())
    lo = seq.interval[0]
    assert seq.verdict == ("pass" if lo >= 0.6 else "inconclusive")


def test_gap_is_per_group_sequences_at_alpha_over_k_combined(tmp_path):
    task = _task(tmp_path, 160, ["gap: {by: g, max: 0.1}"])
    correct = np.random.default_rng(2).random(160) < np.where(np.arange(160) % 2 == 0, 0.9, 0.5)
    view = _view(task, correct, n_units=100)
    seq = KINDS["gap"].monitor(task.spec.checks[0], view, 0.05)
    xa = _ordered(view, correct, range(0, 160, 2))
    xb = _ordered(view, correct, range(1, 160, 2))
    (la, ua), (lb, ub) = CS(xa, 1 - 0.025), CS(xb, 1 - 0.025)
    d_lo, d_hi = la - ub, ua - lb  # the gap a - b lies here; |gap| is the check's value
    want = (max(0.0, d_lo) if d_lo > 0 else max(0.0, -d_hi), max(abs(d_lo), abs(d_hi)))
    assert seq.interval == pytest.approx(want, abs=1e-12)
    assert seq.value == pytest.approx(abs(xa.mean() - xb.mean()))
    assert seq.verdict == ("fail" if want[0] > 0.1 else "inconclusive")


def test_group_accuracy_fails_on_any_group_passes_on_all(tmp_path):
    task = _task(tmp_path, 300, ["group_accuracy: {by: g, min: 0.6}"])
    correct = np.where(np.arange(300) % 2 == 0, True, np.arange(300) % 10 == 1)  # a: 1.0, b: 0.2
    seq = KINDS["group_accuracy"].monitor(task.spec.checks[0], _view(task, correct), 0.05)
    assert seq.verdict == "fail" and seq.value == pytest.approx(0.2)
    seq = KINDS["group_accuracy"].monitor(task.spec.checks[0], _view(task, np.ones(300, bool)), 0.05)
    assert seq.verdict == "pass" and seq.value == 1.0


def test_paired_gap_is_a_sequence_of_half_differences(tmp_path):
    rows = lambda i: {"pid": f"p{i // 2}"}  # noqa: E731 - items 2k (group a) and 2k+1 (group b) are a pair
    task = _task(tmp_path, 200, ["gap: {by: g, max: 0.1, paired: true, pair: pid}"], rows)
    rng = np.random.default_rng(3)
    correct = np.empty(200, bool)
    correct[0::2] = rng.random(100) < 0.8
    correct[1::2] = np.where(rng.random(100) < 0.7, correct[0::2], ~correct[0::2])
    view = _view(task, correct, n_units=60)
    seq = KINDS["gap"].monitor(task.spec.checks[0], view, 0.05)
    units = view.plan.units[:60]
    d = np.array([(float(correct[u[0]]) - float(correct[u[1]]) + 1) / 2 for u in units])
    lo, hi = CS(d, 0.95)
    s_lo, s_hi = 2 * lo - 1, 2 * hi - 1
    want = (0.0 if s_lo <= 0 <= s_hi else min(abs(s_lo), abs(s_hi)), max(abs(s_lo), abs(s_hi)))
    assert all(len(u) == 2 for u in units)
    assert seq.interval == pytest.approx(want, abs=1e-12)
    assert seq.value == pytest.approx(abs(2 * d.mean() - 1))


def test_unequal_clusters_use_a_ratio_of_two_sequences(tmp_path):
    """Clusters of 1, 2 and 3 items: accuracy = Σ correct / Σ size, bounded by [l_num/u_den, u_num/l_den]
    with each sequence at α/2 and both scaled by the largest cluster (3)."""
    sizes = [1, 2, 3] * 20
    cl = [c for c, s in enumerate(sizes) for _ in range(s)]
    rows = [{"q": f"q{i}", "label": 0, "cl": f"c{c}"} for i, c in enumerate(cl)]
    body = 'prompt: "{q}"\nchoices: ["yes", "no"]\nanswer: "{label}"\ncluster: cl\nchecks:\n  - accuracy: {min: 0.5}\n'
    task = one_task(tmp_path, rows, body)
    correct = np.random.default_rng(4).random(len(cl)) < 0.7
    view = _view(task, correct, n_units=30)
    seq = KINDS["accuracy"].monitor(task.spec.checks[0], view, 0.05)
    num = np.array([correct[list(u)].sum() for u in view.plan.units[:30]]) / 3
    den = np.array([len(u) for u in view.plan.units[:30]]) / 3
    (la, ua), (lb, ub) = CS(num, 0.975), CS(den, 0.975)
    assert seq.interval == pytest.approx((la / ub, min(1.0, ua / lb)), abs=1e-12)
    assert seq.value == pytest.approx(num.sum() / den.sum())


def test_ratio_cs_covers_the_ratio_of_means():
    """Simulation: unequal units, true ratio 0.6; the ratio interval at the end covers it ≥ 95%."""
    rng = np.random.default_rng(5)
    misses = 0
    for _ in range(300):
        den = rng.integers(1, 5, 200).astype(float)
        num = rng.binomial(den.astype(int), 0.6).astype(float)
        est = sequences.ratio_cs(num, den, 0.05)
        misses += not est.interval[0] <= 0.6 <= est.interval[1]
    assert misses / 300 <= 0.05


def test_largest_abs_difference_by_hand():
    ivs = {"a": (0.7, 0.9), "b": (0.2, 0.4), "c": (0.5, 0.8)}
    # a-b in [0.3, 0.7]; a-c in [-0.1, 0.4] -> |.| in [0, 0.4]; b-c in [-0.6, -0.1] -> [0.1, 0.6]
    assert sequences.largest_abs_difference(ivs) == pytest.approx((0.3, 0.7))


@pytest.mark.parametrize("kind, why", [("likelihood_gap", "unbounded"), ("calibration", "not a mean"),
                                       ("perplexity", "unbounded")])
def test_checks_without_a_sequence_say_why(tmp_path, kind, why):

    task = _task(tmp_path, 10, ["accuracy: {min: 0.5}"])
    assert why in KINDS[kind].why_unmonitored(KINDS.check(kind, {"by": "g", "max": 1}), task.spec)
    assert KINDS["accuracy"].why_unmonitored(KINDS.check("accuracy", {"min": 0.5}), task.spec) is None


def test_cs_interval_is_the_running_intersection_of_the_betting_sequence():
    """`cs_interval` intersects the hedged sequence itself (to fall back when the intersection is
    empty): where it is not empty, the same interval as the confseq-verified running intersection."""
    from pytest_misalign.stats import betting_mean_cs

    rng = np.random.default_rng(9)
    for p, n in ((0.3, 50), (0.8, 200), (0.97, 120)):
        x = (rng.random(n) < p).astype(float)
        assert CS(x, 0.99) == pytest.approx(betting_mean_cs(x, 0.99), abs=1e-12)
    drift = np.r_[np.zeros(60), np.ones(60)]  # no constant mean fits: the intersection empties
    lo, hi = CS(drift, 0.95)
    assert lo <= hi
