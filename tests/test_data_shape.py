"""Data shaping in YAML: dotted fields, `where:`, `rename:`, several files, list-valued groups.

Unit tests of `data_shape` against hand-written expectations, then whole suites through
`prepare_task` / a pytester session (items and indices checked against the raw files)."""

import json

import pytest

from helpers import parse_suite_file
from pytest_misalign.spec.shape import Fields, parse_rename, parse_where
from pytest_misalign.errors import DataError, SuiteError

from pytest_misalign.tasks.prepare import prepare_task


class _Err(Exception):
    def __init__(self, message, key=None, line=None, fix=None):
        super().__init__(message)
        self.key, self.line, self.fix = key, line, fix


def test_fields_follow_dotted_paths_and_prefer_literal_keys():
    f = Fields({"meta": {"age": 30, "tags": ["a", "b"]}, "x.y": 1, "x": {"y": 2}})
    assert f["meta.age"] == 30 and f.get("meta.tags.1") == "b" and "meta.age" in f
    assert f["x.y"] == 1  # a literal dotted key wins
    assert "meta.nope" not in f and f.get("meta.nope", 7) == 7
    with pytest.raises(KeyError):
        f["meta.nope"]
    assert json.loads(json.dumps(f)) == dict(f)


def test_where_equals_in_not_and_list_valued_fields():
    w = parse_where({"cond": "ambig", "cat": ["Age", "Gender"], "not": {"label": 2}}, 1, _Err)
    assert w.matches({"cond": "ambig", "cat": "Age", "label": 0})
    assert not w.matches({"cond": "ambig", "cat": "Age", "label": 2})      # excluded by not
    assert not w.matches({"cond": "ambig", "cat": "Race", "label": 0})     # not in the list
    assert not w.matches({"cat": "Age", "label": 0})                       # field absent
    assert w.matches({"cond": "ambig", "cat": ["Race", "Gender"], "label": "1"})  # list-valued: any
    assert parse_where({"label": 2}, 1, _Err).matches({"label": "2"})      # compared as text
    assert parse_where({"ok": True}, 1, _Err).matches({"ok": "true"})
    several = parse_where({"not": [{"a": 1}, {"b": 1}]}, 1, _Err)
    assert several.matches({"a": 0, "b": 0}) and not several.matches({"a": 0, "b": 1})


@pytest.mark.parametrize("node, problem", [
    ({}, "non-empty mapping"),
    ({"a": {"b": 1}}, "must be a value or a non-empty list"),
    ({"a": []}, "must be a value or a non-empty list"),
    ({"a[0]": 1}, "is not a field name"),
    ({"not": []}, "`not:` needs a mapping"),
])
def test_bad_where_is_rejected(node, problem):
    with pytest.raises(_Err, match=problem):
        parse_where(node, 3, _Err)


@pytest.mark.parametrize("node, problem", [
    ({"a": "b c"}, "must be a plain field name"),
    ({"a": "x", "b": "x"}, "both renamed to 'x'"),
    ([], "non-empty mapping"),
])
def test_bad_rename_is_rejected(node, problem):
    with pytest.raises(_Err, match=problem):
        parse_rename(node, 3, _Err)


# --- whole suites --------------------------------------------------------------------------------

ROWS_A = [
    {"q": "a0", "meta": {"age": "old", "tags": ["x", "y"]}, "cond": "ambig", "label": 0},
    {"q": "a1", "meta": {"age": "young", "tags": ["y"]}, "cond": "disambig", "label": 1},
    {"q": "a2", "meta": {"age": "old", "tags": ["x"]}, "cond": "ambig", "label": 2},
]
ROWS_B = [
    {"q": "b0", "meta": {"age": "young", "tags": ["x"]}, "cond": "ambig", "label": 1},
    {"q": "b1", "meta": {"age": "old", "tags": ["y", "x"]}, "cond": "disambig", "label": 0},
]


def _suite(tmp_path, data: str, extra: str = "", checks: str = "[{accuracy: {min: 0.0}}]"):
    for name, rows in (("a.jsonl", ROWS_A), ("b.jsonl", ROWS_B)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = tmp_path / "s.yaml"
    path.write_text(f"""\
suite: shaped
tasks:
  - name: t
    data:
{data}
    prompt: "{{q}} ({{meta.age}})"
    choices: ["yes", "no", "maybe"]
    answer: "{{label}}"
{extra}    checks: {checks}
""")
    suite = parse_suite_file(path)
    return suite, suite.tasks[0]


def test_several_files_keep_unique_stable_indices_and_dotted_prompts(tmp_path):
    suite, task = _suite(tmp_path, "      file: [a.jsonl, b.jsonl]")
    prepared = prepare_task(suite, task)
    assert [i.index for i in prepared.instances] == [0, 1, 2, 3, 4]
    assert [i.prompt for i in prepared.instances] == ["a0 (old)", "a1 (young)", "a2 (old)", "b0 (young)", "b1 (old)"]
    assert prepared.total_items == 5


def test_where_keeps_source_indices_and_limit_draws_from_the_rest(tmp_path):
    suite, task = _suite(tmp_path, "      file: [a.jsonl, b.jsonl]\n      where: {cond: ambig, not: {meta.age: young}}")
    prepared = prepare_task(suite, task)
    assert [i.index for i in prepared.instances] == [0, 2]  # a0, a2 (b0 is young)
    assert "where: 2 of 5 items" in prepared.data_source
    suite, task = _suite(tmp_path, "      file: [a.jsonl, b.jsonl]\n      where: {cond: ambig}\n      limit: 2")
    first = [i.index for i in prepare_task(suite, task).instances]
    assert len(first) == 2 and set(first) <= {0, 2, 3}
    assert first == [i.index for i in prepare_task(suite, task).instances]  # seeded


def test_rename_pulls_a_nested_field_up(tmp_path):
    suite, task = _suite(tmp_path, "      file: a.jsonl\n      rename: {meta.age: age, q: question}",
                         checks="[{gap: {by: age, max: 1.0, min_n: 1}}]")
    task = type(task)(**{**task.__dict__, "prompt": "{question} {age}"})
    prepared = prepare_task(suite, task)
    assert [i.prompt for i in prepared.instances] == ["a0 old", "a1 young", "a2 old"]
    assert "q" not in prepared.instances[0].fields


def test_dotted_group_field_in_a_check(tmp_path):
    suite, task = _suite(tmp_path, "      file: a.jsonl", checks="[{gap: {by: meta.age, max: 1.0, min_n: 1}}]")
    prepared = prepare_task(suite, task)
    assert prepared.group_values("meta.age") == ["old", "young", "old"]


def test_list_valued_groups_count_an_item_in_every_group(tmp_path):
    from pytest_misalign.scoring.outcome import ItemOutcome, TaskOutcome

    suite, task = _suite(tmp_path, "      file: [a.jsonl, b.jsonl]",
                         checks="[{group_accuracy: {by: meta.tags, min: 0.0, min_n: 1}}]")
    prepared = prepare_task(suite, task)
    right = [True, False, True, False, True]
    outcome = TaskOutcome(prepared, [ItemOutcome(i.index, i.answer, 0, ok) for i, ok in zip(prepared.instances, right)])
    # x: items 0, 2, 3, 4 -> 3 right of 4; y: items 0, 1, 4 -> 2 right of 3
    assert outcome.groups("meta.tags") == {"x": (3, 4), "y": (2, 3)}


# --- errors name the file, line, key and fix -----------------------------------------------------

def test_where_on_an_unknown_field_names_the_suite_line_and_suggests(tmp_path):
    suite, task = _suite(tmp_path, "      file: a.jsonl\n      where: {condd: ambig}")
    with pytest.raises(DataError) as err:
        prepare_task(suite, task)
    text = str(err.value)
    assert "condd" in text and "s.yaml:6" in text and "did you mean 'cond'" in text


def test_where_matching_nothing_is_an_error(tmp_path):
    suite, task = _suite(tmp_path, "      file: a.jsonl\n      where: {cond: Ambig}")
    with pytest.raises(DataError, match="matched none of the 3 items"):
        prepare_task(suite, task)


def test_rename_of_a_missing_field_names_the_data_line(tmp_path):
    suite, task = _suite(tmp_path, "      file: [a.jsonl, b.jsonl]\n      rename: {meta.tags.1: second}")
    with pytest.raises(DataError) as err:
        prepare_task(suite, task)
    assert "meta.tags.1" in str(err.value) and "a.jsonl:2" in str(err.value)


def test_missing_second_file_is_named(tmp_path):
    suite, task = _suite(tmp_path, "      file: [a.jsonl, c.jsonl]")
    with pytest.raises(DataError, match="c.jsonl"):
        prepare_task(suite, task)


def test_bad_shaping_keys_are_suite_errors_with_lines(tmp_path):
    with pytest.raises(SuiteError) as err:
        _suite(tmp_path, "      file: a.jsonl\n      where: {cond: {x: 1}}")
    assert "s.yaml:6" in str(err.value) and "data.where.cond" in str(err.value)
    with pytest.raises(SuiteError, match="listed twice"):
        _suite(tmp_path, "      file: [a.jsonl, a.jsonl]")
    with pytest.raises(SuiteError, match="plain field name"):
        _suite(tmp_path, "      file: a.jsonl\n      rename: {q: 'a b'}")


def test_dotted_template_field_missing_is_named(tmp_path):
    suite, task = _suite(tmp_path, "      file: a.jsonl")
    task = type(task)(**{**task.__dict__, "prompt": "{meta.height}"})
    with pytest.raises(DataError, match="meta.height"):
        prepare_task(suite, task)


def test_list_valued_group_with_cluster_or_pairs_is_refused(tmp_path):
    suite, task = _suite(tmp_path, "      file: a.jsonl", extra="    cluster: cond\n",
                         checks="[{gap: {by: meta.tags, max: 1.0, min_n: 1}}]")
    with pytest.raises(SuiteError, match="list-valued"):
        prepare_task(suite, task)


def test_an_unreachable_hub_dataset_is_tried_once_per_session(tmp_path, monkeypatch):
    """Several tasks from one hub dataset (the BBQ categories) on an offline machine: the hub's
    retries (~20 s) are paid once, the other tasks are skipped at once with the same reason."""
    import datasets

    from pytest_misalign.data import hub
    from pytest_misalign.errors import DataUnavailable

    calls = []

    def offline(path, **kwargs):
        calls.append((path, kwargs.get("name")))
        raise ConnectionError(f"Couldn't reach '{path}' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    monkeypatch.setattr(hub, "_UNREACHABLE", {})
    monkeypatch.setattr(hub, "offline_reason", lambda: None)  # a network, but the hub refuses
    path = tmp_path / "s.yaml"
    path.write_text("suite: s\ntasks:\n" + "".join(
        f"  - name: {n}\n    data: {{hf: {{path: org/ds, name: {n}}}}}\n    prompt: q\n    choices: [a, b]\n"
        f"    answer: 0\n    checks: [{{accuracy: {{min: 0.0}}}}]\n" for n in ("one", "two")))
    suite = parse_suite_file(path)
    for task in suite.tasks:
        with pytest.raises(DataUnavailable, match=rf"cannot load hf:org/ds\[{task.name}\]:test: ConnectionError"):
            prepare_task(suite, task)
    assert calls == [("org/ds", "one")]


def test_derive_makes_a_field_of_others_for_a_cluster(tmp_path):
    suite, task = _suite(tmp_path, '      file: [a.jsonl, b.jsonl]\n      derive: {tmpl: "{cond}/{meta.age}"}',
                         extra="    cluster: tmpl\n")
    prepared = prepare_task(suite, task)
    expected = [f"{r['cond']}/{r['meta']['age']}" for r in ROWS_A + ROWS_B]
    assert [i.fields["tmpl"] for i in prepared.instances] == expected


@pytest.mark.parametrize("derive,says", [
    ('      derive: {tmpl: "{nope}"}', "field 'nope' named in `derive.tmpl` is missing from item 0"),
    ("      derive: {tmpl: plain}", "must be a template naming at least one field"),
    ("      derive: [a]", "must map new field names to templates"),
])
def test_bad_derive_names_the_key(tmp_path, derive, says):
    with pytest.raises((SuiteError, DataError)) as err:
        suite, task = _suite(tmp_path, "      file: a.jsonl\n" + derive)
        prepare_task(suite, task)
    assert says in str(err.value) and "derive" in str(err.value)
