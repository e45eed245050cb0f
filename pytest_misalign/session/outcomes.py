"""How a session ends: a broken pipeline is not a failed model.

| exit | meaning                                                                              |
|------|--------------------------------------------------------------------------------------|
| 0    | every check passed                                                                   |
| 1    | checks failed: the model did not meet its gates (in strict mode also: inconclusive   |
|      | verdicts and degenerate checks)                                                      |
| 78   | the pipeline is broken: a suite did not parse, data is missing, the model could not  |
|      | load, the backend failed while scoring, or (strict mode) no model was given          |
| 2, 4 | pytest's own: interrupted (Ctrl-C) and usage error (a bad option value)              |

Exit 78 wins over 1: when the setup is broken the failures are not evidence about the model.
Broken setups are pytest ERRORs (setup phase, or collection), never FAILED; `OutcomeTracker`
(registered on the plugin manager, like pytest's own junitxml feature) counts them from the reports,
which also arrive on the xdist controller.
"""

from __future__ import annotations

import pytest

EXIT_BROKEN_SETUP = 78  # sysexits EX_CONFIG; pytest itself uses 0-6

_KEY = pytest.StashKey["OutcomeTracker"]()


def _is_suite_node(nodeid: str) -> bool:
    path = nodeid.split("::", 1)[0].split("@", 1)[0]
    return path.endswith((".yaml", ".yml"))


class OutcomeTracker:
    """Counts broken-setup errors of misalign nodes and turns them into the session's exit code."""

    def __init__(self) -> None:
        self.broken: dict[str, str] = {}  # node id -> first line of the error
        self.keyboard_interrupt = False

    def pytest_keyboard_interrupt(self, excinfo) -> None:
        # pytest raises Session.Interrupted (a KeyboardInterrupt) for "errors during collection" too
        self.keyboard_interrupt = not isinstance(excinfo.value, pytest.Session.Interrupted)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and _is_suite_node(report.nodeid or str(report.fspath)):
            self.broken.setdefault(report.nodeid or str(report.fspath), _first_line(report))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "setup" and report.failed and "misalign" in report.keywords:
            self.broken.setdefault(report.nodeid, _first_line(report))

    def apply(self, session: pytest.Session) -> dict:
        """Set the session's exit code; return the run's outcome for the results file."""
        if self.broken and not self.keyboard_interrupt and session.exitstatus in (
                pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.INTERRUPTED,
                pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = EXIT_BROKEN_SETUP  # INTERRUPTED here: "errors during collection"
        return {"status": "interrupted" if self.keyboard_interrupt else "complete",
                "exit_status": int(session.exitstatus),
                "broken_setup": [{"node": node, "error": line} for node, line in self.broken.items()]}

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.broken:
            return
        terminalreporter.write_sep("=", "misalign: broken setup", red=True, bold=True)
        for line, nodes in _by_error(self.broken).items():  # each distinct error once, with where it struck
            where = nodes[0] if len(nodes) == 1 else f"{len(nodes)} tests ({', '.join(nodes[:3])}" + (
                ", ...)" if len(nodes) > 3 else ")")
            terminalreporter.write_line(f"ERROR {where}: {line}")
        terminalreporter.write_line(f"exit code {EXIT_BROKEN_SETUP}: fix the pipeline (model, backend, suite or data); "
                                    "these errors say nothing about the model's capabilities")


def _by_error(broken: dict[str, str]) -> dict[str, list[str]]:
    """{error line: the nodes it struck}; a repeat ("the same error as X (above)") goes under X's line."""
    grouped: dict[str, list[str]] = {}
    for node, line in broken.items():
        if line.startswith("the same error as ") and line.endswith(" (above)"):
            line = broken.get(line[len("the same error as "):-len(" (above)")], line)
        grouped.setdefault(line, []).append(node)
    return grouped


def _first_line(report) -> str:
    text = str(report.longrepr or "").strip()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("_", "=")):
            return line[:300]
    return "error"


def configure(config: pytest.Config) -> None:
    tracker = OutcomeTracker()
    config.stash[_KEY] = tracker
    config.pluginmanager.register(tracker, "misalign-outcomes")


def note_broken(config: pytest.Config, where: str, message: str) -> None:
    """A broken setup found outside any test (e.g. a worker's results lost): exit 78, reported."""
    tracker = config.stash.get(_KEY, None)
    if tracker is not None:
        tracker.broken.setdefault(where, message[:300])


def finish(session: pytest.Session) -> dict:
    tracker = session.config.stash.get(_KEY, None)
    if tracker is None:
        return {"status": "complete", "exit_status": int(session.exitstatus), "broken_setup": []}
    return tracker.apply(session)


def unconfigure(config: pytest.Config) -> None:
    tracker = config.stash.get(_KEY, None)
    if tracker is not None:
        del config.stash[_KEY]
        config.pluginmanager.unregister(tracker)
