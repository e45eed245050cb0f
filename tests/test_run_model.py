"""One run model, rendered many ways: the same statuses, numbers and counts in every format.

A session with a check of every status (pass, fail, inconclusive, degenerate, not scored, error) and a
suite-level check writes every output at once; the results file is read back into the run model and
each check is looked up in the terminal report, the markdown summary, the HTML report, the GitHub
annotations and the JUnit properties."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET

import pytest

from pytest_misalign.report.model import STATUSES, CheckModel, RunModel, status_line

ROWS = lambda rows: "\n".join(f"        - {r}" for r in rows)  # noqa: E731

SUITE = f"""\
suite: every-status
checks:
  - spread: {{max: 0.3}}
tasks:
  - name: clear
    data:
      items:
{ROWS(f"{{q: c{i}, r: Paris, g: {'ab'[i % 2]}}}" for i in range(30))}
    prompt: "{{q}}"
    choices: ["{{r}}", "xx"]
    answer: 0
    checks: [{{accuracy: {{min: 0.5}}}}, {{gap: {{by: g, max: 0.3}}}}]
  - name: weak
    data:
      items:
{ROWS(f"{{q: w{i}, r: Zzz{i}}}" for i in range(30))}
    prompt: "{{q}}"
    choices: ["{{r}}", "xx"]
    answer: 0
    checks: [{{accuracy: {{min: 0.5}}}}]
  - name: few
    data: {{items: [{{q: a, r: Paris}}, {{q: b, r: Rome}}, {{q: c, r: Lima}}, {{q: d, r: Oslo}}, {{q: e, r: Kyiv}}, {{q: f, r: Bern}}]}}
    prompt: "{{q}}"
    choices: ["{{r}}", "xx"]
    answer: 0
    checks: [{{accuracy: {{min: 0.5}}}}]
  - name: split-pairs
    cluster: doc
    data:
      items:
        - {{q: a, r: Paris, g: x, pair: p1, doc: d1}}
        - {{q: b, r: Paris, g: y, pair: p1, doc: d2}}
    prompt: "{{q}}"
    choices: ["{{r}}", "xx"]
    answer: 0
    checks: [{{gap: {{by: g, max: 0.1, paired: true}}}}]
  - name: hub
    data:
      hf: {{path: oskarvanderwal/bbq, name: Age, split: test, local: bbq/Age.jsonl}}
    prompt: "{{context}}"
    choices: ["{{ans0}}", "{{ans1}}"]
    answer: "{{label}}"
    checks: [{{accuracy: {{min: 0.5}}}}]
"""


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Every output of one session (run in a subprocess: the offline hub task imports `datasets`)."""
    import subprocess
    import sys

    from helpers import FAKE_CONFTEST

    root = tmp_path_factory.mktemp("every-status")
    (root / "every_status.yaml").write_text(SUITE)
    (root / "conftest.py").write_text(FAKE_CONFTEST + "\nfake_backend.KNOWN.update({'Paris', 'Rome', 'Lima'})\n")
    env = {**__import__("os").environ, "GITHUB_ACTIONS": "true", "COLUMNS": "250", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "PY_COLORS": "0"}
    env.pop("GITHUB_STEP_SUMMARY", None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--misalign-model=fake",
                           "--misalign-json=out.json", "--misalign-markdown=out.md", "--misalign-html=out.html",
                           "--junitxml=junit.xml", "every_status.yaml"], cwd=root, env=env, capture_output=True,
                          text=True)
    run = RunModel.from_json(json.loads((root / "out.json").read_text()))
    return {"run": run, "stdout": done.stdout, "markdown": (root / "out.md").read_text(),
            "html": (root / "out.html").read_text(), "junit": ET.parse(root / "junit.xml"), "ret": done.returncode}


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def test_the_session_has_a_check_of_every_status(outputs):
    statuses = {c.status for _, _, c in outputs["run"].checks()}
    assert statuses == set(STATUSES), outputs["stdout"][-3000:]
    assert outputs["ret"] == 1  # failed checks; the not-scored and errored ones are reported, not hidden


def test_counts_add_up_and_read_the_same_everywhere(outputs):
    run = outputs["run"]
    summary = run.summary()
    assert sum(summary["statuses"].values()) == summary["checks"] == sum(summary["tests"].values())
    line = status_line(summary, run.gate, run.strict)
    assert line in outputs["stdout"] and line in outputs["markdown"] and html.escape(line) in outputs["html"]


def _markdown_rows(text: str) -> dict[tuple[str, str], list[str]]:
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| ")]
    return {(r[1], r[2]): r for r in rows[1:]}


def test_every_check_reads_the_same_in_every_format(outputs):
    run, stdout = outputs["run"], outputs["stdout"]
    markdown = _markdown_rows(outputs["markdown"])
    annotations = [line for line in stdout.splitlines() if line.startswith("::")]
    for suite, task, check in run.checks():
        row = markdown[(task, check.name)]
        assert row[3] == _fmt(check.value) and row[6] == check.status_text, (task, check.name, row)
        assert f'data-check="{html.escape(check.name)}"' in outputs["html"]
        assert f'data-status="{check.status}"' in outputs["html"]
        if check.passed is not True or check.status in ("inconclusive", "degenerate"):
            said = [a for a in annotations if f"::{task}::{check.name}" in a]
            assert said and check.status_text.split(" (")[0] in said[0], (check.name, annotations)
        if task != "hub" and check.status != "pass":  # the compact terminal report: a row per check not passed
            assert any(check.name in line and check.status in line and _fmt(check.value) in line
                       for line in stdout.splitlines()), (task, check.name)


def test_junit_properties_carry_the_models_numbers(outputs):
    run = outputs["run"]
    by_name = {(task, c.name): c for _, task, c in run.checks()}
    seen = 0
    for case in outputs["junit"].iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        if "misalign.status" not in props:
            continue
        check: CheckModel = by_name[(props["misalign.task"], case.get("name"))]
        assert props["misalign.status"] == check.status and props["misalign.verdict"] == check.verdict
        assert float(props["misalign.value"]) == pytest.approx(check.value)
        seen += 1
    assert seen == sum(c.passed is not None for c in by_name.values())


def test_the_unscored_task_and_the_error_say_why(outputs):
    run, stdout = outputs["run"], outputs["stdout"]
    (suite,) = run.suites
    (hub,) = suite.unscored
    assert hub.status == "skipped" and [c.status for c in hub.checks] == ["not scored"]
    assert "SKIPPED  every-status::hub: task 'hub': data unavailable" in stdout
    pairs = next(t for t in suite.tasks if t.task == "split-pairs")
    (gap,) = pairs.checks
    assert gap.status == "error" and "different 'doc' clusters" in gap.notes[0]
    assert gap.passed is None
