"""Tables for the terminal: per suite, a check summary, subgroup tables, suite-level checks."""

from __future__ import annotations

from tabulate import tabulate

from . import stats
from .checks import CheckResult
from .runner import TaskRecord


# Provenance keys a backend may put in `ModelInfo.extra`, shown in the report header when present.
_LAYOUT_KEYS = ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size",
                "distributed_executor_backend")


def model_header(info) -> list[str]:
    """Lines naming what was evaluated and how: model, device, dtype, backend, engine, parallel
    layout, server and served model (never credentials)."""
    lines = [f"model: {info.name} ({info.source}) on {info.device}, {info.dtype}"]
    engine = f"backend: {info.backend}" + (f" ({info.engine})" if info.engine else "")
    extra = info.extra or {}
    layout = ", ".join(f"{k}={extra[k]}" for k in _LAYOUT_KEYS if extra.get(k) not in (None, ""))
    if layout:
        engine += f"; {layout}"
    if extra.get("served_model"):
        engine += f"; served model {extra['served_model']!r} at {extra.get('server_url', info.source)}"
    lines.append(engine)
    return lines


def _fmt(x: float) -> str:
    return "-" if x != x else f"{x:.3f}"


def _table(rows: list[list], headers: list[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)


def _check_cells(result: CheckResult, gate: str) -> list[str]:
    return [result.name, _fmt(result.value), result.interval_text(), result.requirement, result.verdict,
            "PASS" if result.passes(gate) else "FAIL"]


CHECK_HEADERS = ["check", "value", "interval", "threshold", "verdict", "test"]


def suite_tables(records: list[TaskRecord], suite_checks: dict[str, CheckResult], gate: str) -> str:
    """Task summary (one row per check), suite-level checks, data sources and subgroup tables."""
    rows = []
    for record in records:
        outcome = record.outcome
        lo, hi = stats.wilson_interval(outcome.successes, outcome.n)
        head = [outcome.task.spec.name, str(outcome.n), f"{_fmt(outcome.accuracy)} [{lo:.3f}, {hi:.3f}]"]
        for i, result in enumerate(record.checks.values()):
            rows.append((head if i == 0 else ["", "", ""]) + _check_cells(result, gate))
        if not record.checks:
            rows.append(head + ["(no check ran)"] + [""] * 5)
    parts = [_table(rows, ["task", "n", "accuracy [95% Wilson]"] + CHECK_HEADERS)]
    if suite_checks:
        parts.append("across tasks:\n" + _table([_check_cells(r, gate) for r in suite_checks.values()],
                                                CHECK_HEADERS))
    parts.append("items: " + "; ".join(
        f"{r.outcome.task.spec.name} {r.outcome.n} of {r.outcome.task.total_items} ({r.outcome.task.data_source})"
        for r in records))
    for record in records:
        outcome = record.outcome
        for by in dict.fromkeys(f for c in outcome.task.spec.checks for f in ([c.by] if c.by else [])):
            grows = []
            for g, (s, n) in sorted(outcome.groups(by).items(), key=lambda kv: (kv[1][0] / kv[1][1], kv[0])):
                lo, hi = stats.wilson_interval(s, n)
                grows.append([g, str(n), _fmt(s / n), f"[{lo:.3f}, {hi:.3f}]"])
            parts.append(f"{outcome.task.spec.name} by {by}:\n"
                         + _table(grows, ["group", "n", "accuracy", "95% Wilson"]))
    notes = [f"  {r.name}: {note}" for record in records for r in record.checks.values() for note in r.notes]
    notes += [f"  {r.name}: {note}" for r in suite_checks.values() for note in r.notes]
    if notes:
        parts.append("notes:\n" + "\n".join(notes))
    return "\n\n".join(parts)


def by_suite(records: dict) -> dict[tuple[str, str], list[TaskRecord]]:
    """Records grouped by (suite name, suite path), in the order tasks were scored."""
    grouped: dict[tuple[str, str], list[TaskRecord]] = {}
    for record in records.values():
        suite = record.outcome.task.suite
        grouped.setdefault((suite.name, str(suite.path)), []).append(record)
    return grouped
