"""Fuzzing the suite format: every mutation of a bundled suite parses, or fails with a clean error.

Mutations change types, keys, values, nesting, encodings and bytes; each outcome must be a valid
parse (`parse_suite_file` + `prepare_task`, no model) or a `MisalignError` whose message names the
file — no other exception. Seeded (derandomized) and bounded, so it runs in CI in well under a minute.
"""

from __future__ import annotations

import copy
import itertools
import json
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import FAKE_CONFTEST
from helpers import parse_suite_file
from pytest_misalign.errors import MisalignError
from pytest_misalign.session.outcomes import EXIT_BROKEN_SETUP

from pytest_misalign.tasks.prepare import prepare_task
from pytest_misalign.spec.yamlio import looks_like_suite

SUITES_DIR = Path(__file__).resolve().parents[1] / "suites"
SOURCES = {p.name: p.read_bytes() for p in sorted(SUITES_DIR.glob("*.yaml"))}
DOCS = {name: yaml.safe_load(raw) for name, raw in SOURCES.items()}
ROWS = {f"data/{p.name}": [json.loads(line) for line in p.read_text().splitlines()[:6]]
        for p in sorted((SUITES_DIR / "data").glob("*.jsonl"))}

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

KEYS = sorted({
    "suite", "description", "tasks", "markers", "checks", "name", "data", "prompt", "choices", "answer",
    "answer_type", "metric", "delimiter", "generate", "match", "cluster", "regression", "chat", "items", "file",
    "hf", "template", "limit", "seed", "path", "split", "local", "data_files", "rows", "slots", "vary", "by",
    "pair", "groups", "max_tokens", "stop", "accuracy", "gap", "group_accuracy", "consistency", "spread",
    "shift", "min", "max", "paired", "max_flip_rate", "confidence", "min_n", "of", "from", "to", "max_drop",
    "max_broken", "promt", "chioces", "", "0", "fewshot", "preamble", "n", "separator",
})
STRINGS = st.sampled_from([
    "", " ", "{label}", "{", "}", "{}", "{0}", "{q.__class__}", "{country", "{answer}", "9", "1", "-1", "0",
    "99999999999999999999", "1e400", "../../../etc/passwd", "/etc/passwd", "data/capitals.jsonl",
    "data/missing.csv", "x.txt", "accuracy", "gap", "acc_norm", "regex", "(", "auto", "index", "text", "\x00",
    "caf\u00e9", "\U0001f600", "a" * 300, "region", "choices", "label",
]) | st.text(max_size=12)
SCALARS = (st.none() | st.booleans() | st.integers(-(10 ** 20), 10 ** 20)
           | st.floats(allow_nan=True, allow_infinity=True) | STRINGS)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(KEYS) | st.integers(0, 3), inner, max_size=3),
                      max_leaves=8)


def _paths(node, prefix=()):
    """Every (container path, key) in a document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield prefix + (index,)
            yield from _paths(value, prefix + (index,))


def _parent(doc, path):
    for key in path[:-1]:
        doc = doc[key]
    return doc


@st.composite
def structural(draw):
    """A bundled suite after 1-3 edits of its parsed tree, dumped back to YAML."""
    name = draw(st.sampled_from(sorted(DOCS)))
    doc = copy.deepcopy(DOCS[name])
    if draw(st.booleans()):  # inline a few rows of each data file, so edits reach item fields too
        for task in doc["tasks"]:
            data = task.get("data", {})
            if isinstance(data.get("file"), str):
                data["items"] = copy.deepcopy(ROWS[data.pop("file")])
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        parent, key = _parent(doc, path), path[-1]
        op = draw(st.sampled_from(["replace", "replace", "delete", "duplicate", "rename", "wrap", "nest",
                                   "add", "swap"]))
        if op == "replace":
            parent[key] = draw(VALUES)
        elif op == "delete":
            del parent[key]
        elif op == "duplicate":
            if isinstance(parent, list):
                parent.insert(key, copy.deepcopy(parent[key]))
            else:
                parent[str(key) + draw(st.sampled_from(["", "_2"]))] = copy.deepcopy(parent[key])
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS))] = parent.pop(key)
        elif op == "wrap":
            parent[key] = draw(st.sampled_from([[parent[key]], {"x": parent[key]}, [parent[key]] * 2]))
        elif op == "nest":
            value = parent[key]
            for _ in range(draw(st.integers(1, 40))):
                value = [value]
            parent[key] = value
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS))] = draw(VALUES)
        elif op == "swap":
            other = draw(st.sampled_from(paths))
            try:
                other_parent = _parent(doc, other)
                parent[key], other_parent[other[-1]] = other_parent[other[-1]], parent[key]
            except (KeyError, IndexError, TypeError):
                pass
        if not isinstance(doc, dict):
            break
    return name, yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode("utf-8")


SNIPPETS = [
    b"!!python/object/apply:os.system ['true'] ", b"!!python/name:os.system ", b"&a [*a]", b"*undefined ",
    b"<<: *x\n", b"\t", b"\x00", b"\x01", b"\xc2\x85", b"{", b"}", b"[", b"- ", b": :", b"? ", b"%YAML 1.1\n",
    b"---\n", b"...\n", b"when: 2020-02-30\n", b"[" * 600 + b"]" * 600, b"\xff\xfe", b"\xe9", b"'", b'"',
    b"checks: []\n", b"answer_type: text\n", b"data: {file: ../../../etc/passwd}\n", b"!!binary x ",
    b"!!set {a, b}", b"!!omap [a: 1]", b"!!timestamp nope ", b"!!float x ", b"0x", b"~", b"\\", b"#",
]


@st.composite
def textual(draw):
    """A bundled suite after 1-3 edits of its bytes: lines, indentation, snippets, encodings."""
    name = draw(st.sampled_from(sorted(SOURCES)))
    raw = SOURCES[name]
    for _ in range(draw(st.integers(1, 3))):
        lines = raw.split(b"\n")
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "indent", "snippet", "snippet", "truncate",
                                   "bytes"]))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "indent":
            shift = draw(st.sampled_from([-2, -1, 1, 2]))
            lines[i] = lines[i][-shift:] if shift < 0 else b" " * shift + lines[i]
        elif op == "snippet":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.sampled_from(SNIPPETS)) + lines[i][at:]
        elif op == "truncate":
            lines = lines[:i]
        else:
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.binary(min_size=1, max_size=4)) + lines[i][at:]
        raw = b"\n".join(lines)
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["utf-8-sig", "utf-16", "utf-32", "latin-1"]))
    if encoding != "utf-8":
        try:
            raw = raw.decode("utf-8").replace("Q", "\u00e9").encode(encoding)
        except (UnicodeDecodeError, UnicodeEncodeError):
            pass
    return name, raw


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(SUITES_DIR / "data", root / "data")
    (root / "hub").mkdir()
    return root


_COUNTER = itertools.count()


def assert_clean(root: Path, raw: bytes) -> str:
    """Collect `raw` as a suite file: a valid parse, or a MisalignError naming a file under `root`."""
    path = root / f"fuzz{next(_COUNTER)}.yaml"
    path.write_bytes(raw)
    try:
        looks_like_suite(path)  # must never raise
        spec = parse_suite_file(path, data_roots=[root], require_checks=True)
        for task in spec.tasks:
            prepare_task(spec, task, cap=40, data_dir=root / "hub")
        return "valid"
    except MisalignError as exc:
        where = getattr(exc, "path", None)
        assert where, f"the error names no file: {exc}"
        assert str(exc).startswith(where) and Path(where).resolve().is_relative_to(root.resolve()), str(exc)
        return type(exc).__name__
    finally:
        path.unlink()


@FUZZ
@given(case=structural())
def test_structural_mutations_parse_or_fail_cleanly(workspace, case):
    assert_clean(workspace, case[1])


@FUZZ
@given(case=textual())
def test_textual_mutations_parse_or_fail_cleanly(workspace, case):
    assert_clean(workspace, case[1])


def test_the_bundled_suites_themselves_parse(workspace):
    outcomes = {name: assert_clean(workspace, raw) for name, raw in SOURCES.items()}
    assert set(outcomes.values()) <= {"valid", "DataError", "DataUnavailable"}  # a hub task's local copy may be absent


def test_a_folder_with_a_garbage_suite_is_a_collection_error(pytester):
    pytester.makeconftest(FAKE_CONFTEST)
    pytester.makefile(".yaml", ci="on: [push]\njobs: {build: {runs-on: ubuntu-latest}}\n")
    (pytester.path / "garbage.yaml").write_bytes(b"suite: x\ntasks:\n  - name: [\x00\n  : ]]]\n")
    result = pytester.runpytest("--misalign-model=fake")
    assert result.ret == EXIT_BROKEN_SETUP, result.stdout.str()
    result.stdout.fnmatch_lines(["*ERROR collecting garbage.yaml*", "*garbage.yaml:*"])
    assert "Traceback" not in result.stdout.str() and "ci.yaml" not in result.stdout.str()
