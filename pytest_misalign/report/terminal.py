"""Tables for the terminal: per suite, a check summary, subgroup tables, suite-level checks."""

from __future__ import annotations

from tabulate import tabulate

from .. import stats
from ..checks import CheckResult
from ..scoring.diagnostics import diagnose
from ..scoring import documents as perplexity
from ..runner.evaluator import TaskRecord


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


def _width(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


# Columns of the task table, in the order they are given up when the table is too wide for the
# terminal (the dropped ones are named under the table; -v shows everything). Task and check
# names are wrapped only when the table is still too wide without them.
_DROPPABLE = ("n", "accuracy [95% Wilson]", "verdict", "interval")
_WRAPPABLE = ("task", "check")


def fitted_table(rows: list[list[str]], headers: list[str], width: int | None) -> str:
    """The table within `width` columns (None: as wide as it is)."""
    text = _table(rows, headers)
    if width is None or _width(text) <= width:
        return text
    dropped: list[str] = []
    for name in _DROPPABLE:
        if name in headers and _width(text) > width:
            k = headers.index(name)
            headers = headers[:k] + headers[k + 1:]
            rows = [row[:k] + row[k + 1:] for row in rows]
            text = _table(rows, headers)
            dropped.append(name)
    if _width(text) > width:
        limits = [max(8, width // 5) if h in _WRAPPABLE else None for h in headers]
        text = tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True, maxcolwidths=limits)
    return text + (f"\n(hidden to fit: {', '.join(dropped)}; -v shows all)" if dropped else "")


def _check_cells(result: CheckResult, gate: str, strict: bool = False) -> list[str]:
    verdict = result.verdict + (" (degenerate)" if result.degenerate else "")
    return [result.name, _fmt(result.value), f"{result.interval_text()} {result.interval_name}", result.requirement,
            verdict, "PASS" if result.passes(gate, strict) else "FAIL"]


CHECK_HEADERS = ["check", "value", "interval", "threshold", "verdict", "test"]


def _task_rows(records: list[TaskRecord], gate: str, strict: bool = False) -> list[list[str]]:
    rows = []
    for record in records:
        outcome = record.outcome
        lo, hi = stats.wilson_interval(outcome.successes, outcome.n)
        mark = "†" if outcome.task.spec.cluster else ""  # see the note: its checks use the cluster bootstrap
        n = str(outcome.n) if record.run is None else f"{outcome.n}/{record.run.n}"  # sequential: scored/available
        head = [outcome.task.spec.name, n, f"{_fmt(outcome.accuracy)} [{lo:.3f}, {hi:.3f}]{mark}"]
        if outcome.task.spec.is_perplexity:  # documents: no accuracy
            head[2] = perplexity.report_cell(outcome)
        for i, result in enumerate(record.checks.values()):
            rows.append((head if i == 0 else ["", "", ""]) + _check_cells(result, gate, strict))
        if not record.checks:
            rows.append(head + ["(no check ran)"] + [""] * 5)
    return rows


def _group_tables(records: list[TaskRecord]) -> list[str]:
    parts = []
    for record in records:
        outcome = record.outcome
        for by in dict.fromkeys(f for c in outcome.task.spec.checks for f in ([c.by] if c.by else [])):
            if outcome.task.spec.is_perplexity:
                parts.append(f"{outcome.task.spec.name} by {by}:\n"
                             + _table(perplexity.group_rows(outcome, by), perplexity.GROUP_HEADERS))
                continue
            grows = []
            for g, (s, n) in sorted(outcome.groups(by).items(), key=lambda kv: (kv[1][0] / kv[1][1], kv[0])):
                lo, hi = stats.wilson_interval(s, n)
                grows.append([g, str(n), _fmt(s / n), f"[{lo:.3f}, {hi:.3f}]"])
            parts.append(f"{outcome.task.spec.name} by {by}:\n"
                         + _table(grows, ["group", "n", "accuracy", "95% Wilson"]))
    return parts


def note_lines(records: list[TaskRecord], suite_checks: dict[str, CheckResult]) -> list[str]:
    """Every note once, naming its task and the checks it concerns:
    `  task: gap[region], group_accuracy[region]: groups below min_n=10 ...`."""
    seen: dict[tuple[str, str], list[str]] = {}
    for record in records:
        task = record.outcome.task.spec.name
        for note in ([] if record.outcome.task.spec.is_perplexity else diagnose(record.outcome).notes()):
            seen.setdefault((task, note), []).append("task")
        if record.outcome.task.spec.cluster:
            seen.setdefault((task, f"† the accuracy column's Wilson interval treats items as independent; the "
                                  f"checks use a cluster bootstrap over '{record.outcome.task.spec.cluster}' "
                                  f"(see each check's interval)"), []).append("task")
        for result in record.checks.values():
            for note in result.notes:
                seen.setdefault((task, note), []).append(result.name)
    for result in suite_checks.values():
        for note in result.notes:
            seen.setdefault(("(across tasks)", note), []).append(result.name)
    return [f"  {task}: {', '.join(dict.fromkeys(names))}: {note}" for (task, note), names in seen.items()]


def suite_tables(records: list[TaskRecord], suite_checks: dict[str, CheckResult], gate: str,
                 width: int | None = None, strict: bool = False) -> str:
    """Task summary (one row per check), suite-level checks, data sources, subgroup tables and
    notes; the wide tables fitted to `width` columns (None: as wide as they are)."""
    parts = [fitted_table(_task_rows(records, gate, strict), ["task", "n", "accuracy [95% Wilson]"] + CHECK_HEADERS,
                          width)]
    if suite_checks:
        parts.append("across tasks:\n" + fitted_table([_check_cells(r, gate, strict) for r in suite_checks.values()],
                                                       CHECK_HEADERS, width))
    parts.append("items:\n" + "\n".join(
        f"  {r.outcome.task.spec.name}: {r.outcome.n} of {r.outcome.task.total_items} ({r.outcome.task.data_source})"
        + (f"; sequential gate: {r.run.stop_text()}" if r.run is not None else "") for r in records))
    parts += _group_tables(records)
    notes = note_lines(records, suite_checks)
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


def unscored_lines(unscored) -> list[str]:
    """Tasks without results, with why: skipped (no model, data unavailable) or errored."""
    rows = sorted(unscored, key=lambda u: (u.status, u.suite.name, u.task))
    if not rows:
        return []
    lines = [f"tasks not scored ({len(rows)}):"]
    for u in rows:
        reason = u.reason.splitlines()[0]
        lines.append(f"  {u.status.upper():8} {u.suite.name}::{u.task}: {reason}")
    return lines
