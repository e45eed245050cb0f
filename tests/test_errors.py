"""Bad input gets a clear error naming the file, the line, the task, the key and a fix — at collection."""

import textwrap

import pytest

import fake_backend
from helpers import FAKE_CONFTEST
from pytest_misalign.errors import SuiteError
from pytest_misalign.spec import parse_suite_file
from pytest_misalign.tasks import prepare_task

GOOD_TASK = """\
suite: s
tasks:
  - name: t
    data:
      items:
        - {q: one, a: x, b: y, label: 0, g: m}
        - {q: two, a: x, b: y, label: 1, g: f}
    prompt: "Q: {q}\\nA:"
    choices: ["{a}", "{b}"]
    answer: "{label}"
    checks:
      - accuracy: {min: 0.5}
      - gap: {by: g, max: 0.3}
"""


def load(tmp_path, text, name="suite.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    spec = parse_suite_file(path)
    return [prepare_task(spec, task) for task in spec.tasks]


def error_of(tmp_path, text, name="suite.yaml") -> SuiteError:
    with pytest.raises(SuiteError) as info:
        load(tmp_path, text, name)
    return info.value


def test_good_suite_loads(tmp_path):
    (task,) = load(tmp_path, GOOD_TASK)
    assert [i.answer for i in task.instances] == [0, 1]
    assert task.instances[0].prompt == "Q: one\nA:"
    assert task.instances[0].choices == ("x", "y")


def test_unknown_task_key_suggests_the_right_one(tmp_path):
    err = error_of(tmp_path, GOOD_TASK.replace("    prompt:", "    promt:"))
    assert str(err).startswith(f"{tmp_path / 'suite.yaml'}:8: task 't': 'promt': unknown key 'promt'")
    assert "did you mean 'prompt'" in str(err)


def test_unknown_suite_key(tmp_path):
    err = error_of(tmp_path, "suite: s\nversion: 2\n" + GOOD_TASK.split("\n", 1)[1])
    assert err.line == 2 and err.key == "version" and "allowed keys" in err.fix


def test_unknown_check_and_check_parameter(tmp_path):
    err = error_of(tmp_path, GOOD_TASK.replace("- gap: {by: g, max: 0.3}", "- gaps: {by: g, max: 0.3}"))
    assert err.line == 13 and "unknown check 'gaps'" in str(err) and "did you mean 'gap'" in str(err)
    err = error_of(tmp_path, GOOD_TASK.replace("{by: g, max: 0.3}", "{by: g, maximum: 0.3}"))
    assert "unknown parameter 'maximum' for check 'gap'" in str(err) and err.key == "checks[1].gap.maximum"
    err = error_of(tmp_path, GOOD_TASK.replace("{by: g, max: 0.3}", "{by: g}"))
    assert "check 'gap' needs 'max'" in str(err)
    err = error_of(tmp_path, GOOD_TASK.replace("{min: 0.5}", "{min: 50}"))
    assert "is a rate and must be a number in [0, 1], got 50" in str(err) and err.line == 12


def test_unknown_data_key(tmp_path):
    err = error_of(tmp_path, GOOD_TASK.replace("      items:", "      limit: 1\n      itmes:"))
    assert err.key == "itmes" or "itmes" in str(err)


def test_missing_field_in_an_item_names_item_and_line(tmp_path):
    err = error_of(tmp_path, GOOD_TASK.replace("{q: two, a: x,", "{question: two, a: x,"))
    assert err.line == 7 and err.task == "t" and err.key == "prompt"
    assert "field 'q' used in `prompt` is missing from item 1" in str(err)


def test_answer_not_among_choices(tmp_path):
    text = GOOD_TASK.replace('answer: "{label}"', 'answer: "{right}"').replace("label: 1", "label: 1, right: z") \
        .replace("label: 0", "label: 0, right: x")
    err = error_of(tmp_path, text)
    assert "answer 'z' of item 1 is not among its choices ['x', 'y']" in str(err)
    assert err.line == 7 and err.key == "answer"
    err = error_of(tmp_path, GOOD_TASK.replace("label: 1", "label: 5"))
    assert "answer index 5 of item 1 is out of range for 2 choices" in str(err)


def test_empty_group_value_and_single_group(tmp_path):
    err = error_of(tmp_path, GOOD_TASK.replace("g: f}", "g: ''}"))
    assert "item 1 has an empty or unusable group value '' for 'g'" in str(err)
    assert err.key == "checks[1].gap.by" and err.line == 13
    err = error_of(tmp_path, GOOD_TASK.replace("g: f}", "g: m}"))
    assert "a gap needs at least two groups, but 'g' has only ['m']" in str(err)
    err = error_of(tmp_path, GOOD_TASK.replace("{by: g, max", "{by: region, max"))
    assert "field 'region' is missing from item 0 (its fields: q, a, b, label, g)" in str(err)


def test_yaml_syntax_error_names_the_line(tmp_path):
    err = error_of(tmp_path, GOOD_TASK.replace('prompt: "Q: {q}\\nA:"', 'prompt: "Q: {q}\\nA:'))
    assert "invalid YAML" in str(err) and err.line is not None and err.path.endswith("suite.yaml")


def test_duplicate_keys_and_task_names(tmp_path):
    err = error_of(tmp_path, GOOD_TASK.replace("    answer:", "    prompt: again\n    answer:"))
    assert "duplicate key 'prompt'" in str(err) and err.line == 10
    second = GOOD_TASK.split("tasks:\n", 1)[1]
    err = error_of(tmp_path, GOOD_TASK + second)
    assert "duplicate task name 't' (first at line 3)" in str(err)


def test_data_sources_and_files(tmp_path):
    err = error_of(tmp_path, GOOD_TASK.replace("      items:", "      file: x.jsonl\n      items:"))
    assert "needs exactly one source, found 2" in str(err)
    err = error_of(tmp_path, GOOD_TASK.replace("      items:\n        - {q: one, a: x, b: y, label: 0, g: m}\n"
                                               "        - {q: two, a: x, b: y, label: 1, g: f}\n",
                                               "      file: data/missing.jsonl\n"))
    assert "data file not found" in str(err) and "relative to the suite file" in err.fix
    (tmp_path / "bad.jsonl").write_text('{"q": "one", "a": "x", "b": "y", "label": 0, "g": "m"}\n{"q": oops}\n')
    err = error_of(tmp_path, GOOD_TASK.replace("      items:\n        - {q: one, a: x, b: y, label: 0, g: m}\n"
                                               "        - {q: two, a: x, b: y, label: 1, g: f}\n",
                                               "      file: bad.jsonl\n"))
    assert err.path.endswith("bad.jsonl") and err.line == 2 and "invalid JSON" in str(err)


def test_data_file_rows_point_at_their_own_line(tmp_path):
    (tmp_path / "rows.csv").write_text("q,a,b,label,g\none,x,y,0,m\ntwo,x,y,7,f\n")
    err = error_of(tmp_path, GOOD_TASK.replace("      items:\n        - {q: one, a: x, b: y, label: 0, g: m}\n"
                                               "        - {q: two, a: x, b: y, label: 1, g: f}\n",
                                               "      file: rows.csv\n"))
    assert err.path.endswith("rows.csv") and err.line == 3 and "out of range" in str(err)


def test_template_field_access_is_refused(tmp_path):
    err = error_of(tmp_path, GOOD_TASK.replace('"Q: {q}\\nA:"', '"Q: {q.__class__}"'))
    assert "must be a plain field name" in str(err)


def test_collection_error_is_reported_without_traceback(pytester):
    pytester.makeconftest(FAKE_CONFTEST)
    pytester.makefile(".yaml", bad=GOOD_TASK.replace("label: 1", "label: 9"))
    fake_backend.CALLS["load"] = 0
    result = pytester.runpytest("--misalign-model=fake")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*bad.yaml:7: task 't': 'answer': answer index 9 of item 1 is out of range*"])
    assert "Traceback" not in result.stdout.str()
    assert fake_backend.CALLS["load"] == 0  # raised before any model is loaded


def test_answer_as_choice_text_or_index(tmp_path):
    text = GOOD_TASK.replace('answer: "{label}"', 'answer: "{right}"').replace("label: 1", "label: 1, right: y") \
        .replace("label: 0", "label: 0, right: x")
    (task,) = load(tmp_path, text)
    assert [i.answer for i in task.instances] == [0, 1]
    # CSV values are strings: "1" is read as an index when no choice has that text.
    (tmp_path / "rows.csv").write_text("q,a,b,label,g\none,x,y,0,m\ntwo,x,y,1,f\n")
    (task,) = load(tmp_path, GOOD_TASK.replace("      items:\n        - {q: one, a: x, b: y, label: 0, g: m}\n"
                                               "        - {q: two, a: x, b: y, label: 1, g: f}\n",
                                               "      file: rows.csv\n"))
    assert [i.answer for i in task.instances] == [0, 1]
