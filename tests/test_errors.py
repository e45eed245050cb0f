"""Bad input gets a clear error naming the file, the line, the task, the key and a fix — at collection."""

import textwrap

import pytest

import fake_backend
from helpers import FAKE_CONFTEST
from helpers import parse_suite_file
from pytest_misalign.errors import SuiteError
from pytest_misalign.session.outcomes import EXIT_BROKEN_SETUP

from pytest_misalign.tasks.prepare import prepare_task

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
    assert err.path.endswith("rows.csv") and err.line == 3
    assert "answer '7' of item 1 is not among its choices ['x', 'y'] nor a 0-based index below 2" in str(err)


def test_template_field_access_is_refused(tmp_path):
    err = error_of(tmp_path, GOOD_TASK.replace('"Q: {q}\\nA:"', '"Q: {q.__class__}"'))
    assert "must be a plain field name" in str(err)


def test_collection_error_is_reported_without_traceback(pytester):
    pytester.makeconftest(FAKE_CONFTEST)
    pytester.makefile(".yaml", bad=GOOD_TASK.replace("label: 1", "label: 9"))
    fake_backend.CALLS["load"] = 0
    result = pytester.runpytest("--misalign-model=fake")
    assert result.ret == EXIT_BROKEN_SETUP
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


# ------------------------------------------------------------------------------------------------
# Hostile and broken suites (issue 12): every case is a clean collection error naming file and line.
# ------------------------------------------------------------------------------------------------
import yaml  # noqa: E402

from pytest_misalign.spec import yamlio  # noqa: E402

DEEP_CI_CONFIG = "jobs: " + "[" * 5000 + "]" * 5000 + "\n"  # beyond any parser's nesting limit


def test_deeply_nested_yaml_beside_a_suite_is_ignored(pytester):
    pytester.makefile(".yaml", suite=GOOD_TASK, ci=DEEP_CI_CONFIG)
    pytester.makefile(".yml", deep="".join("  " * i + "k:\n" for i in range(900)) + "  " * 900 + "x\n")
    # pytest collects a named file through its folder: a sibling's error used to leave no collector.
    result = pytester.runpytest("suite.yaml", "--collect-only", "-q")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["suite.yaml::t::accuracy", "suite.yaml::t::gap[[]g[]]"])
    result = pytester.runpytest("--collect-only", "-q")  # a folder run: non-suite YAML is not ours
    assert result.ret == 0, result.stdout.str()
    assert "ci.yaml" not in result.stdout.str() and "Recursion" not in result.stdout.str()


def test_unparsable_yaml_beside_a_named_suite_never_blocks_it(pytester):
    pytester.makefile(".yaml", suite=GOOD_TASK, broken="suite: x\ntasks: [\n", other="a: [\n")
    result = pytester.runpytest("suite.yaml", "--collect-only", "-q")
    assert result.ret == 0, result.stdout.str()
    result = pytester.runpytest("--collect-only", "-q")  # broken.yaml reads like a suite: shown
    assert result.ret == EXIT_BROKEN_SETUP
    result.stdout.fnmatch_lines(["*broken.yaml:3: invalid YAML*"])
    assert "other.yaml" not in result.stdout.str() and "Traceback" not in result.stdout.str()


def test_a_named_yaml_file_that_cannot_load_shows_why(pytester):
    pytester.makefile(".yaml", other="a: [\n")
    result = pytester.runpytest("other.yaml", "--collect-only")
    assert result.ret == EXIT_BROKEN_SETUP and "other.yaml:2: invalid YAML" in result.stdout.str()


def test_non_utf8_suite_is_a_collection_error_with_the_byte_offset(pytester, tmp_path):
    raw = GOOD_TASK.replace("q: one", "q: caf\u00e9").encode("latin-1")
    (pytester.path / "suite.yaml").write_bytes(raw)
    result = pytester.runpytest("--collect-only")
    assert result.ret == EXIT_BROKEN_SETUP, result.stdout.str()  # it used to vanish with exit 0
    offset = raw.index(b"\xe9")
    result.stdout.fnmatch_lines([f"*suite.yaml:6: not UTF-8 text: byte 0xe9 at byte offset {offset} (line 6, *"])
    (tmp_path / "latin.yaml").write_bytes(raw)
    with pytest.raises(SuiteError) as info:
        parse_suite_file(tmp_path / "latin.yaml")
    assert info.value.line == 6 and "save the file as UTF-8" in info.value.fix
    assert info.value.path.endswith("latin.yaml")


def test_utf16_and_bom_suites(tmp_path):
    (tmp_path / "wide.yaml").write_bytes(GOOD_TASK.encode("utf-16"))
    with pytest.raises(SuiteError, match="UTF-16 or UTF-32 text"):
        parse_suite_file(tmp_path / "wide.yaml")
    assert yamlio.looks_like_suite(tmp_path / "wide.yaml")  # collected, so the error shows
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbf" + GOOD_TASK.encode())
    assert parse_suite_file(tmp_path / "bom.yaml").name == "s"


def test_bad_values_and_characters_name_the_line(tmp_path):
    err = error_of(tmp_path, GOOD_TASK.replace("    prompt:", "    description: 2020-02-30\n    prompt:"))
    assert err.line == 8 and "invalid value" in str(err)
    err = error_of(tmp_path, GOOD_TASK.replace("q: two", "q: t\x01wo"))
    assert err.line == 7 and "unacceptable character #x0001" in str(err)
    err = error_of(tmp_path, "suite: s\ntasks:\n" + "".join("  " * i + "- k:\n" for i in range(1, 400)))
    assert "nesting too deep to load" in str(err) and err.path.endswith("suite.yaml")
    err = error_of(tmp_path, "suite: s\ntasks: " + "[" * 5000 + "]" * 5000)
    assert "invalid YAML" in str(err) or "nesting too deep" in str(err)  # libyaml stops at 1000 levels


def test_python_tags_are_refused(tmp_path):
    err = error_of(tmp_path, GOOD_TASK.replace("suite: s", "suite: !!python/object/apply:os.system [echo hi]"))
    assert err.line == 1 and "could not determine a constructor" in str(err)
    err = error_of(tmp_path, GOOD_TASK.replace("suite: s", "suite: !!python/name:os.system"))
    assert "could not determine a constructor" in str(err)


def test_yaml_is_parsed_by_libyaml_and_once_per_file(tmp_path, monkeypatch):
    if yaml.__with_libyaml__:
        assert issubclass(yamlio._LineLoader, yaml.CSafeLoader)
    calls = []
    real = yamlio.yaml.load
    monkeypatch.setattr(yamlio.yaml, "load", lambda *a, **k: calls.append(1) or real(*a, **k))
    path = tmp_path / "suite.yaml"
    path.write_text(GOOD_TASK)
    assert yamlio.looks_like_suite(path)
    spec = parse_suite_file(path)
    assert len(calls) == 1 and spec.tasks[0].line == 3
    assert spec.sha256 == __import__("hashlib").sha256(path.read_bytes()).hexdigest()
    # A file that changed after the first look is parsed again.
    assert yamlio.looks_like_suite(path)
    path.write_text(GOOD_TASK.replace("suite: s", "suite: renamed"))
    assert parse_suite_file(path).name == "renamed" and len(calls) == 3
    # Files that cannot be suites are not even parsed.
    (tmp_path / "ci.yaml").write_text("jobs: {build: {runs-on: ubuntu}}\n")
    assert not yamlio.looks_like_suite(tmp_path / "ci.yaml") and len(calls) == 3


def test_contradictory_thresholds_are_refused_at_parse_time(tmp_path):
    err = error_of(tmp_path, GOOD_TASK.replace("{min: 0.5}", "{min: 0.9, max: 0.1}"))
    assert err.line == 12 and err.key == "checks[0].accuracy.min"
    assert "contradictory thresholds: min 0.9 is above max 0.1" in str(err) and "swap" in err.fix
    (task,) = load(tmp_path, GOOD_TASK.replace("{min: 0.5}", "{min: 0.5, max: 0.5}"))
    assert task.spec.checks[0].params == {"min": 0.5, "max": 0.5}


NO_CHECKS = GOOD_TASK.split("    checks:")[0]


def test_a_task_with_no_checks_is_an_error_with_the_fix(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(NO_CHECKS)
    with pytest.raises(SuiteError) as info:
        parse_suite_file(path, require_checks=True)
    err = info.value
    assert err.line == 3 and err.task == "t" and err.key == "checks" and "no checks" in str(err)
    assert "accuracy" in err.fix and "regression: {}" in err.fix
    path.write_text(NO_CHECKS + "    regression: {}\n")  # compared with --misalign-baseline only
    assert parse_suite_file(path, require_checks=True).tasks[0].checks == []
    second = NO_CHECKS.split("tasks:\n", 1)[1].replace("name: t", "name: u")
    path.write_text("suite: s\nchecks:\n  - shift: {from: t, to: u, max_drop: 0.1}\ntasks:\n"
                    + NO_CHECKS.split("tasks:\n", 1)[1] + second)
    assert len(parse_suite_file(path, require_checks=True).tasks) == 2  # read by a suite-level check
    assert parse_suite_file(tmp_path / "suite.yaml").checks  # library callers may run their own checks


def test_duplicate_choices_are_an_error_naming_the_item(tmp_path):
    err = error_of(tmp_path, GOOD_TASK.replace("{q: two, a: x, b: y", "{q: two, a: x, b: x"))
    assert err.line == 7 and err.key == "choices" and "choices 0 and 1 of item 1 are both 'x'" in str(err)
    (tmp_path / "rows.jsonl").write_text('{"q": "a", "c": ["p", "q"], "label": 0, "g": "m"}\n'
                                         '{"q": "b", "c": ["p", "p "], "label": 1, "g": "f"}\n'
                                         '{"q": "c", "c": ["p", "p"], "label": 1, "g": "f"}\n')
    text = GOOD_TASK.replace("      items:\n        - {q: one, a: x, b: y, label: 0, g: m}\n"
                             "        - {q: two, a: x, b: y, label: 1, g: f}\n", "      file: rows.jsonl\n") \
        .replace('choices: ["{a}", "{b}"]', "choices: c")
    err = error_of(tmp_path, text)
    assert err.path.endswith("rows.jsonl") and err.line == 3 and "item 2 are both 'p'" in str(err)


def _answers(tmp_path, rows, choices='["{a}", "{b}", "{c}"]', answer_type=None):
    items = "".join(f"        - {row}\n" for row in rows)
    text = (f"suite: s\ntasks:\n  - name: t\n    data:\n      items:\n{items}    prompt: q\n"
            f"    choices: {choices}\n    answer: \"{{ans}}\"\n    checks: [{{accuracy: {{min: 0.5}}}}]\n")
    if answer_type:
        text += f"    answer_type: {answer_type}\n"
    (task,) = load(tmp_path, text)
    return [i.answer for i in task.instances]


def test_answer_rule_text_or_index(tmp_path):
    # A choice's text names it; a whole number that is no choice's text is a 0-based index.
    assert _answers(tmp_path, ["{a: x, b: y, c: z, ans: y}", "{a: x, b: y, c: z, ans: 2}",
                               "{a: x, b: y, c: z, ans: '1'}"]) == [1, 2, 1]
    # A number that is the text of the choice at that index too is not ambiguous.
    assert _answers(tmp_path, ["{a: '0', b: '1', c: '2', ans: 1}"]) == [1]


def test_answer_that_is_both_a_text_and_another_index_is_ambiguous(tmp_path):
    rows = ["{a: '1', b: '2', c: '3', ans: 2}"]
    with pytest.raises(SuiteError) as info:
        _answers(tmp_path, rows)
    assert "answer '2' of item 0 is ambiguous: it is the text of choice 1 and the index of choice 2 ('3')" \
        in str(info.value)
    assert "answer_type: text" in info.value.fix and info.value.key == "answer"
    assert _answers(tmp_path, rows, answer_type="text") == [1]
    assert _answers(tmp_path, rows, answer_type="index") == [2]


def test_answer_text_that_is_neither_a_choice_nor_an_index(tmp_path):
    with pytest.raises(SuiteError, match=r"answer '9' of item 0 is not among its choices \['x', 'y', 'z'\] "
                                         r"nor a 0-based index below 3"):
        _answers(tmp_path, ["{a: x, b: y, c: z, ans: '9'}"])
    with pytest.raises(SuiteError, match="answer 'w' of item 0 is not among its choices"):
        _answers(tmp_path, ["{a: x, b: y, c: z, ans: w}"])
    with pytest.raises(SuiteError, match="answer index 9 of item 0 is out of range for 3 choices"):
        _answers(tmp_path, ["{a: x, b: y, c: z, ans: 9}"])  # a YAML integer is meant as an index
    with pytest.raises(SuiteError, match="answer 'y' of item 0 is not a choice index"):
        _answers(tmp_path, ["{a: x, b: y, c: z, ans: y}"], answer_type="index")
    with pytest.raises(SuiteError, match="answer '1' of item 0 is not among its choices"):
        _answers(tmp_path, ["{a: x, b: y, c: z, ans: 1}"], answer_type="text")
    err = error_of(tmp_path, GOOD_TASK + "    answer_type: position\n")
    assert err.key == "answer_type" and "index" in err.fix


def test_folder_with_garbage_suite_is_a_collection_error_not_silence(pytester):
    pytester.makefile(".yaml", good=GOOD_TASK)
    (pytester.path / "garbage.yaml").write_bytes(b"suite: x\ntasks:\n  - \xff\xfe\x00{[}\n\t- : :\n")
    result = pytester.runpytest("--collect-only", "-q")
    assert result.ret == EXIT_BROKEN_SETUP
    result.stdout.fnmatch_lines(["*garbage.yaml:3: not UTF-8 text*"])
    assert "Traceback" not in result.stdout.str()


def test_a_named_suite_run_does_not_parse_its_siblings(pytester, monkeypatch):
    pytester.makefile(".yaml", suite=GOOD_TASK, sibling=GOOD_TASK.replace("suite: s", "suite: other"))
    parsed = []
    real = yamlio._parse
    monkeypatch.setattr(yamlio, "_parse", lambda path, *a: parsed.append(path.name) or real(path, *a))
    result = pytester.runpytest("suite.yaml", "--collect-only", "-q")
    assert result.ret == 0 and parsed == ["suite.yaml"], (parsed, result.stdout.str())


def test_a_regression_field_that_no_item_has_is_a_collection_error(tmp_path):
    err = error_of(tmp_path, GOOD_TASK.replace("    checks:", "    regression: {by: nosuchfield}\n    checks:"))
    assert err.key == "regression.by" and "field 'nosuchfield' is missing from item 0" in str(err)
