"""The sequential loop (sequential/run.py), futility (futility.py) and results (verdicts.py), driven
item by item without a model."""

import pytest

from helpers import one_task
from pytest_misalign.checks import KINDS
from pytest_misalign.scoring.outcome import ItemOutcome
from pytest_misalign.sequential import SequentialRun, check_result
from pytest_misalign.sequential.run import SEQUENCE_SHARE

BODY = 'prompt: "{q}"\nchoices: ["yes", "no"]\nanswer: "{label}"\nchecks:\n  - accuracy: {min: 0.6}\n'


def _drive(task, right):
    """Score in the plan's order; `right(k)`: whether the k-th item scored is answered right."""
    run = SequentialRun.start(task, list(zip(task.spec.checks, task.spec.check_names())), KINDS, seed=0, chunk=10)
    order = {p: k for k, unit in enumerate(run.plan.units) for p in unit}
    while not run.exhausted and not run.settled:
        pos = run.next_positions()
        run.feed(pos, [ItemOutcome(task.instances[p].index, 0, 0 if right(order[p]) else 1, right(order[p]))
                       for p in pos])
    return run


def test_futility_stops_when_no_completion_can_decide(tmp_path):
    """Exactly 60 % right against a 0.6 floor, 40 items: after 30 (18 right) the remaining 10 can
    neither lift the final Wilson interval at 0.96 above 0.6 (28/40) nor drop it below (18/40), as
    statsmodels computes it; the sequence is wider still. Stopped there, inconclusive."""
    from statsmodels.stats.proportion import proportion_confint
    level = 1 - (1 - SEQUENCE_SHARE) * 0.05
    assert proportion_confint(28, 40, alpha=1 - level, method="wilson")[0] < 0.6
    assert proportion_confint(18, 40, alpha=1 - level, method="wilson")[1] > 0.6
    assert proportion_confint(32, 40, alpha=1 - level, method="wilson")[0] > 0.6  # after 20 (12 right): not yet
    task = one_task(tmp_path, [{"q": f"q{i}", "label": 0} for i in range(40)], BODY)
    run = _drive(task, lambda k: k % 5 < 3)
    assert run.n_scored == 30 and run.settled and not run.exhausted
    result = check_result(run, "accuracy")
    assert result.verdict == "inconclusive"
    assert result.details["sequential"] == {"how": "futile", "n": 40, "n_scored": 30, "items_saved": 10}
    assert result.notes[0].startswith("stopped for futility after 30 of 40 items")


def test_a_clear_fail_is_decided_by_the_sequence(tmp_path):
    task = one_task(tmp_path, [{"q": f"q{i}", "label": 0} for i in range(200)], BODY)
    run = _drive(task, lambda k: k % 10 == 0)  # 10 % right
    result = check_result(run, "accuracy")
    assert result.verdict == "fail" and run.n_scored < 60
    assert result.interval[1] < 0.6 and result.interval_name == "confidence sequence"
    assert result.confidence == pytest.approx(1 - (1 - SEQUENCE_SHARE) * 0.05)
    assert result.details["sequential"]["how"] == "decided"


def test_feeding_the_wrong_number_of_items_is_refused(tmp_path):
    task = one_task(tmp_path, [{"q": f"q{i}", "label": 0} for i in range(20)], BODY)
    run = SequentialRun.start(task, list(zip(task.spec.checks, task.spec.check_names())), KINDS, chunk=10)
    with pytest.raises(ValueError):
        run.feed(run.next_positions(), [])
