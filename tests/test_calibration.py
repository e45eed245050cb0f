"""Calibration (ECE, Brier, calibration gap) against sklearn, lm-eval and numpy hand formulas."""

import json

import numpy as np
import pytest
from sklearn.calibration import calibration_curve

from pytest_misalign.checks import KINDS
from pytest_misalign.checks import run_check
from pytest_misalign.scoring.outcome import ItemOutcome, TaskOutcome
from pytest_misalign.stats import calibration as cal

from helpers import one_task


def random_scores(n, k, seed=0, temp=1.0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.0, size=(n, k)) / temp
    gold = rng.integers(0, k, size=n)
    logits[np.arange(n), gold] += 1.0  # better than chance
    lls = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True)) - 3.0  # unnormalised log-likelihoods
    return lls, gold


def reference_ece(lls, gold, bins):
    """ECE from sklearn's reliability curve: sum over non-empty bins of n_b/N |acc_b - conf_b|."""
    p = np.exp(lls - lls.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    conf, correct = p.max(axis=1), (p.argmax(axis=1) == gold).astype(int)
    prob_true, prob_pred = calibration_curve(correct, conf, n_bins=bins, strategy="uniform")
    counts, _ = np.histogram(conf, bins=np.linspace(0, 1, bins + 1))
    counts = counts[counts > 0]
    return float(np.sum(counts / len(conf) * np.abs(prob_true - prob_pred))), p


@pytest.mark.parametrize("k,bins,seed", [(2, 10, 0), (4, 10, 1), (3, 15, 2)])
def test_ece_and_brier_match_sklearn_and_lm_eval(k, bins, seed):
    from lm_eval.api.metrics import brier_score

    lls, gold = random_scores(400, k, seed)
    ref_ece, p = reference_ece(lls, gold, bins)
    conf, correct = cal.confidence_correct(lls, gold)
    assert cal.ece(conf, correct, bins) == pytest.approx(ref_ece, abs=1e-12)
    ref_brier = brier_score(list(zip(gold.tolist(), p)))  # lm-eval's aggregation over (gold, softmax)
    assert cal.brier_scores(lls, gold).mean() == pytest.approx(ref_brier, abs=1e-12)


def test_reliability_bins_hand_computed():
    conf = np.array([0.55, 0.58, 0.62, 0.95, 1.0, 0.5])
    correct = np.array([1, 0, 1, 1, 1, 0.0])
    got = cal.reliability(conf, correct, 10)
    # right-closed bins (0.5, 0.6], (0.6, 0.7], (0.9, 1.0]; 0.5 lies in (0.4, 0.5]
    assert [(b["lo"], b["count"]) for b in got] == [(0.4, 1), (0.5, 2), (0.6, 1), (0.9, 2)]
    assert got[1]["conf"] == pytest.approx(0.565) and got[1]["acc"] == pytest.approx(0.5)
    hand = (abs(0.5 - 0) + abs(1.13 - 1) + abs(0.62 - 1) + abs(1.95 - 2)) / 6
    assert cal.ece(conf, correct, 10) == pytest.approx(hand)


def outcome(tmp_path, lls, gold, groups, cluster=None):
    rows = [{"q": f"q{i}", "label": int(g), "grp": grp, "c": f"c{i // 4}"} for i, (g, grp) in enumerate(zip(gold, groups))]
    k = lls.shape[1]
    choices = json.dumps([f"c{j}" for j in range(k)])
    task = one_task(tmp_path, rows, f'prompt: "{{q}}"\nchoices: {choices}\nanswer: "{{label}}"\n'
                    + (f"cluster: {cluster}\n" if cluster else ""))
    return TaskOutcome(task, [ItemOutcome(i.index, i.answer, int(np.argmax(s)), int(np.argmax(s)) == i.answer,
                                          tuple(map(float, s))) for i, s in zip(task.instances, lls)])


def test_calibration_check_per_group_and_gap(tmp_path):
    lls_a, gold_a = random_scores(200, 3, seed=4)
    lls_b, gold_b = random_scores(200, 3, seed=5, temp=0.3)  # overconfident group
    lls, gold = np.vstack([lls_a, lls_b]), np.concatenate([gold_a, gold_b])
    out = outcome(tmp_path, lls, gold, ["a"] * 200 + ["b"] * 200)
    r = run_check(KINDS.check("calibration", {"max_ece": 0.5, "by": "grp", "max_gap": 0.01}), out, "cal")
    ref_all, _ = reference_ece(lls, gold, 10)
    ref_a, _ = reference_ece(lls_a, gold_a, 10)
    ref_b, _ = reference_ece(lls_b, gold_b, 10)
    assert r.value == pytest.approx(ref_all) and r.details["ece"] == pytest.approx(ref_all)
    assert r.details["groups"]["a"]["ece"] == pytest.approx(ref_a)
    assert r.details["groups"]["b"]["ece"] == pytest.approx(ref_b)
    assert r.details["calibration_gap"] == pytest.approx(abs(ref_b - ref_a))
    assert sum(b["count"] for b in r.details["bins"]) == 400
    lo, hi = r.interval
    assert lo <= r.value <= hi and r.interval_name == "bootstrap"
    assert r.limits[0].param == "max_gap"
    if r.limits[0].verdict == "fail":
        assert r.verdict == "fail"


def test_calibration_bootstrap_is_cluster_aware_and_seeded(tmp_path):
    lls, gold = random_scores(120, 2, seed=7)
    out = outcome(tmp_path, lls, gold, ["a"] * 120, cluster="c")
    r1 = run_check(KINDS.check("calibration", {"max_ece": 0.2}), out, "cal")
    r2 = run_check(KINDS.check("calibration", {"max_ece": 0.2}), out, "cal")
    assert r1.interval == r2.interval and r1.interval_name == "cluster bootstrap"
