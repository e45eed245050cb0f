"""`preamble:` and `fewshot:` (spec/fewshot.py, tasks/prepare.py): shots taken from their own data, in
lm-eval's layout, with --misalign-num-fewshot; and MMLU 5-shot against lm-eval 0.4.13 run on the same
rows (`num_fewshot=5`, its dev split): the same request strings, log-likelihoods and accuracy."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pytest

import lm_eval_standard as ref
from helpers import one_task_suite, parse_suite_file, require_shared
from pytest_misalign.errors import DataError, SuiteError
from pytest_misalign.scoring.score import score_task
from pytest_misalign.tasks.prepare import prepare_task

ROWS = [{"q": "2+2", "a": "4", "b": "5", "label": 0}, {"q": "3+3", "a": "7", "b": "6", "label": 1}]
SHOTS = [{"q": "1+1", "a": "2", "b": "3", "label": 0}, {"q": "1+2", "a": "4", "b": "3", "label": 1},
         {"q": "2+3", "a": "5", "b": "6", "label": 0}]
BODY = '''
preamble: "Arithmetic.\\n\\n"
prompt: "Q: {q}\\nA:"
choices: ["{a}", "{b}"]
answer: "{label}"
fewshot:
  n: 2
  data: {items: %s}
checks:
  - accuracy: {min: 0.5}
''' % json.dumps(SHOTS)


def _prepare(tmp_path, body=BODY, **kwargs):
    spec = parse_suite_file(one_task_suite(tmp_path, ROWS, body))
    return prepare_task(spec, spec.tasks[0], **kwargs)


def test_shots_are_the_first_rows_in_lm_evals_layout(tmp_path):
    task = _prepare(tmp_path)
    assert task.fewshot == 2
    # description + shot + sep + shot + sep + question; a shot is prompt + delimiter + gold choice
    assert task.instances[0].prompt == "Arithmetic.\n\nQ: 1+1\nA: 2\n\nQ: 1+2\nA: 3\n\nQ: 2+2\nA:"
    assert task.instances[1].prompt.endswith("A: 3\n\nQ: 3+3\nA:")
    assert task.instances[0].choices == ("4", "5")  # the item itself is untouched


def test_num_fewshot_overrides_n_and_zero_keeps_the_preamble(tmp_path):
    assert _prepare(tmp_path, num_fewshot=3).instances[0].prompt.count("\nA: ") == 3  # three answered shots
    zero = _prepare(tmp_path, num_fewshot=0)
    assert zero.fewshot == 0 and zero.instances[0].prompt == "Arithmetic.\n\nQ: 2+2\nA:"


def test_an_item_keeps_its_key_whatever_shots_precede_it(tmp_path):
    """Item keys (baselines, `compare`) name the question: 0-shot and 3-shot runs pair up item by item,
    while the task's own preamble stays part of the question."""
    zero, three = _prepare(tmp_path, num_fewshot=0), _prepare(tmp_path, num_fewshot=3)
    assert zero.instances[0].prompt != three.instances[0].prompt
    assert zero.item_keys() == three.item_keys()
    bare = _prepare(tmp_path, BODY.replace('preamble: "Arithmetic.\\n\\n"\n', ''), num_fewshot=0)
    assert bare.item_keys() != zero.item_keys()


def test_more_shots_than_rows_names_the_key_and_the_fix(tmp_path):
    with pytest.raises(DataError) as info:
        _prepare(tmp_path, num_fewshot=4)
    text = str(info.value)
    assert "4 shots asked for, but the few-shot data has 3 rows" in text and "fewshot.n" in text
    assert "at most 3" in text


def test_a_task_without_fewshot_ignores_num_fewshot(tmp_path):
    body = 'prompt: "Q: {q}\\nA:"\nchoices: ["{a}", "{b}"]\nanswer: "{label}"\nchecks:\n  - accuracy: {min: 0.5}\n'
    task = _prepare(tmp_path, body, num_fewshot=5)
    assert task.fewshot == 0 and task.instances[0].prompt == "Q: 2+2\nA:"


@pytest.mark.parametrize("fewshot, key, words", [
    ("{n: -1, data: {items: [{q: x}]}}", "fewshot.n", "whole number of shots"),
    ("{n: 1}", "fewshot.data", "where the shots come from"),
    ("{n: 1, data: {items: [{q: x}]}, separater: x}", "separater", "did you mean 'separator'"),
    ("{n: 1, data: {limit: 3}}", "fewshot.data", "exactly one source"),
])
def test_bad_fewshot_names_the_key(tmp_path, fewshot, key, words):
    body = f'prompt: "Q: {{q}}"\nchoices: ["{{a}}", "{{b}}"]\nanswer: "{{label}}"\nfewshot: {fewshot}\n' \
           'checks:\n  - accuracy: {min: 0.5}\n'
    with pytest.raises(SuiteError) as info:
        parse_suite_file(one_task_suite(tmp_path, ROWS, body))
    assert info.value.key == key and words in str(info.value)


def test_fewshot_data_inherits_the_tasks_hub_keys():
    spec = parse_suite_file(ref.SUITES / "mmlu.yaml")
    for task in spec.tasks:
        subject = task.name[len("mmlu_"):]
        hf = task.fewshot.data.hf
        assert (hf["path"], hf["name"], hf["split"]) == ("cais/mmlu", subject, "dev")
        assert hf["revision"] == task.data.hf["revision"] and hf["rename"] == task.data.hf["rename"]
        assert list(hf["sha256"]) == [f"mmlu/data/dev/{subject}_dev.csv"] == [hf["local"]]
        assert task.fewshot.data.columns == task.data.columns and task.fewshot.data.strip == ("question",)
        assert task.fewshot.n == 0  # lm-eval's default for mmlu; --misalign-num-fewshot=5 as its --num_fewshot 5


def test_another_split_never_reads_the_tasks_local_files(tmp_path):
    """`{hf: {split: dev}}` alone must not read the task's test file under --misalign-data-dir (the
    shots would be test items): the task's `local` and `sha256` are dropped, the mirror's default
    path <path>/<name>/<split>.jsonl applies."""
    text = (ref.SUITES / "mmlu.yaml").read_text()
    text = re.sub(r"data: \{hf: \{split: dev, local: [^}]*\}\}\}", "data: {hf: {split: dev}}", text)
    (tmp_path / "mmlu.yaml").write_text(text)
    task = parse_suite_file(tmp_path / "mmlu.yaml").task("mmlu_anatomy")
    hf = task.fewshot.data.hf
    assert hf["split"] == "dev" and "local" not in hf and "sha256" not in hf and hf["name"] == "anatomy"
    assert task.data.hf["local"] == "mmlu/data/test/anatomy_test.csv"


def test_a_sentence_pair_task_rejects_fewshot(tmp_path):
    body = 'type: sentence_pair\nmore: "{a}"\nless: "{b}"\nfewshot: {n: 1, data: {items: [{a: x}]}}\n' \
           'checks:\n  - preference: {max: 0.1}\n'
    with pytest.raises(SuiteError, match="fewshot"):
        parse_suite_file(one_task_suite(tmp_path, ROWS, body))


def test_num_fewshot_option_is_checked(pytester):
    pytester.makefile(".yaml", s="suite: s\ntasks: []\n")
    result = pytester.runpytest("--misalign-num-fewshot=five")
    result.stderr.fnmatch_lines(["*--misalign-num-fewshot must be a whole number of shots*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_num_fewshot_reaches_the_results(session):
    one_task_suite(session.path, ROWS, BODY)  # the helper the other tests use, in the session's folder
    session.runpytest("--misalign-model=fake", "--misalign-num-fewshot=3", "--misalign-json=r.json")
    results = json.loads((session.path / "r.json").read_text())
    assert results["settings"]["num_fewshot"] == 3
    task = results["suites"][0]["tasks"][0]
    assert task["data"]["fewshot"] == 3 and task["n"] == 2


# --- MMLU 5-shot against lm-eval ------------------------------------------------------------------------

CASES = [("mmlu_anatomy", 3), ("mmlu_econometrics", 3)]


@pytest.fixture(scope="module")
def five_shot(smollm2_dir, tmp_path_factory):
    shared = require_shared("mmlu/data/dev/anatomy_dev.csv", "mmlu/data/test/anatomy_test.csv")
    from lm_eval.models.huggingface import HFLM

    from pytest_misalign.backends.base import ModelConfig
    from pytest_misalign.backends.hf import HFBackend

    suite = parse_suite_file(ref.SUITES / "mmlu.yaml")
    backend = HFBackend(ModelConfig(model=str(smollm2_dir), dtype="float64", device="cpu"))
    work = tmp_path_factory.mktemp("lm_eval_fewshot")
    ours, names = {}, {}
    for task, n in CASES:
        spec = suite.task(task)
        prepared = prepare_task(suite, spec, cap=n, data_dir=shared, num_fewshot=5)
        dev = prepare_task(suite, replace(spec, data=spec.fewshot.data, fewshot=None), data_dir=shared)
        rows = [ref.hub_row(task, inst.fields) for inst in prepared.instances]
        dev_rows = [ref.hub_row(task, inst.fields) for inst in dev.instances]
        ours[task] = (prepared, score_task(prepared, backend))
        names[task] = ref.write_reference_task(work, task, rows, dev_rows, name=f"ref5_{task}")
    backend.close()
    lm = HFLM(pretrained=str(smollm2_dir), dtype="float64", device="cpu", batch_size=4)
    theirs = ref.run_lm_eval(lm, work, list(names.values()), num_fewshot=5)
    return {task: (*ours[task], theirs[names[task]]) for task in ours}


@pytest.mark.slow
@pytest.mark.parametrize("task", [c[0] for c in CASES])
def test_five_shot_requests_are_lm_evals(five_shot, task):
    prepared, _, theirs = five_shot[task]
    assert len(theirs["requests"]) == len(prepared.instances)
    for inst, requests in zip(prepared.instances, theirs["requests"]):
        assert inst.prompt.count("\nAnswer: ") == 5  # five answered shots before the question
        assert [(inst.prompt, " " + c) for c in inst.choices] == [tuple(r) for r in requests]


@pytest.mark.slow
@pytest.mark.parametrize("task", [c[0] for c in CASES])
def test_five_shot_log_likelihoods_and_accuracy_are_lm_evals(five_shot, task):
    prepared, outcome, theirs = five_shot[task]
    for item, lls in zip(outcome.items, theirs["lls"]):
        assert np.max(np.abs(np.array(item.scores) - np.array(lls))) <= 1e-4
    assert outcome.accuracy == pytest.approx(theirs["metrics"]["acc"], abs=1e-12)
