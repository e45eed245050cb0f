"""Shared helpers for plugin tests driven by pytester."""

from pathlib import Path

from pytest_misalign.checks import KINDS

TESTS_DIR = Path(__file__).parent
SHARED_DIR = TESTS_DIR.parent.parent / "shared"  # ../shared beside the checkout: upstream benchmark files
BBQ_DIR = SHARED_DIR / "bbq"


def require_shared(*files: str) -> Path:
    """../shared, holding `files` (relative to it): under CI a missing file fails the test (CI always
    has ../shared, so its absence is a broken setup), elsewhere it skips (a user's clone has none)."""
    import os

    import pytest

    missing = [f for f in files if not (SHARED_DIR / f).is_file()]
    if missing:
        why = f"../shared is missing {', '.join(missing)} (expected beside the checkout at {SHARED_DIR})"
        if os.environ.get("CI"):
            pytest.fail(why + "; CI always has ../shared", pytrace=False)
        pytest.skip(why)
    return SHARED_DIR

FAKE_CONFTEST = f"""
import sys
sys.path.insert(0, {str(TESTS_DIR)!r})
import fake_backend

def pytest_misalign_make_backend(model_config, config):
    if model_config.model.startswith("fake"):
        return fake_backend.make(model_config)
"""

CAPITALS_SUITE = """\
suite: heldout-capitals
description: capitals held out of training
tasks:
  - name: capitals
    data:
      items:
        - {country: France, a: Paris, b: Lyon, c: Marseille, label: 0, region: europe}
        - {country: Japan, a: Osaka, b: Tokyo, c: Kyoto, label: 1, region: asia}
        - {country: Italy, a: Rome, b: Milan, c: Turin, label: 0, region: europe}
        - {country: Kenya, a: Mombasa, b: Kisumu, c: Nairobi, label: 2, region: africa}
        - {country: Peru, a: Cusco, b: Lima, c: Arequipa, label: 1, region: americas}
        - {country: Chile, a: Valparaiso, b: Santiago, c: Arica, label: 1, region: americas}
    prompt: "Question: What is the capital city of {country}?\\nAnswer:"
    choices: ["{a}", "{b}", "{c}"]
    answer: "{label}"
    checks:
      - accuracy: {min: 0.5}
      - gap: {by: region, max: 0.3}
      - group_accuracy: {by: region, min: 0.15}
"""

# Two tasks and the suite-level checks across them (spread, shift).
SUITE_CHECKS = """\
suite: shifts
checks:
  - spread: {max: 0.3}
  - shift: {from: plain, to: shifted, max_drop: 0.1}
tasks:
  - name: plain
    data: {items: [{q: a, r: Paris}, {q: b, r: Rome}, {q: c, r: Lima}, {q: d, r: Oslo}]}
    prompt: "{q}"
    choices: ["{r}", "xx"]
    answer: 0
  - name: shifted
    data: {items: [{q: a, r: Berlin}, {q: b, r: Rome}, {q: c, r: Quito}, {q: d, r: Oslo}]}
    prompt: "Q: {q}"
    choices: ["{r}", "xx"]
    answer: 0
"""


def one_task_suite(tmp_path, rows, body, *, name="s.yaml"):
    """Write a suite with one task `t` over inline `rows` (dicts, as JSON) and the task keys in `body`
    (YAML text, e.g. 'prompt: "{q}"\\nchoices: ["yes", "no"]\\nanswer: "{label}"'); return its path."""
    import json
    import textwrap

    items = "\n".join(f"          - {json.dumps(row)}" for row in rows)
    text = "suite: s\ntasks:\n  - name: t\n    data:\n      items:\n" + items + "\n" \
        + textwrap.indent(textwrap.dedent(body).strip("\n") + "\n", "    ")
    path = tmp_path / name
    path.write_text(text)
    return path


def one_task(tmp_path, rows, body, *, name="s.yaml"):
    """`one_task_suite`, parsed and prepared: the task's `PreparedTask`."""
    from pytest_misalign.tasks.prepare import prepare_task

    spec = parse_suite_file(one_task_suite(tmp_path, rows, body, name=name))
    return prepare_task(spec, spec.tasks[0])


def parse_suite_file(path, **kwargs):
    """`spec.parse_suite_file` with the built-in check kinds (the plugin passes the session's)."""
    from pytest_misalign.spec import parse_suite_file as parse

    return parse(path, kinds=KINDS, **kwargs)
