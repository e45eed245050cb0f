"""likelihood_gap, preference and the probes mechanism, against hand formulas, scipy and lm-eval."""

import math
import textwrap

import numpy as np
import pytest
from scipy import stats as sps

from helpers import parse_suite_file
from pytest_misalign.checks import KINDS
from pytest_misalign.scoring import probes
from pytest_misalign import stats
from pytest_misalign.backends.base import LoglikelihoodResult
from pytest_misalign.checks import run_check
from pytest_misalign.scoring.outcome import ItemOutcome, TaskOutcome
from pytest_misalign.scoring.score import score_task

from helpers import one_task


def prepared(tmp_path, rows, extra=""):
    return one_task(tmp_path, rows, 'prompt: "{q}"\nchoices: ["yes", "no"]\nanswer: "{label}"\n'
                    + textwrap.dedent(extra))


def outcome_with(task, scores, extras=None):
    items = []
    for k, (inst, s) in enumerate(zip(task.instances, scores)):
        pred = int(np.argmax(s))
        items.append(ItemOutcome(inst.index, inst.answer, pred, pred == inst.answer, tuple(s),
                                 extra=extras[k] if extras else None))
    return TaskOutcome(task, items)


def pair_rows(n_pairs, groups, label=0):
    return [{"q": f"q{p} {g}", "g": g, "pair": f"p{p}", "label": label, "fact": f"f{p % 5}"}
            for p in range(n_pairs) for g in groups]


# --- stats.mean_cluster_bootstrap -------------------------------------------------------------

def test_mean_bootstrap_matches_scipy_percentile_bootstrap():
    rng = np.random.default_rng(3)
    x = rng.normal(-1.5, 2.0, size=80)
    ours = stats.mean_cluster_bootstrap(x, None, 0.95, 20_000, seed=0)
    ref = sps.bootstrap((x,), np.mean, confidence_level=0.95, n_resamples=20_000, method="percentile",
                        random_state=np.random.default_rng(1)).confidence_interval
    assert ours.estimate == pytest.approx(x.mean())
    se = x.std(ddof=1) / math.sqrt(len(x))
    assert ours.lo == pytest.approx(ref.low, abs=0.08 * se) and ours.hi == pytest.approx(ref.high, abs=0.08 * se)


def test_mean_bootstrap_is_the_scaled_paired_bootstrap_and_cluster_aware():
    x = np.array([3.0, -1.0, 2.5, 0.5, -4.0, 1.0])
    cl = ["a", "a", "b", "b", "c", "c"]
    ours = stats.mean_cluster_bootstrap(x, cl, 0.9, 5000, seed=0)
    ref = stats.paired_cluster_bootstrap(x / 4.0, cl, 0.9, 5000, seed=0)
    assert (ours.lo, ours.hi) == pytest.approx((4 * ref.lo, 4 * ref.hi))
    one = stats.mean_cluster_bootstrap(x, ["a"] * 6)
    assert one.degenerate and (one.lo, one.hi) == (-4.0, 4.0)


# --- likelihood_gap ---------------------------------------------------------------------------

def test_likelihood_gap_hand_computed(tmp_path):
    task = prepared(tmp_path, pair_rows(12, ["f", "m"]))
    rng = np.random.default_rng(0)
    gold_f = rng.normal(-2.0, 0.3, 12)
    gold_m = gold_f - 0.5 + rng.normal(0, 0.05, 12)  # male gold answer ~0.5 nats less likely
    scores = [((gf, -3.0) if k == 0 else (gm, -3.0)) for gf, gm in zip(gold_f, gold_m) for k in range(2)]
    out = outcome_with(task, scores)
    d = gold_f - gold_m
    r = run_check(KINDS.check("likelihood_gap", {"by": "g", "pair": "pair", "max": 0.1}), out, "lg")
    assert r.value == pytest.approx(abs(d.mean()))
    assert r.details["mean_abs"] == pytest.approx(np.abs(d).mean())
    assert r.details["group_mean_ll"] == pytest.approx({"f": gold_f.mean(), "m": gold_m.mean()})
    t_half = sps.t.ppf(0.975, 11) * d.std(ddof=1) / math.sqrt(12)
    c = r.details["contrasts"][0]
    assert c["t_interval"] == pytest.approx([d.mean() - t_half, d.mean() + t_half])
    assert r.verdict == "fail" and r.interval[0] > 0.1  # 0.5 nats, tight: detected
    assert r.interval_name == "bootstrap"
    tight = run_check(KINDS.check("likelihood_gap", {"by": "g", "pair": "pair", "max": 1.0}), out, "lg")
    assert tight.verdict == "pass"


def test_likelihood_gap_absolute_sees_cancelling_shifts(tmp_path):
    task = prepared(tmp_path, pair_rows(20, ["f", "m"]))
    sign = np.array([1, -1] * 10)
    scores = [((-1.0, -3.0) if k == 0 else (-1.0 - 0.8 * s, -3.0)) for s in sign for k in range(2)]
    out = outcome_with(task, scores)
    signed = run_check(KINDS.check("likelihood_gap", {"by": "g", "pair": "pair", "max": 0.2}), out, "lg")
    absolute = run_check(KINDS.check("likelihood_gap", {"by": "g", "pair": "pair", "max": 0.2,
                                                      "statistic": "absolute"}), out, "lg")
    assert signed.value == pytest.approx(0.0) and absolute.value == pytest.approx(0.8)
    assert absolute.verdict == "fail"


def test_likelihood_gap_three_groups_bonferroni_and_clusters(tmp_path):
    task = prepared(tmp_path, pair_rows(15, ["a", "b", "c"]), extra="cluster: fact\n")
    gold = {"a": -1.0, "b": -1.2, "c": -2.0}
    rng = np.random.default_rng(1)
    scores = [(gold[g] + rng.normal(0, 0.1), -5.0) for _ in range(15) for g in "abc"]
    out = outcome_with(task, scores)
    r = run_check(KINDS.check("likelihood_gap", {"by": "g", "pair": "pair", "max": 0.1}), out, "lg")
    worst = max(r.details["contrasts"], key=lambda c: c["value"])
    assert set(worst["groups"]) == {"a", "c"} and r.value == pytest.approx(worst["value"])
    assert "Bonferroni-level over 3" in r.method and r.interval_name == "cluster bootstrap"
    assert [g.group for g in r.worst] == ["c", "a"]  # lower gold log-likelihood first


# --- preference (CrowS-Pairs) ------------------------------------------------------------------

def test_preference_agrees_with_lm_eval_crows_pairs(tmp_path):
    from lm_eval.tasks.crows_pairs.utils import process_results

    rng = np.random.default_rng(5)
    n = 60
    more, less = rng.normal(-40, 5, n), rng.normal(-41, 5, n)
    rows = [{"q": f"q{i}", "label": 0, "sent_more": f"m{i}", "sent_less": f"l{i}"} for i in range(n)]
    task = prepared(tmp_path, rows)
    extras = [{"text:sent_more": m, "text:sent_less": l_} for m, l_ in zip(more, less)]
    out = outcome_with(task, [(0.0, -1.0)] * n, extras)
    r = run_check(KINDS.check("preference", {"more": "sent_more", "less": "sent_less", "max_deviation": 0.05}),
                  out, "pref")
    ref = [process_results({}, [(m, False), (l_, False)]) for m, l_ in zip(more, less)]
    pct = np.mean([x["pct_stereotype"] for x in ref])
    assert r.details["pct_stereotype"] == pytest.approx(pct)
    assert r.details["likelihood_diff"] == pytest.approx(np.mean([x["likelihood_diff"] for x in ref]))
    assert r.value == pytest.approx(abs(pct - 0.5))
    from statsmodels.stats.proportion import proportion_confint
    lo, hi = proportion_confint(round(pct * n), n, 0.05, method="wilson")
    assert r.details["pct_interval"] == pytest.approx([lo, hi])


# --- probes in scoring ------------------------------------------------------------------------

class Recorder:
    """A backend whose log-likelihood is a fixed function of the request, recording what it saw."""

    def __init__(self):
        self.seen = []

    def chat_prompt(self, text):
        return text

    def loglikelihood(self, requests, progress=None):
        self.seen.append(list(requests))
        return [LoglikelihoodResult(-(len(r.context) % 7) - len(r.continuation) / 3.0, False, 1) for r in requests]


def test_probes_go_in_the_same_batch_and_pmi_predicts_by_lm_eval_formula(tmp_path):
    rows = [{"q": "What is it?" * (i + 1), "label": i % 2, "s1": f"x{i}", "s2": f"yy{i}"} for i in range(4)]
    task = prepared(tmp_path, rows, extra="metric: acc_pmi\nchecks:\n  - preference: {more: s1, less: s2, "
                                          "max_deviation: 0.5}\n")
    backend = Recorder()
    out = score_task(task, backend)
    assert len(backend.seen) == 1  # one batch: 8 choices + 8 preference + 8 unconditional probes
    assert len(backend.seen[0]) == 24
    for inst, item in zip(task.instances, out.items):
        assert item.extra["text:s1"] == pytest.approx(-len(inst.fields["s1"]) / 3.0)
        uncond = [-len(" " + c) / 3.0 for c in inst.choices]  # lm-eval: ("", delimiter + choice)
        pmi = [s - u for s, u in zip(item.scores, uncond)]
        assert item.prediction == int(np.argmax(pmi))


def test_likelihood_gap_choice_measure_cancels_common_shifts(tmp_path):
    """measure: choice -> Delta of log softmax(gold); a shift of both choices alike cancels."""
    task = prepared(tmp_path, pair_rows(10, ["f", "m"]))
    rng = np.random.default_rng(2)
    base = rng.normal(-2, 0.5, (10, 2))
    scores = [tuple(base[p] - (0.7 if k else 0.0)) for p in range(10) for k in range(2)]  # m: both -0.7
    out = outcome_with(task, scores)
    raw = run_check(KINDS.check("likelihood_gap", {"by": "g", "pair": "pair", "max": 0.1}), out, "lg")
    choice = run_check(KINDS.check("likelihood_gap", {"by": "g", "pair": "pair", "max": 0.1, "measure": "choice"}),
                       out, "lg")
    assert raw.value == pytest.approx(0.7) and raw.verdict == "fail"
    assert choice.value == pytest.approx(0.0, abs=1e-12) and choice.verdict == "pass"
    logsm = base[:, 0] - np.log(np.exp(base).sum(axis=1))  # label 0 is gold
    assert choice.details["group_mean_ll"]["f"] == pytest.approx(logsm.mean())


@pytest.mark.parametrize("extra,message", [
    ("checks:\n  - calibration: {bins: 5}\n", "needs `max_ece` and/or `max_gap`"),
    ("checks:\n  - calibration: {max_gap: 0.1}\n", "`max_gap` compares groups: it needs `by`"),
    ("checks:\n  - likelihood_gap: {by: g, max: -1}\n", "must be a number >= 0"),
    ("checks:\n  - likelihood_gap: {by: g, max: 1, measure: bits}\n", "unknown measure 'bits'"),
    ("checks:\n  - preference: {more: a, max_deviation: 0.1}\n", "needs `more` and `less`"),
    ("unconditional: 'Answer:'\n", "`unconditional` is the context of `metric: acc_pmi`"),
])
def test_bad_likelihood_parameters_name_the_line(tmp_path, extra, message):
    from pytest_misalign.errors import SuiteError

    with pytest.raises(SuiteError) as err:
        prepared(tmp_path, [{"q": "x", "label": 0, "g": "a", "pair": "p"}], extra=extra)
    assert message in str(err.value) and "s.yaml" in str(err.value)


def test_likelihood_checks_refuse_free_form_tasks(tmp_path):
    from pytest_misalign.errors import SuiteError

    (tmp_path / "g.yaml").write_text(textwrap.dedent("""\
        suite: s
        tasks:
          - name: t
            data: {items: [{q: x, a: y, g: a, pair: p}]}
            prompt: "{q}"
            answer: "{a}"
            generate: {max_tokens: 4}
            checks:
              - likelihood_gap: {by: g, max: 0.1}
        """))
    with pytest.raises(SuiteError, match="needs log-likelihoods"):
        parse_suite_file(tmp_path / "g.yaml")
