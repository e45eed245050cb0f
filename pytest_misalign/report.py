"""Tables for the terminal: one summary per suite, one subgroup table per `by:` field."""

from __future__ import annotations

from tabulate import tabulate

from .runner import TaskRecord

VERDICT_MARK = {"pass": "PASS", "fail": "FAIL"}


def _fmt(x: float) -> str:
    return "-" if x != x else f"{x:.3f}"


def suite_tables(records: list[TaskRecord]) -> str:
    """Task summary (one row per check) followed by subgroup tables, for one suite."""
    rows = []
    for record in records:
        outcome = record.outcome
        first = True
        for result in record.checks.values() or [None]:
            row = [outcome.task.spec.name if first else "", outcome.n if first else "",
                   _fmt(outcome.accuracy) if first else ""]
            if result is None:
                row += ["(no check ran)", "", "", ""]
            else:
                row += [result.name, _fmt(result.value), result.requirement,
                        VERDICT_MARK.get(result.verdict, result.verdict.upper())]
            rows.append(row)
            first = False
    parts = [tabulate(rows, headers=["task", "n", "accuracy", "check", "value", "threshold", "verdict"],
                      tablefmt="simple", disable_numparse=True)]
    for record in records:
        outcome = record.outcome
        for by in dict.fromkeys(c.by for c in outcome.task.spec.checks if c.by):
            grows = [[g, n, _fmt(s / n)] for g, (s, n) in
                     sorted(outcome.groups(by).items(), key=lambda kv: kv[1][0] / kv[1][1])]
            parts.append(f"{outcome.task.spec.name} by {by}:\n"
                         + tabulate(grows, headers=["group", "n", "accuracy"], tablefmt="simple", disable_numparse=True))
    return "\n\n".join(parts)


def by_suite(records: dict) -> dict[tuple[str, str], list[TaskRecord]]:
    """Records grouped by (suite name, suite path), in the order tasks were scored."""
    grouped: dict[tuple[str, str], list[TaskRecord]] = {}
    for record in records.values():
        suite = record.outcome.task.suite
        grouped.setdefault((suite.name, str(suite.path)), []).append(record)
    return grouped
