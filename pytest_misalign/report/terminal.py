"""The terminal report, rendered from the run model: tasks without results, the counts and the gate,
and per suite either

* by default (compact): one line per task whose checks all passed, a table of the checks that did not
  pass (value, interval, threshold, status: never hidden; long cells wrap), and the notes about them;
* with -v: every check of every task, the checks across tasks, data sources, subgroup tables and all
  notes.

The evidence under each failing test (groups, items) is in pytest's failure section above it."""

from __future__ import annotations

from typing import Iterable

from tabulate import tabulate

from .model import CheckModel, RunModel, SuiteModel, TaskModel, UnscoredModel, status_line

# Provenance keys a backend may put in `ModelInfo.extra`, shown in the report header when present.
_LAYOUT_KEYS = ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size",
                "distributed_executor_backend")


def model_header(info: dict) -> list[str]:
    """Lines naming what was evaluated and how: model, device, dtype, backend, engine, parallel
    layout, server and served model (never credentials)."""
    lines = [f"model: {info['name']} ({info['source']}) on {info['device']}, {info['dtype']}"]
    engine = f"backend: {info['backend']}" + (f" ({info['engine']})" if info.get("engine") else "")
    extra = info.get("extra") or {}
    layout = ", ".join(f"{k}={extra[k]}" for k in _LAYOUT_KEYS if extra.get(k) not in (None, ""))
    if layout:
        engine += f"; {layout}"
    if extra.get("served_model"):
        engine += f"; served model {extra['served_model']!r} at {extra.get('server_url', info['source'])}"
    lines.append(engine)
    return lines


def _fmt(x: float | None) -> str:
    return "-" if x is None or x != x else f"{x:.3f}"


def _table(rows: list[list], headers: list[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)


def _width(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


# Columns of the task table, in the order they are given up when the table is too wide for the
# terminal (the dropped ones are named under the table; -v shows everything). Task and check
# names are wrapped only when the table is still too wide without them.
_DROPPABLE = ("n", "accuracy [95% Wilson]")  # the interval and the status are never dropped: they wrap
_WRAPPABLE = ("task", "check", "interval", "threshold")


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
        text = _wrapped(rows, headers, width)
    return text + (f"\n(hidden to fit: {', '.join(dropped)}; -v shows all)" if dropped else "")


_FLOORS = {"interval": 16, "threshold": 9}  # narrowest a wrapped column gets: an interval "[0.123, 0.456]" whole


def _wrapped(rows: list[list[str]], headers: list[str], width: int) -> str:
    """The table with its wrappable columns narrowed, widest first, until it fits (task and check names
    first: an interval is cut last, and never below one "[lo, hi]")."""
    limits = {h: max([len(h)] + [len(str(r[k])) for r in rows]) for k, h in enumerate(headers) if h in _WRAPPABLE}
    text = _table(rows, headers)
    floor = {h: min(limits[h], _FLOORS.get(h, 10)) for h in limits}
    while _width(text) > width and any(v > floor[h] for h, v in limits.items()):
        widest = max((h for h in limits if limits[h] > floor[h]), key=lambda h: (h not in _FLOORS, limits[h]))
        limits[widest] = max(floor[widest], limits[widest] - max(1, _width(text) - width))
        text = tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True,
                        maxcolwidths=[limits.get(h) for h in headers])
    return text


def test_cell(check: CheckModel) -> str:
    return {True: "PASS", False: "FAIL", None: "-"}[check.passed]


def _check_cells(check: CheckModel, named: bool = True) -> list[str]:
    interval = (f"[{_fmt(check.interval[0])}, {_fmt(check.interval[1])}]" + (f" {check.interval_name}" if named else "")
                if check.interval and check.interval[0] is not None else "-")
    return [check.name, _fmt(check.value), interval, check.requirement or "-",
            check.status_text if named else check.status, test_cell(check)]


CHECK_HEADERS = ["check", "value", "interval", "threshold", "status", "test"]


def score_cell(task: TaskModel) -> str:
    """Accuracy with its Wilson interval († when the checks use a cluster bootstrap); perplexity tasks:
    the word perplexity."""
    if task.is_perplexity:
        ppl = task.extra.get("word_perplexity")
        return "word ppl -" if ppl is None else f"word ppl {ppl:.2f}"
    lo, hi = task.accuracy_interval or (None, None)
    if task.metric == "pct_stereotype":
        return f"pct_stereotype {_fmt(task.accuracy)} [{_fmt(lo)}, {_fmt(hi)}]"
    return f"{_fmt(task.accuracy)} [{_fmt(lo)}, {_fmt(hi)}]" + ("†" if task.data.get("cluster") else "")


def _task_rows(tasks: list[TaskModel]) -> list[list[str]]:
    rows = []
    for task in tasks:
        n = str(task.n_scored) if "sequential" not in task.extra else f"{task.n_scored}/{task.n}"
        head = [task.task, n, score_cell(task)]
        for i, check in enumerate(task.checks):
            rows.append((head if i == 0 else ["", "", ""]) + _check_cells(check))
        if not task.checks:
            rows.append(head + ["(no check ran)"] + [""] * 5)
    return rows


GROUP_HEADERS = ["group", "n", "accuracy", "95% Wilson"]
PERPLEXITY_HEADERS = ["group", "n", "word ppl", "byte ppl", "bits/byte"]


def _group_tables(tasks: list[TaskModel]) -> list[str]:
    parts = []
    for task in tasks:
        for by, table in task.groups.items():
            if task.is_perplexity:  # worst (highest word perplexity) first
                rows = sorted(table.items(), key=lambda kv: (-(kv[1]["word_perplexity"] or 0), kv[0]))
                body = [[g, str(r["n"]), f"{r['word_perplexity']:.2f}", f"{r['byte_perplexity']:.4f}",
                         f"{r['bits_per_byte']:.4f}"] for g, r in rows]
                parts.append(f"{task.task} by {by}:\n" + _table(body, PERPLEXITY_HEADERS))
                continue
            rows = sorted(table.items(), key=lambda kv: (kv[1]["correct"] / kv[1]["n"], kv[0]))
            body = [[g, str(r["n"]), _fmt(r["accuracy"]), f"[{r['interval'][0]:.3f}, {r['interval'][1]:.3f}]"]
                    for g, r in rows]
            headers = GROUP_HEADERS if task.metric != "pct_stereotype" else ["group", "n", "pct_stereotype", "95% Wilson"]
            parts.append(f"{task.task} by {by}:\n" + _table(body, headers))
    return parts


def note_lines(suite: SuiteModel) -> list[str]:
    """Every note once, naming its task and the checks it concerns:
    `  task: gap[region], group_accuracy[region]: groups below min_n=10 ...`."""
    seen: dict[tuple[str, str], list[str]] = {}
    for task in suite.tasks:
        for note in (task.diagnostics or {}).get("notes", []):
            seen.setdefault((task.task, note), []).append("task")
        if task.data.get("cluster"):
            seen.setdefault((task.task, f"† the accuracy column's Wilson interval treats items as independent; the "
                                        f"checks use a cluster bootstrap over '{task.data['cluster']}' "
                                        f"(see each check's interval)"), []).append("task")
        for check in task.checks:
            for note in check.notes:
                seen.setdefault((task.task, note), []).append(check.name)
    for check in suite.checks:
        for note in check.notes:
            seen.setdefault(("(across tasks)", note), []).append(check.name)
    return [f"  {task}: {', '.join(dict.fromkeys(names))}: {note}" for (task, note), names in seen.items()]


def suite_tables(suite: SuiteModel, width: int | None = None) -> str:
    """Task summary (one row per check), suite-level checks, data sources, subgroup tables and
    notes; the wide tables fitted to `width` columns (None: as wide as they are)."""
    parts = []
    if suite.tasks:
        parts.append(fitted_table(_task_rows(suite.tasks), ["task", "n", "accuracy [95% Wilson]"] + CHECK_HEADERS,
                                  width))
    if suite.checks:
        parts.append("across tasks:\n" + fitted_table([_check_cells(c) for c in suite.checks], CHECK_HEADERS, width))
    if suite.tasks:
        parts.append("items:\n" + "\n".join(
            f"  {t.task}: {t.n_scored} of {t.data.get('total')} ({t.data.get('source')})"
            + (f"; sequential gate: {t.extra['sequential']['stopped']}" if "sequential" in t.extra else "")
            for t in suite.tasks))
    parts += _group_tables(suite.tasks)
    notes = note_lines(suite)
    if notes:
        parts.append("notes:\n" + "\n".join(notes))
    return "\n\n".join(parts)


def _all_pass(task: TaskModel) -> bool:
    return bool(task.checks) and all(c.status == "pass" for c in task.checks)


def passing_line(task: TaskModel) -> str:
    """`  capitals-mc: all 3 checks pass (accuracy 0.725 [0.574, 0.839])`."""
    n = len(task.checks)
    return f"  {task.task}: {'all ' + str(n) + ' checks pass' if n > 1 else 'its check passes'} ({score_cell(task)})"


def compact_tables(suite: SuiteModel, width: int | None = None) -> str:
    """The default report of a suite: passing tasks one line each, the other checks in a table with
    their intervals and statuses (wrapped to `width`, never dropped), and the notes about them."""
    parts = []
    passing = [t for t in suite.tasks if _all_pass(t)]
    if passing:
        parts.append("passed:\n" + "\n".join(passing_line(t) for t in passing))
    rows = []
    for task in [t for t in suite.tasks if not _all_pass(t)]:
        for c in [c for c in task.checks if c.status != "pass"] or [None]:
            cells = _check_cells(c, named=False) if c is not None else ["(no check ran)"] + [""] * 5
            rows.append(["" if rows and rows[-1][0] in ("", task.task) and _owner(rows) == task.task else task.task]
                        + cells)
            rows[-1].append(task.task)  # the owner, dropped below
    rows += [["(across tasks)"] + _check_cells(c, named=False) + ["(across tasks)"]
             for c in suite.checks if c.status != "pass"]
    if rows:
        parts.append(fitted_table([r[:-1] for r in rows], ["task"] + CHECK_HEADERS, width))
    return "\n\n".join(parts)


def _owner(rows: list[list[str]]) -> str:
    return rows[-1][-1] if rows else ""


def unscored_lines(unscored: Iterable[tuple[str, UnscoredModel]]) -> list[str]:
    """Tasks without results, with why: skipped (no model, data unavailable) or errored."""
    rows = sorted(unscored, key=lambda su: (su[1].status, su[0], su[1].task))
    if not rows:
        return []
    lines = [f"tasks not scored ({len(rows)}):"]
    grouped: dict[tuple[str, str], list[str]] = {}  # (status, reason) -> tasks: each reason once
    for suite, u in rows:
        grouped.setdefault((u.status, u.reason.strip()), []).append(f"{suite}::{u.task}")
    for (status, reason), tasks in grouped.items():
        text = reason.splitlines()
        where = tasks[0] if len(tasks) == 1 else f"{len(tasks)} tasks ({', '.join(tasks[:3])}" + (
            ", ...)" if len(tasks) > 3 else ")")
        lines.append(f"  {status.upper():8} {where}: {text[0]}")
        lines += [f"  {x.strip()}" for x in text[1:] if x.strip().startswith("fix:")]  # the fix, never cut
    return lines


GATES = {"point": "the point estimate decides; intervals are shown",
         "sequential": "only a confident pass passes; tasks stop once anytime-valid sequences settle their checks",
         "confident": "only a confident pass passes"}


def gate_line(run: RunModel) -> str:
    return (f"gate: {run.gate}{' (strict)' if run.strict else ''} — " + GATES.get(run.gate, GATES["confident"])
            + ("; inconclusive, degenerate and skipped also fail" if run.strict else ""))


def report_lines(run: RunModel, width: int | None, notices: list[str] = (), verbose: bool = True
                 ) -> list[tuple[str, dict]]:
    """The report as (line, markup) pairs: header (and `notices`, e.g. the result cache's status), one
    block per suite (compact unless `verbose`), unscored tasks, counts, gate."""
    out: list[tuple[str, dict]] = []
    if run.model is not None:
        out += [(line, {}) for line in model_header(run.model)]
    out += [(line, {}) for line in notices]
    for suite in run.suites:
        if not (suite.tasks or suite.checks):
            continue
        body = suite_tables(suite, width) if verbose else compact_tables(suite, width)
        out += [("", {}), (f"suite {suite.suite} ({suite.path})", {"bold": True}), (body, {})]
    lines = unscored_lines((s.suite, u) for s in run.suites for u in s.unscored)
    if lines:
        out += [("", {})] + [(line, {"yellow": True}) for line in lines]
    out += [("", {}), (status_line(run.summary(), run.gate, run.strict), {}), (gate_line(run), {})]
    if run.model is None and any(u.reason.startswith("no model configured") for s in run.suites for u in s.unscored):
        out.append(("no model was given, so nothing was evaluated and this run passes vacuously: pass "
                     "--misalign-model=NAME; a release gate should also pass --misalign-strict, which fails such a run",
                     {"yellow": True, "bold": True}))
    return out
