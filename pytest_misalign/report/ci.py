"""CI outputs, rendered from the run model: a markdown summary (`--misalign-markdown`,
`$GITHUB_STEP_SUMMARY`), GitHub workflow annotations (under `GITHUB_ACTIONS=true`) and per-check JUnit
XML properties.

Shaped like pytest's own `junitxml.py`: every check item puts its numbers in `item.user_properties`
(`check_properties`; pytest's junitxml writes them as `<property>`, and they travel with the report
under xdist); a `CISummary` object, registered on the plugin manager only when one of its outputs is
wanted and never on xdist workers, renders the run model the session built (`RUN_MODEL` in
`config.stash`) at the end.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from .model import INCONCLUSIVE, CheckModel, RunModel, SuiteModel, status_line

CI_SUMMARY = pytest.StashKey["CISummary"]()
RUN_MODEL = pytest.StashKey[RunModel]()  # the session's run model, built at its end (plugin.py)
PREFIX = "misalign."


# -- JUnit properties (one set per check item) --------------------------------------------------

def _num(x) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else repr(round(float(x), 6))


def check_properties(suite: str, task: str, check: CheckModel) -> list[tuple[str, str]]:
    """`misalign.*` properties for one check's JUnit testcase (each a separate, chartable number)."""
    threshold = check.threshold
    low, high = check.interval or (None, None)
    return [(PREFIX + key, value) for key, value in (
        ("suite", suite), ("task", task), ("value", _num(check.value)),
        ("interval_low", _num(low)), ("interval_high", _num(high)),
        ("threshold", ",".join(_num(t) for t in threshold) if isinstance(threshold, list) else _num(threshold)),
        ("requirement", check.requirement), ("verdict", check.verdict or ""), ("status", check.status),
        ("n", "" if check.n_items is None else str(check.n_items)), ("method", check.method),
    )]


# -- escaping --------------------------------------------------------------------------------------

def escape_data(text: str) -> str:
    """A workflow command's message (GitHub's `escapeData`)."""
    return str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (GitHub's `escapeProperty`)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def md_cell(text: str) -> str:
    """A GitHub table cell: pipes escaped, no line breaks."""
    return " ".join(str(text).replace("\\", "\\\\").replace("|", "\\|").split())


def _fmt(x) -> str:
    return "-" if x is None or x != x else f"{x:.3f}"


def _interval(check: CheckModel) -> str:
    if not check.interval or check.interval[0] is None:
        return "-"
    return f"[{_fmt(check.interval[0])}, {_fmt(check.interval[1])}]"


def statement(task: str, check: CheckModel) -> str:
    if check.passed is None:
        return f"{task}::{check.name}: {check.status}: {'; '.join(check.notes)}"
    return (f"{task}::{check.name} = {_fmt(check.value)} {_interval(check)}, required {check.requirement}: "
            f"{check.status_text}")


def annotation(suite: SuiteModel, task: str, check: CheckModel, rootdir: Path | None) -> str | None:
    """A GitHub workflow command: an error for a failed or unrun check, a warning for an inconclusive one."""
    if check.passed is False or check.passed is None:
        kind = "error"
    elif check.status in (INCONCLUSIVE, "degenerate"):
        kind = "warning"
    else:
        return None
    path = suite.path
    if rootdir is not None:
        try:
            path = os.path.relpath(path, rootdir)
        except ValueError:
            pass
    props = (f"file={escape_property(path.replace(os.sep, '/'))},line={check.line or 1},"
             f"title={escape_property(suite.suite)}")
    return f"::{kind} {props}::{escape_data(statement(task, check))}"


def annotations(run: RunModel, rootdir: Path | None) -> list[str]:
    rows = sorted(run.checks(), key=lambda r: r[2].passed is True)  # failed and unrun first
    return [line for suite, task, check in rows if (line := annotation(suite, task, check, rootdir))]


# -- markdown -------------------------------------------------------------------------------------

HEADERS = ["suite", "task", "check", "value", "interval", "threshold", "status", "result"]


def _result(check: CheckModel) -> str:
    return {True: "✅ passed", False: "❌ **FAILED**", None: "⚠️ not run"}[check.passed]


def render_markdown(run: RunModel) -> str:
    """The summary: header, counts that add up, then every check with the failed ones first."""
    model = run.model or {}
    lines = ["## pytest-misalign", "",
             f"**model** `{model.get('name', '-')}` · **backend** `{model.get('backend', '-')}` · "
             f"**gate** `{run.gate}`", ""]
    rows = run.checks()
    if not rows:
        return "\n".join(lines + ["No checks ran.", ""])
    lines += [status_line(run.summary(), run.gate, run.strict), "",
              "| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    for suite, task, check in sorted(rows, key=lambda r: r[2].passed is True):
        cells = [suite.suite, task, check.name, _fmt(check.value), _interval(check), check.requirement or "-",
                 check.status_text, _result(check)]
        lines.append("| " + " | ".join(md_cell(c) for c in cells) + " |")
    return "\n".join(lines + [""])


# -- the feature object -----------------------------------------------------------------------------

class CISummary:
    def __init__(self, config: pytest.Config, markdown_path: str | None, step_summary: str | None,
                 annotate: bool) -> None:
        self.config, self.markdown_path, self.step_summary, self.annotate = config, markdown_path, step_summary, annotate

    def _run(self) -> RunModel | None:
        return self.config.stash.get(RUN_MODEL, None)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter) -> None:
        run = self._run()
        if not self.annotate or run is None:
            return
        for line in annotations(run, self.config.rootpath):
            terminalreporter.write_line(line)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        run = self._run()
        if run is None or not (self.markdown_path or (self.step_summary and run.checks())):
            return
        text = render_markdown(run)
        if self.markdown_path:
            os.makedirs(os.path.dirname(self.markdown_path) or ".", exist_ok=True)
            with open(self.markdown_path, "w", encoding="utf-8") as f:
                f.write(text)
        if self.step_summary and run.checks():
            with open(self.step_summary, "a", encoding="utf-8") as f:  # other steps' summaries stay
                f.write(text + "\n")


def configure(config: pytest.Config, markdown_path: str | None) -> None:
    """Register a `CISummary` when some CI output is wanted (not on xdist workers)."""
    if hasattr(config, "workerinput"):
        return
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY") or None
    annotate = os.environ.get("GITHUB_ACTIONS") == "true"
    if not (markdown_path or step_summary or annotate):
        return
    path = os.path.abspath(os.path.expanduser(str(markdown_path))) if markdown_path else None
    summary = CISummary(config, path, step_summary, annotate)
    config.stash[CI_SUMMARY] = summary
    config.pluginmanager.register(summary, "misalign-ci-summary")


def unconfigure(config: pytest.Config) -> None:
    summary = config.stash.get(CI_SUMMARY, None)
    if summary is not None:
        del config.stash[CI_SUMMARY]
        config.pluginmanager.unregister(summary)
