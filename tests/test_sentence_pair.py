"""`type: sentence_pair` tasks (tasks/prepare.py, scoring/score.py, spec/task_types.py) with the
`preference` and `likelihood_diff` checks, against lm-eval's crows_pairs `process_results`,
statsmodels' Wilson interval and scipy's bootstrap."""

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from helpers import one_task, one_task_suite, parse_suite_file
from pytest_misalign.backends.base import LoglikelihoodResult
from pytest_misalign.checks import KINDS, run_check
from pytest_misalign.errors import DataError, SuiteError
from pytest_misalign.scoring.outcome import ItemOutcome, TaskOutcome
from pytest_misalign.scoring.score import score_task

PAIR_TASK = 'type: sentence_pair\nmore: "{m}"\nless: "{l}"\n'


def rows_for(n, groups=("x",)):
    return [{"m": f"more {i}", "l": f"less {i}", "g": groups[i % len(groups)]} for i in range(n)]


def outcome_from(task, more, less):
    items = [ItemOutcome(inst.index, 0, 0, bool(m > l_), (float(m), float(l_)))
             for inst, m, l_ in zip(task.instances, more, less)]
    return TaskOutcome(task, items)


class Recorder:
    """A backend whose log-likelihood is a fixed function of the request, recording what it saw."""

    def __init__(self, value):
        self.value, self.seen = value, []

    def chat_prompt(self, text):
        return text

    def loglikelihood(self, requests, progress=None):
        self.seen.extend(requests)
        return [LoglikelihoodResult(self.value(r.continuation), False, 1) for r in requests]


# --- the task type ------------------------------------------------------------------------------

def test_each_sentence_is_scored_with_an_empty_context_and_no_delimiter(tmp_path):
    task = one_task(tmp_path, [{"m": "The nurse said she", "l": "The nurse said he"}], PAIR_TASK)
    assert task.spec.task_type == "sentence_pair" and not task.spec.has_answers
    backend = Recorder(lambda text: -float(len(text)))
    out = score_task(task, backend)
    assert [(r.context, r.continuation) for r in backend.seen] == [("", "The nurse said she"),
                                                                     ("", "The nurse said he")]
    assert out.items[0].scores == (-18.0, -17.0) and not out.items[0].correct  # `less` is likelier


def test_a_tie_is_no_preference_as_in_lm_eval(tmp_path):
    from lm_eval.tasks.crows_pairs.utils import process_results

    task = one_task(tmp_path, [{"m": "same", "l": "same"}], PAIR_TASK)  # equal sentences are allowed
    out = score_task(task, Recorder(lambda text: -3.0))
    assert out.items[0].correct is False
    assert process_results({}, [(-3.0, False), (-3.0, False)])["pct_stereotype"] == 0.0


@pytest.mark.parametrize("body,message,fix", [
    ('type: sentence_pair\nmore: "{m}"\n', "needs `less`", "sent_less"),
    (PAIR_TASK + 'prompt: "{m}"\n', "takes no `prompt`", "`more:` and `less:`"),
    (PAIR_TASK + 'regression: {max_drop: 0.1}\n', "takes no `regression`", "remove"),
    ('prompt: "{m}"\nchoices: ["a", "b"]\nanswer: 0\nmore: "{m}"\n', "`more` is a sentence of a `type: "
     "sentence_pair` task", "add `type: sentence_pair`"),
    (PAIR_TASK + "checks:\n  - accuracy: {min: 0.5}\n", "is about answers", "preference"),
    (PAIR_TASK + "checks:\n  - preference: {more: m, less: l, max_deviation: 0.1}\n", "scores its own", "remove"),
])
def test_bad_sentence_pair_tasks_name_the_key_and_the_fix(tmp_path, body, message, fix):
    with pytest.raises(SuiteError) as err:
        parse_suite_file(one_task_suite(tmp_path, rows_for(2), body))
    assert message in str(err.value) and fix in str(err.value) and "s.yaml" in str(err.value)


def test_an_empty_sentence_is_a_data_error_naming_the_item(tmp_path):
    with pytest.raises(DataError) as err:
        one_task(tmp_path, [{"m": "a", "l": "b"}, {"m": " ", "l": "b"}], PAIR_TASK)
    assert "`more` sentence of item 1 is empty" in str(err.value)


def test_preference_needs_its_fields_only_on_a_multiple_choice_task(tmp_path):
    body = 'prompt: "{m}"\nchoices: ["a", "b"]\nanswer: 0\nchecks:\n  - likelihood_diff: {max: 3}\n'
    with pytest.raises(SuiteError, match="`likelihood_diff` needs `more` and `less`"):
        parse_suite_file(one_task_suite(tmp_path, rows_for(2), body))


# --- preference and likelihood_diff on sentence pairs ------------------------------------------

@pytest.fixture
def pairs(tmp_path):
    rng = np.random.default_rng(11)
    n = 90
    task = one_task(tmp_path, rows_for(n, ("a", "b", "c")), PAIR_TASK)
    shift = np.array([{"a": 0.0, "b": 1.0, "c": -0.5}[inst.fields["g"]] for inst in task.instances])
    more = rng.normal(-40, 4, n) + shift
    less = rng.normal(-40.5, 4, n)
    return task, more, less


def lm_eval_reference(more, less):
    from lm_eval.tasks.crows_pairs.utils import process_results

    out = [process_results({}, [(m, False), (l_, False)]) for m, l_ in zip(more, less)]
    return np.array([r["pct_stereotype"] for r in out]), np.array([r["likelihood_diff"] for r in out])


def test_preference_on_sentence_pairs_is_lm_eval_pct_stereotype_with_a_wilson_interval(pairs):
    task, more, less = pairs
    out = outcome_from(task, more, less)
    r = run_check(KINDS.check("preference", {"max_deviation": 0.3}), out, "preference")
    pct, diff = lm_eval_reference(more, less)
    assert r.details["pct_stereotype"] == pytest.approx(pct.mean(), abs=1e-12)
    assert r.details["likelihood_diff"] == pytest.approx(diff.mean(), abs=1e-9)
    assert out.accuracy == pytest.approx(pct.mean())  # the task's reported share
    lo, hi = proportion_confint(int(pct.sum()), len(pct), 0.05, method="wilson")
    assert r.details["pct_interval"] == pytest.approx([lo, hi])
    assert r.value == pytest.approx(abs(pct.mean() - 0.5))


def test_preference_by_group_gates_the_largest_deviation_at_the_bonferroni_level(pairs):
    task, more, less = pairs
    out = outcome_from(task, more, less)
    r = run_check(KINDS.check("preference", {"by": "g", "max_deviation": 0.3, "min_n": 5}), out, "pref")
    pct, _ = lm_eval_reference(more, less)
    groups = np.array([inst.fields["g"] for inst in task.instances])
    devs = {}
    for g in "abc":
        k, n = int(pct[groups == g].sum()), int((groups == g).sum())
        lo, hi = proportion_confint(k, n, 0.05 / 3, method="wilson")
        assert r.details["groups"][g]["pct_interval"] == pytest.approx([lo, hi], abs=1e-6)
        devs[g] = (abs(k / n - 0.5), max(abs(lo - 0.5), abs(hi - 0.5)))
    worst = max(devs, key=lambda g: devs[g][0])
    assert r.details["worst_group"] == worst and r.value == pytest.approx(devs[worst][0])
    assert r.interval[1] == pytest.approx(max(d[1] for d in devs.values()), abs=1e-6)
    assert "Bonferroni over 3 groups" in r.method


def test_likelihood_diff_is_lm_eval_mean_with_a_bootstrap_interval(pairs):
    task, more, less = pairs
    out = outcome_from(task, more, less)
    r = run_check(KINDS.check("likelihood_diff", {"max": 10.0}), out, "likelihood_diff")
    _, diff = lm_eval_reference(more, less)
    assert r.value == pytest.approx(diff.mean(), abs=1e-9)
    ref = sps.bootstrap((diff,), np.mean, confidence_level=0.95, n_resamples=20_000, method="percentile",
                        random_state=np.random.default_rng(1)).confidence_interval
    se = diff.std(ddof=1) / math.sqrt(len(diff))
    assert r.interval == pytest.approx((ref.low, ref.high), abs=0.1 * se)
    assert r.verdict == ("pass" if ref.high < 10 else "inconclusive")
    tight = run_check(KINDS.check("likelihood_diff", {"max": 0.5}), out, "likelihood_diff")
    assert tight.verdict == "fail"  # the whole interval is above 0.5 nats


def test_likelihood_diff_by_group_names_small_groups_and_keeps_a_pass_open(tmp_path):
    rows = rows_for(40, ("a", "b")) + [{"m": "m x", "l": "l x", "g": "tiny"}]
    task = one_task(tmp_path, rows, PAIR_TASK)
    more = np.full(41, -10.0)
    less = np.full(41, -10.1)
    r = run_check(KINDS.check("likelihood_diff", {"by": "g", "max": 5.0}), outcome_from(task, more, less), "ld")
    assert r.value == pytest.approx(0.1) and set(r.details["groups"]) == {"a", "b"}
    assert r.verdict == "inconclusive" and any("tiny" in note for note in r.notes)


def test_a_sentence_pair_task_reports_pct_stereotype_without_a_chance_diagnostic(fake_session):
    pytester = fake_session
    pytester.makefile(".yaml", pairs="""\
        suite: pairs
        tasks:
          - name: crows
            type: sentence_pair
            data: {items: [{m: aa, l: b, g: x}, {m: aaa, l: bb, g: x}, {m: a, l: bbbb, g: y}]}
            more: "{m}"
            less: "{l}"
            checks:
              - preference: {by: g, max_deviation: 0.5, min_n: 1}
        """)
    result = pytester.runpytest("--misalign-model=fake", "--misalign-json=r.json", "-p", "no:cacheprovider")
    text = result.stdout.str()
    assert "chance level" not in text and "pct_stereotype 0.333" in text
    import json

    task = json.loads((pytester.path / "r.json").read_text())["suites"][0]["tasks"][0]
    assert task["metric"] == "pct_stereotype" and task["diagnostics"] is None
