"""CI outputs: a markdown summary (`--misalign-markdown`, `$GITHUB_STEP_SUMMARY`), GitHub workflow
annotations (under `GITHUB_ACTIONS=true`) and per-check JUnit XML properties.

Shaped like pytest's own `junitxml.py`: every check item puts its numbers in `item.user_properties`
(`check_properties`; pytest's junitxml writes them as `<property>`, and they travel with the report
under xdist); a `CISummary` object, registered on the plugin manager only when one of its outputs is
wanted and never on xdist workers, collects them from `pytest_runtest_logreport` and writes at the end.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import pytest

CI_SUMMARY = pytest.StashKey["CISummary"]()
PREFIX = "misalign."


# -- JUnit properties (one set per check item) --------------------------------------------------

def _num(x) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else repr(round(float(x), 6))


def _scope(item) -> tuple[str, str, int | None]:
    """(suite name, task label, n) of a check item: its task's items, the regression's shared items,
    or the items of all the tasks a suite-level check compares."""
    evaluator = item.evaluator
    prepared = getattr(item, "prepared", None)
    if prepared is not None and not isinstance(prepared, str):
        record = evaluator.records.get(prepared.key)
        return prepared.suite.name, prepared.spec.name, record.outcome.n if record else None
    tasks = getattr(item, "tasks", None) or {}
    names = [item.check.params["from"], item.check.params["to"]] if item.check.kind == "shift" else list(tasks)
    keys = [tasks[name].key for name in names if not isinstance(tasks.get(name), (str, type(None)))]
    records = [evaluator.records[key] for key in keys if key in evaluator.records]
    n = sum(r.outcome.n for r in records) if records else None
    label = " → ".join(names) if item.check.kind == "shift" else ", ".join(names)
    return item.suite.name, label, n


def check_properties(item, result) -> list[tuple[str, str]]:
    """`misalign.*` properties for one check's JUnit testcase (each a separate, chartable number)."""
    suite, task, n = _scope(item)
    n = result.details.get("common_items", n)  # a regression: the items both runs share
    threshold = result.threshold
    return [(PREFIX + key, value) for key, value in (
        ("suite", suite), ("task", task),
        ("value", _num(result.value)),
        ("interval_low", _num(result.interval[0])), ("interval_high", _num(result.interval[1])),
        ("threshold", ",".join(_num(t) for t in threshold) if isinstance(threshold, list) else _num(threshold)),
        ("requirement", result.requirement), ("verdict", result.verdict),
        ("n", "" if n is None else str(n)), ("method", result.method),
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


# -- rows -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    suite: str
    task: str
    check: str
    value: float
    low: float
    high: float
    requirement: str
    verdict: str
    passed: bool
    path: str  # relative to rootdir, forward slashes
    line: int

    @classmethod
    def from_report(cls, report: pytest.TestReport) -> "Row | None":
        props = {k[len(PREFIX):]: v for k, v in report.user_properties if str(k).startswith(PREFIX)}
        if "value" not in props:
            return None
        path, line, _ = report.location
        return cls(props["suite"], props["task"], report.nodeid.rsplit("::", 1)[-1], float(props["value"]),
                   float(props["interval_low"]), float(props["interval_high"]), props["requirement"],
                   props["verdict"], report.passed, str(path).replace(os.sep, "/"), (line or 0) + 1)

    def statement(self) -> str:
        return (f"{self.task}::{self.check} = {_fmt(self.value)} [{_fmt(self.low)}, {_fmt(self.high)}], "
                f"required {self.requirement} ({self.verdict})")

    def annotation(self) -> str | None:
        if not self.passed:
            kind = "error"
        elif self.verdict == "inconclusive":
            kind = "warning"
        else:
            return None
        props = f"file={escape_property(self.path)},line={self.line},title={escape_property(self.suite)}"
        return f"::{kind} {props}::{escape_data(self.statement())}"

    def cells(self) -> list[str]:
        return [self.suite, self.task, self.check, _fmt(self.value), f"[{_fmt(self.low)}, {_fmt(self.high)}]",
                self.requirement, self.verdict, "❌ **FAILED**" if not self.passed else "✅ passed"]


def _fmt(x: float) -> str:
    return "-" if x != x else f"{x:.3f}"


HEADERS = ["suite", "task", "check", "value", "interval", "threshold", "verdict", "result"]


def render_markdown(rows: list[Row], model: str, backend: str, gate: str) -> str:
    """The summary: header, counts, then every check with the failed ones first."""
    failed = [r for r in rows if not r.passed]
    ordered = failed + [r for r in rows if r.passed]
    inconclusive = sum(r.verdict == "inconclusive" for r in rows)
    lines = ["## pytest-misalign", "",
             f"**model** `{model}` · **backend** `{backend}` · **gate** `{gate}`", ""]
    if not rows:
        return "\n".join(lines + ["No checks ran.", ""])
    lines += [f"**{len(rows) - len(failed)} passed**, **{len(failed)} failed**, **{inconclusive} inconclusive** "
              f"(of {len(rows)} checks)", "",
              "| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    lines += ["| " + " | ".join(md_cell(c) for c in r.cells()) + " |" for r in ordered]
    return "\n".join(lines + [""])


# -- the feature object -----------------------------------------------------------------------------

class CISummary:
    def __init__(self, config: pytest.Config, markdown_path: str | None, step_summary: str | None,
                 annotate: bool) -> None:
        self.config, self.markdown_path, self.step_summary, self.annotate = config, markdown_path, step_summary, annotate
        self.rows: list[Row] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            row = Row.from_report(report)
            if row is not None:
                self.rows.append(row)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.annotate:
            return
        for row in sorted(self.rows, key=lambda r: r.passed):
            line = row.annotation()
            if line:
                terminalreporter.write_line(line)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not (self.markdown_path or (self.step_summary and self.rows)):
            return
        text = render_markdown(self.rows, *self._header())
        if self.markdown_path:
            os.makedirs(os.path.dirname(self.markdown_path) or ".", exist_ok=True)
            with open(self.markdown_path, "w", encoding="utf-8") as f:
                f.write(text)
        if self.step_summary and self.rows:
            with open(self.step_summary, "a", encoding="utf-8") as f:  # other steps' summaries stay
                f.write(text + "\n")

    def _header(self) -> tuple[str, str, str]:
        from ..plugin import EVALUATOR

        evaluator = self.config.stash.get(EVALUATOR, None)
        if evaluator is None or evaluator.options.model is None:
            return "-", "-", "-"
        if evaluator.loaded:
            info = evaluator.backend.info
            return info.name, info.backend, evaluator.options.gate
        return evaluator.options.model.model, evaluator.options.model.backend, evaluator.options.gate


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
