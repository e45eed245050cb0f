"""Suite errors for generation metrics and classification checks: file, line, key and a fix."""

import textwrap

import pytest

from helpers import parse_suite_file
from pytest_misalign import metrics
from pytest_misalign.errors import SuiteError
from pytest_misalign.spec import GENERATION_METRICS

FREE = 'prompt: "{q}"\nanswer: "{a}"\ngenerate: {max_tokens: 8}\n'
MC = 'prompt: "{q}"\nchoices: ["{a}", "no"]\nanswer: 0\n'


def parse(tmp_path, body):
    path = tmp_path / "s.yaml"
    path.write_text("suite: s\ntasks:\n  - name: t\n    data: {items: [{q: x, a: y}]}\n"
                    + textwrap.indent(textwrap.dedent(body), "    "))
    return parse_suite_file(path)


def test_generation_metric_names_match_the_registry():
    assert set(GENERATION_METRICS) == set(metrics.GENERATION_METRICS)


@pytest.mark.parametrize("metric", ["token_f1", "bleu", "chrf", "rouge_l"])
def test_free_form_task_takes_a_generation_metric(tmp_path, metric):
    spec = parse(tmp_path, FREE + f"metric: {metric}\nchecks: [{{score: {{min: 0.5}}}}, "
                                  "{score_gap: {by: q, max: 0.2, min_n: 1}}]\n")
    assert spec.tasks[0].metric == metric and [c.kind for c in spec.tasks[0].checks] == ["score", "score_gap"]


def _error(tmp_path, body) -> SuiteError:
    with pytest.raises(SuiteError) as err:
        parse(tmp_path, body)
    return err.value


def test_generation_metric_on_a_multiple_choice_task(tmp_path):
    err = _error(tmp_path, MC + "metric: bleu\nchecks: [{accuracy: {min: 0.5}}]\n")
    assert err.key == "metric" and err.line == 8 and "multiple-choice task" in err.message
    assert "generate:" in err.fix and str(tmp_path / "s.yaml") in str(err)


def test_unknown_metric_lists_both_kinds(tmp_path):
    err = _error(tmp_path, FREE + "metric: meteor\nchecks: [{accuracy: {min: 0.5}}]\n")
    assert "unknown metric 'meteor'" in err.message and "token_f1" in err.fix and "acc_norm" in err.fix


def test_multiple_choice_metric_on_a_free_form_task(tmp_path):
    err = _error(tmp_path, FREE + "metric: acc_norm\nchecks: [{accuracy: {min: 0.5}}]\n")
    assert "match:" in err.message and err.key == "metric"


def test_score_check_needs_a_generation_metric(tmp_path):
    err = _error(tmp_path, FREE + "checks: [{score: {min: 0.5}}]\n")
    assert err.key == "checks[0].score" and "has none" in err.message and "metric:" in err.fix
    err = _error(tmp_path, MC + "checks: [{score_gap: {by: q, max: 0.1}}]\n")
    assert "precision/recall/f1" in err.fix


def test_score_needs_a_bound_and_rates(tmp_path):
    assert "needs `min` and/or `max`" in _error(tmp_path, FREE + "metric: bleu\nchecks: [{score: {}}]\n").message
    assert "rate" in _error(tmp_path, FREE + "metric: bleu\nchecks: [{score: {min: 30}}]\n").message


def test_classification_checks_need_multiple_choice(tmp_path):
    err = _error(tmp_path, FREE + "checks: [{f1: {min: 0.5}}]\n")
    assert "needs a multiple-choice task" in err.message and err.key == "checks[0].f1"


def test_classification_parameters(tmp_path):
    spec = parse(tmp_path, MC + "checks: [{f1: {min: 0.5, average: per_class}}, "
                                "{recall_gap: {by: q, label: y, max: 0.1}}, {precision: {label: 1, class_of: index, max: 1}}]\n")
    assert [c.kind for c in spec.tasks[0].checks] == ["f1", "recall_gap", "precision"]
    assert "must be one of macro, per_class" in _error(tmp_path, MC + "checks: [{f1: {min: 0.5, average: micro}}]\n").message
    assert "not both" in _error(tmp_path, MC + "checks: [{recall: {min: 0.5, average: macro, label: y}}]\n").message
    assert "needs `min` and/or `max`" in _error(tmp_path, MC + "checks: [{recall: {label: y}}]\n").message
    assert "needs 'max'" in _error(tmp_path, MC + "checks: [{recall_gap: {by: q}}]\n").message
