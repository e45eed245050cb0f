"""Trust: data files resolve (symlinks followed) inside pytest's rootdir or the roots the user allows."""

import json
import os
import textwrap

import pytest

from helpers import FAKE_CONFTEST
from helpers import parse_suite_file
from pytest_misalign.errors import DataError, SuiteError
from pytest_misalign.session.outcomes import EXIT_BROKEN_SETUP

from pytest_misalign.tasks.prepare import prepare_task

ROWS = [{"q": "one", "a": "x", "b": "y", "label": 0, "g": "m"}, {"q": "two", "a": "x", "b": "y", "label": 1, "g": "f"}]


def suite_text(data: str) -> str:
    return textwrap.dedent("""\
        suite: s
        tasks:
          - name: t
            data:
        {data}
            prompt: "Q: {{q}}"
            choices: ["{{a}}", "{{b}}"]
            answer: "{{label}}"
            checks:
              - accuracy: {{min: 0.5}}
        """).format(data=textwrap.indent(data, "      "))


def write_rows(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


@pytest.fixture
def layout(tmp_path):
    """tmp/root (the rootdir, holding the suite and its data) and tmp/outside (a secret)."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    write_rows(root / "data" / "rows.jsonl")
    write_rows(outside / "secret.jsonl")
    return root, outside


def parse(root, data, roots=None, name="suite.yaml"):
    path = root / name
    path.write_text(suite_text(data))
    return parse_suite_file(path, data_roots=[root] if roots is None else roots)


def test_a_file_inside_the_root_loads(layout):
    root, _ = layout
    spec = parse(root, "file: data/rows.jsonl")
    assert spec.tasks[0].data.file == (root / "data" / "rows.jsonl").resolve()
    assert spec.data_roots == (root.resolve(),)
    assert len(prepare_task(spec, spec.tasks[0]).instances) == 2


@pytest.mark.parametrize("value", ["../../../../../../etc/passwd", "../outside/secret.jsonl", "/etc/passwd"])
def test_paths_that_leave_the_roots_are_refused(layout, value):
    root, _ = layout
    with pytest.raises(SuiteError) as info:
        parse(root, f"file: {value}")
    err = info.value
    resolved = (root / value).resolve()
    assert str(err).startswith(f"{root / 'suite.yaml'}:5: task 't': 'data.file': ")
    assert f"{value!r} resolves to {resolved}, outside the allowed data roots ({root.resolve()})" in str(err)
    assert "misalign_data_roots" in err.fix and "unsupported file type" not in str(err)


def test_symlinks_are_followed(layout):
    root, outside = layout
    (root / "data" / "link.jsonl").symlink_to(outside / "secret.jsonl")
    with pytest.raises(SuiteError, match=f"resolves to {outside.resolve() / 'secret.jsonl'}, outside"):
        parse(root, "file: data/link.jsonl")
    (root / "linked_dir").symlink_to(outside, target_is_directory=True)
    with pytest.raises(SuiteError, match="outside the allowed data roots"):
        parse(root, "file: linked_dir/secret.jsonl")
    (root / "data" / "inner.jsonl").symlink_to(root / "data" / "rows.jsonl")  # inside -> inside: fine
    assert parse(root, "file: data/inner.jsonl").tasks[0].data.file == (root / "data" / "rows.jsonl").resolve()


def test_more_roots_can_be_allowed(layout):
    root, outside = layout
    spec = parse(root, "file: ../outside/secret.jsonl", roots=[root, outside])
    assert spec.tasks[0].data.file == (outside / "secret.jsonl").resolve()
    # Library use without roots confines nothing.
    assert parse_suite_file(root / "suite.yaml").tasks[0].data.file == (outside / "secret.jsonl").resolve()


def test_template_rows_file_is_confined(layout):
    root, _ = layout
    data = "template:\n  file: ../outside/secret.jsonl\n  slots: {z: [1, 2]}"
    with pytest.raises(SuiteError) as info:
        parse(root, data)
    assert info.value.key == "data.template.file" and info.value.line == 6


def test_hub_local_files_are_confined(layout, tmp_path):
    root, outside = layout
    data_dir = root / "hub"
    write_rows(data_dir / "org" / "set" / "default" / "test.jsonl")
    spec = parse(root, "hf: {path: org/set, local: ../../outside/secret.jsonl}", roots=[root, data_dir])
    with pytest.raises(DataError) as info:
        prepare_task(spec, spec.tasks[0], data_dir=data_dir)
    assert "outside the allowed data roots" in str(info.value) and info.value.key == "data.hf.local"
    # <data_dir>/<path>/<name>/<split>.jsonl must not climb out of the data dir either.
    spec = parse(root, "hf: {path: org/set, name: ../../../../outside, split: secret}", roots=[root, data_dir])
    with pytest.raises(DataError, match="outside the allowed data roots"):
        prepare_task(spec, spec.tasks[0], data_dir=data_dir)
    spec = parse(root, "hf: {path: org/set}", roots=[root, data_dir])
    assert len(prepare_task(spec, spec.tasks[0], data_dir=data_dir).instances) == 2


def test_hub_paths_and_data_files_that_read_local_files_are_confined(layout, monkeypatch):
    root, outside = layout
    monkeypatch.chdir(root)
    with pytest.raises(SuiteError) as info:
        parse(root, f"hf: {{path: json, data_files: {outside / 'secret.jsonl'}}}")
    assert info.value.key == "data.hf.data_files" and "outside the allowed data roots" in str(info.value)
    with pytest.raises(SuiteError, match="outside the allowed data roots"):
        parse(root, "hf: {path: csv, data_files: {test: ['data/*.jsonl', '../outside/*.jsonl']}}")
    with pytest.raises(SuiteError) as info:
        parse(root, f"hf: {{path: {outside}}}")
    assert info.value.key == "data.hf.path"
    (root / "data" / "escape").symlink_to(outside, target_is_directory=True)
    with pytest.raises(SuiteError, match="outside the allowed data roots"):  # a glob through a symlink
        parse(root, "hf: {path: json, data_files: 'data/*/*.jsonl'}")
    # Hub datasets and their in-repository files, and URLs, are not local files.
    parse(root, "hf: {path: org/set, data_files: data/test-*.parquet}")
    parse(root, "hf: {path: json, data_files: 'https://example.org/x.jsonl'}")
    parse(root, "hf: {path: json, data_files: data/rows.jsonl}")


def test_unusable_paths_are_clean_errors(layout):
    root, _ = layout
    with pytest.raises(SuiteError, match="unusable path"):
        parse(root, 'file: "data/x\\0.jsonl"')
    os.symlink("loop.jsonl", root / "loop.jsonl")
    with pytest.raises(SuiteError):
        parse(root, "file: loop.jsonl")


def run(pytester, data, *args, ini=""):
    pytester.makeconftest(FAKE_CONFTEST)
    pytester.makeini(f"[pytest]\n{ini}")
    suites = pytester.path / "suites"
    suites.mkdir(exist_ok=True)
    (suites / "suite.yaml").write_text(suite_text(data))
    return pytester.runpytest("--misalign-model=fake", "-p", "no:cacheprovider", *args)


@pytest.fixture
def outside_dir(pytester, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere")
    write_rows(outside / "secret.jsonl")
    return outside


def test_plugin_refuses_files_outside_the_rootdir(pytester, outside_dir):
    result = run(pytester, f"file: {outside_dir / 'secret.jsonl'}")
    assert result.ret == EXIT_BROKEN_SETUP
    result.stdout.fnmatch_lines(["*suite.yaml:5: task 't': 'data.file': * outside the allowed data roots*",
                                 "*fix: *misalign_data_roots*"])
    assert "Traceback" not in result.stdout.str()


def test_plugin_allows_roots_from_the_ini_and_the_data_dir(pytester, outside_dir):
    result = run(pytester, f"file: {outside_dir / 'secret.jsonl'}", ini=f"misalign_data_roots =\n    {outside_dir}\n")
    assert result.ret == 0, result.stdout.str()
    result = run(pytester, f"file: {outside_dir / 'secret.jsonl'}", f"--misalign-data-dir={outside_dir}")
    assert result.ret == 0, result.stdout.str()


def test_plugin_refuses_a_task_with_no_checks(pytester):
    pytester.makeconftest(FAKE_CONFTEST)
    (pytester.path / "suite.yaml").write_text(suite_text("items: [{q: a, a: x, b: y, label: 0}]").split("    checks:")[0])
    result = pytester.runpytest("--misalign-model=fake", "--collect-only")
    assert result.ret == EXIT_BROKEN_SETUP
    result.stdout.fnmatch_lines(["*suite.yaml:3: task 't': 'checks': the task has no checks*"])


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cuda:", "tpu"])
def test_a_bad_device_is_a_usage_error_at_configure_time(pytester, device):
    pytester.makeconftest(FAKE_CONFTEST)
    result = pytester.runpytest("--misalign-model=fake", f"--misalign-device={device}")
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"*--misalign-device must be auto, cpu, cuda, cuda:N or mps, got '{device}'*"])


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1", "mps", "CUDA:0"])
def test_good_devices_pass_configure(pytester, device):
    pytester.makeconftest(FAKE_CONFTEST)
    result = pytester.runpytest("--misalign-model=fake", f"--misalign-device={device}", "--collect-only")
    assert result.ret == 5, result.stderr.str()  # no tests, but no usage error
