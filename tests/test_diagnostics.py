"""Task diagnostics (chance level, above-chance test, constant answers) on simulated models.

References: the chance levels are counted by hand here; the above-chance p-value is checked against
statsmodels' `binom_test` and a hand-summed binomial tail.
"""

import json

import numpy as np
import pytest
from statsmodels.stats.proportion import binom_test

from helpers import parse_suite_file
from pytest_misalign.checks import KINDS
from pytest_misalign.checks import run_check, run_suite_check
from pytest_misalign.scoring.diagnostics import CONSTANT_MIN_ITEMS, CONSTANT_SHARE, diagnose
from pytest_misalign.scoring.outcome import ItemOutcome, TaskOutcome
from pytest_misalign.scoring.match import matches
from pytest_misalign.tasks.prepare import prepare_task

SENTIMENT = ["positive", "negative"]


def build_task(tmp_path, rows, *, choices=SENTIMENT, extra=None, name="suite.yaml"):
    """A task over `rows` (each with `label`, the gold position, or `a`, a free-form answer)."""
    task = {"name": "t", "data": {"items": [dict(row, q=f"q{i}") for i, row in enumerate(rows)]},
            "prompt": "{q}", **(extra or {})}
    if "generate" in task:
        task["answer"] = "{a}"
    else:
        task.update(choices=choices, answer="{label}")
    path = tmp_path / name
    path.write_text(json.dumps({"suite": "s", "tasks": [task]}))  # JSON is YAML
    spec = parse_suite_file(path)
    return prepare_task(spec, spec.tasks[0])


def choice_outcome(tmp_path, rows, predictions, **kw) -> TaskOutcome:
    """A multiple-choice task whose model picks predictions[i] (a choice position) on item i."""
    task = build_task(tmp_path, rows, **kw)
    return TaskOutcome(task, [ItemOutcome(inst.index, inst.answer, p, p == inst.answer)
                              for inst, p in zip(task.instances, predictions)])


def generation_outcome(tmp_path, answers, outputs) -> TaskOutcome:
    task = build_task(tmp_path, [{"a": a} for a in answers], extra={"generate": {"max_tokens": 4}})
    return TaskOutcome(task, [ItemOutcome(inst.index, inst.answer, out, matches(out, inst.answer, "exact"), output=out)
                              for inst, out in zip(task.instances, outputs)])


def balanced(n):
    return [{"label": i % 2} for i in range(n)]


# ------------------------------------------------------------------ chance level
def test_chance_is_one_over_choices_when_gold_is_balanced(tmp_path):
    rows = [{"label": i % 4} for i in range(40)]
    d = diagnose(choice_outcome(tmp_path, rows, [r["label"] for r in rows], choices=["a", "b", "c", "d"]))
    assert d.chance == pytest.approx(0.25) and d.chance_basis == "1/choices"
    assert d.above_chance and d.p_above_chance == pytest.approx(0.25 ** 40, rel=1e-9)


def test_chance_is_the_majority_gold_position(tmp_path):
    rows = [{"label": 0}] * 14 + [{"label": 1}] * 6  # always answering 'positive' scores 70 %
    d = diagnose(choice_outcome(tmp_path, rows, [0] * 20))
    assert d.chance == pytest.approx(0.7) and "position 0" in d.chance_basis


def test_chance_is_the_majority_gold_text_when_positions_vary(tmp_path):
    # choices listed in either order; the gold answer is the text "yes" on 16 of 20 items, at
    # position 0 on 10 and position 1 on 10: the position majority is 50 %, the text majority 80 %
    rows = []
    for i in range(20):
        opts = ["yes", "no"] if i % 2 == 0 else ["no", "yes"]
        gold = "yes" if i < 16 else "no"
        rows.append({"opts": opts, "label": opts.index(gold)})
    d = diagnose(choice_outcome(tmp_path, rows, [r["label"] for r in rows], choices="opts"))
    positions = [r["label"] for r in rows]
    assert max(positions.count(0), positions.count(1)) / 20 == 0.5  # hand count
    assert d.chance == pytest.approx(0.8) and "'yes'" in d.chance_basis


def test_generation_chance_is_the_majority_normalized_answer(tmp_path):
    answers = ["Paris"] * 5 + [" paris "] * 2 + ["Rome"] * 3
    d = diagnose(generation_outcome(tmp_path, answers, answers))
    assert d.chance == pytest.approx(0.7)  # 'paris' after normalization: 7 of 10
    assert d.constant_answer is None and d.top_prediction_share == pytest.approx(0.7)


@pytest.mark.parametrize("right", [10, 12, 13, 15, 20])
def test_above_chance_is_the_one_sided_exact_binomial_test(tmp_path, right):
    from math import comb

    rows = balanced(20)
    preds = [r["label"] if i < right else 1 - r["label"] for i, r in enumerate(rows)]
    d = diagnose(choice_outcome(tmp_path, rows, preds))
    ref = binom_test(right, 20, 0.5, alternative="larger")
    hand = sum(comb(20, j) for j in range(right, 21)) / 2 ** 20
    assert d.p_above_chance == pytest.approx(ref, rel=1e-9) and d.p_above_chance == pytest.approx(hand, rel=1e-9)
    assert d.above_chance == (hand < 0.05)  # 15/20 (p = 0.021) is above chance, 14/20 would not be


def test_random_model_is_at_chance(tmp_path):
    rng = np.random.default_rng(0)
    rows = balanced(200)
    d = diagnose(choice_outcome(tmp_path, rows, rng.integers(0, 2, 200).tolist()))
    assert not d.above_chance and d.at_chance and d.constant_answer is None
    assert d.notes() == [d.chance_sentence()] and "indistinguishable from chance level 0.500" in d.notes()[0]


# --------------------------------------------------------------- constant answers
def test_constant_answer_by_position(tmp_path):
    d = diagnose(choice_outcome(tmp_path, balanced(40), [0] * 40))
    assert d.constant_answer == "predicts position 0 ('positive') for 100% of items"
    assert d.top_prediction_share == 1.0 and d.accuracy == 0.5 and not d.above_chance
    assert d.to_json() == {"chance": 0.5, "above_chance": False, "p_above_chance": pytest.approx(0.5627, abs=1e-4),
                           "constant_answer": d.constant_answer, "top_prediction_share": 1.0}
    assert d.notes()[0] == "constant answer: the model predicts position 0 ('positive') for 100% of items"


def test_constant_answer_by_text_wherever_it_is_listed(tmp_path):
    rows = [{"opts": ["yes", "no"] if i % 2 else ["no", "yes"], "label": i % 3 % 2} for i in range(30)]
    preds = [r["opts"].index("yes") for r in rows]  # always 'yes', at alternating positions
    d = diagnose(choice_outcome(tmp_path, rows, preds, choices="opts"))
    assert d.constant_answer == "predicts the choice 'yes' for 100% of items, wherever it is listed"
    assert d.top_prediction_share == 1.0


def test_nearly_constant_is_constant_and_the_threshold_is_the_module_constant(tmp_path):
    n = 40
    at = int(np.ceil(CONSTANT_SHARE * n))  # 38 of 40 = 95 %
    d = diagnose(choice_outcome(tmp_path, balanced(n), [0] * at + [1] * (n - at)))
    assert d.constant_answer == "predicts position 0 ('positive') for 95% of items"
    d = diagnose(choice_outcome(tmp_path, balanced(n), [0] * (at - 1) + [1] * (n - at + 1)))
    assert d.constant_answer is None and d.top_prediction_share == pytest.approx((at - 1) / n)


def test_constant_answer_needs_a_few_items(tmp_path):
    few = CONSTANT_MIN_ITEMS - 1
    assert diagnose(choice_outcome(tmp_path, balanced(few), [0] * few)).constant_answer is None
    n = CONSTANT_MIN_ITEMS
    assert diagnose(choice_outcome(tmp_path, balanced(n), [0] * n)).constant_answer is not None


def test_constant_answer_that_is_also_the_gold_answer_says_the_task_cannot_tell(tmp_path):
    d = diagnose(choice_outcome(tmp_path, [{"label": 0}] * 12, [0] * 12))
    assert d.accuracy == 1.0 and d.chance == 1.0 and not d.above_chance
    assert d.constant_answer.endswith("this task cannot tell knowledge from a constant answer")


def test_constant_generation(tmp_path):
    answers = [f"city {i}" for i in range(20)]
    d = diagnose(generation_outcome(tmp_path, answers, ["I don't know."] * 19 + ["city 19"]))
    assert d.constant_answer == "generates \"i don't know.\" for 95% of items"
    assert d.chance == pytest.approx(1 / 20) and d.above_chance is False  # 1 right of 20 at chance 0.05


def test_good_model_has_no_diagnostic_notes(tmp_path):
    rows = balanced(50)
    preds = [r["label"] if i % 10 else 1 - r["label"] for i, r in enumerate(rows)]  # 90 % right
    d = diagnose(choice_outcome(tmp_path, rows, preds))
    assert d.above_chance and d.constant_answer is None and d.notes() == []
    assert set(d.to_json()) == {"chance", "above_chance", "p_above_chance", "constant_answer", "top_prediction_share"}


# ==================================================================================================
# Checks on degenerate tasks: they say so instead of passing silently (and fail strict mode)
# ==================================================================================================
def check(kind, **params):
    return KINDS.check(kind, params)


def sentiment_variants(n_questions=20):
    """The bundled sentiment-answer-format shape: every question in two formats, balanced gold."""
    return [{"qid": f"q{k}", "format": f, "label": k % 2} for k in range(n_questions) for f in ("plain", "json")]


def gated_checks():
    return {"gap": check("gap", by="format", max=0.1), "group_accuracy": check("group_accuracy", by="format", min=0.4),
            "consistency": check("consistency", of="qid", min=0.8, by="format")}


def test_constant_answer_model_no_longer_passes_silently(tmp_path):
    # a model answering position 0 everywhere: every variant exactly 0.500, gap 0.000
    rows = sentiment_variants()
    outcome = choice_outcome(tmp_path, rows, [0] * len(rows))
    for kind, spec in gated_checks().items():
        r = run_check(spec, outcome, kind)
        assert r.passes("point"), kind  # the numbers alone pass ...
        assert r.degenerate and "constant answer: the model predicts position 0 ('positive') for 100% of items" \
            in r.degenerate, kind  # ... but the check says why they mean nothing
        assert r.notes[0] == r.degenerate.split("; ")[0]
        assert not r.passes("point", strict=True) and not r.passes("confident", strict=True)
    gap = run_check(gated_checks()["gap"], outcome, "gap")
    assert gap.value == 0.0 and gap.point_verdict == "pass"
    acc = run_check(check("accuracy", min=0.4), outcome, "accuracy")
    assert acc.degenerate is None and acc.passes("point", strict=False)
    assert any("indistinguishable from chance level 0.500" in n for n in acc.notes)


def test_constant_answer_by_text_is_degenerate(tmp_path):
    rows = [{"opts": ["yes", "no"] if k % 2 else ["no", "yes"], "qid": f"q{k // 2}", "format": "ab"[k % 2],
             "label": (k // 2) % 2} for k in range(40)]
    preds = [r["opts"].index("yes") for r in rows]
    outcome = choice_outcome(tmp_path, rows, preds, choices="opts")
    r = run_check(check("consistency", of="qid", min=0.5), outcome, "consistency[qid]")
    assert r.value == 1.0 and r.verdict == "pass"  # always 'yes': perfectly consistent ...
    assert "predicts the choice 'yes' for 100% of items" in r.degenerate  # ... and meaningless


def test_random_model_gap_is_degenerate_at_chance(tmp_path):
    rows = sentiment_variants(60)
    preds = np.random.default_rng(3).integers(0, 2, len(rows)).tolist()
    outcome = choice_outcome(tmp_path, rows, preds)
    r = run_check(check("gap", by="format", max=0.2), outcome, "gap[format]")
    acc = outcome.accuracy
    assert r.degenerate == (f"accuracy {acc:.3f} is indistinguishable from chance 0.500 (one-sided exact binomial "
                            f"p = {r.degenerate.split('p = ')[1].split(')')[0]}): a gap of {r.value:.3f} says nothing "
                            "about the groups")
    assert r.notes[0] == r.degenerate
    ga = run_check(check("group_accuracy", by="format", min=0.3), outcome, "ga")
    assert ga.degenerate is None  # group floors are meaningful at chance; only a constant answer voids them


def test_a_good_model_is_not_degenerate(tmp_path):
    rows = sentiment_variants(30)
    preds = [r["label"] if i % 8 else 1 - r["label"] for i, r in enumerate(rows)]
    outcome = choice_outcome(tmp_path, rows, preds)
    for kind, spec in gated_checks().items():
        assert run_check(spec, outcome, kind).degenerate is None, kind


def test_suite_checks_are_degenerate_when_a_task_answers_constantly(tmp_path):
    good = choice_outcome(tmp_path, [{"label": i % 2} for i in range(40)], [i % 2 for i in range(40)], name="a.yaml")
    constant = choice_outcome(tmp_path, [{"label": i % 2} for i in range(40)], [1] * 40, name="b.yaml")
    outcomes = {"good": good, "constant": constant}
    spread = run_suite_check(check("spread", max=0.6), outcomes, "spread")
    assert spread.degenerate.startswith("task 'constant' has a constant answer: the model predicts position 1")
    shift = run_suite_check(check("shift", **{"from": "good", "to": "constant", "max_drop": 0.6}), outcomes, "shift")
    assert shift.degenerate == spread.degenerate and shift.notes[0] == shift.degenerate
    both_good = {"good": good, "also": good}
    assert run_suite_check(check("spread", max=0.6), both_good, "spread").degenerate is None
