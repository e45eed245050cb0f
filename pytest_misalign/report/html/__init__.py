"""`--misalign-html PATH`: a self-contained HTML report (inline CSS, JS and SVG plots; no network).

A feature object in the style of pytest's `junitxml`: `HTMLReport` is registered as a plugin in
`pytest_configure` when the option is set, kept in `config.stash`, and writes the file in
`pytest_sessionfinish` from the session's run model (`report/model.py`), in its JSON form -- the same
record `--misalign-json` writes -- so the two never disagree; the page computes no statistics.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pytest

from ..results import write_text_atomic

__all__ = ["HTMLReport", "HTML_REPORT", "configure", "unconfigure", "render_html", "write_html"]


def render_html(results: dict[str, Any]) -> str:
    """The report page for a run model in its JSON form (`RunModel.to_json`, a results file)."""
    from .render import render

    return render(results)


def write_html(path: str | Path, results: dict[str, Any]) -> Path:
    return write_text_atomic(path, render_html(results))


class HTMLReport:
    """Writes the report at the end of the session. `results` returns the run model, or None when
    the session built none (then no file is written)."""

    def __init__(self, path: str | Path, results: Callable[[], Any]) -> None:
        self.path = Path(os.path.expanduser(os.path.expandvars(str(path)))).absolute()
        self._results = results
        self.written: Path | None = None

    @pytest.hookimpl(trylast=True)  # after the plugin built the run model
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        run = self._results()
        if run is not None:
            self.written = write_html(self.path, run.to_json())

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.written is not None:
            terminalreporter.write_sep("-", f"HTML report: {self.written}")


HTML_REPORT = pytest.StashKey[HTMLReport]()


def configure(config: pytest.Config, path: str | None, results: Callable[[], Any]) -> None:
    """Register the report when a path is set (not on xdist workers: the controller writes it)."""
    if not path or hasattr(config, "workerinput"):
        return
    config.stash[HTML_REPORT] = HTMLReport(path, results)
    config.pluginmanager.register(config.stash[HTML_REPORT], "misalign-html")


def unconfigure(config: pytest.Config) -> None:
    report = config.stash.get(HTML_REPORT, None)
    if report is not None:
        del config.stash[HTML_REPORT]
        config.pluginmanager.unregister(report)
