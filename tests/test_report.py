"""The terminal report as a person sees it (issue 10 §5): tables that fit the terminal (-v shows
everything), notes that name their task and appear once, one data line per task."""

import fake_backend
from helpers import CAPITALS_SUITE, FAKE_CONFTEST


def _report(pytester, *args: str, columns: int) -> list[str]:
    fake_backend.KNOWN.clear()
    fake_backend.KNOWN.update({"Paris", "Rome", "Tokyo", "Lima"})
    pytester._monkeypatch.setenv("COLUMNS", str(columns))
    pytester.makeconftest(FAKE_CONFTEST)
    pytester.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    lines = pytester.runpytest("--misalign-model=fake", "-p", "no:cacheprovider", *args).stdout.lines
    return lines[next(i for i, line in enumerate(lines) if "misalign report" in line):]


def test_the_default_report_fits_a_narrow_terminal_and_never_hides_interval_or_status(pytester):
    """In a log (80 columns here) the compact report's table wraps long cells; the interval and the
    status -- the point of a gate's report -- are always there."""
    report = _report(pytester, columns=80)
    table = report[report.index(next(line for line in report if line.startswith("task "))):]
    table = table[:table.index("")]
    assert all(len(line) <= 80 for line in table), table
    assert table[0].split() == ["task", "check", "value", "interval", "threshold", "status", "test"]
    assert not any("hidden to fit" in line for line in report)
    assert any("[0.300, 0.903]" in line and "inconclusive" in line for line in table), table


def test_verbose_shows_every_column(pytester):
    report = _report(pytester, "-v", columns=80)
    header = next(line for line in report if line.startswith("task "))
    assert header.split()[:5] == ["task", "n", "accuracy", "[95%", "Wilson]"]
    assert not any(line.startswith("(hidden to fit") for line in report)


def test_notes_name_their_task_once_per_kind(pytester):
    report = _report(pytester, "-v", columns=200)
    notes = report[report.index("notes:") + 1:]
    notes = notes[:notes.index("")] if "" in notes else notes  # the notes block only
    min_n = [line for line in notes if "min_n" in line]
    assert min_n == ["  capitals: gap[region], group_accuracy[region]: groups below min_n=10 items, too small "
                     "to trust: africa (1), americas (2), asia (1), europe (2)"]
    assert report[report.index("items:") + 1] == "  capitals: 6 of 6 (inline items)"
