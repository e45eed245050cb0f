"""The report page, built from the results dict only. Every piece of text goes through `esc`: suite
names, fields and item prompts are user data."""

from __future__ import annotations

import html
import math
from typing import Any, Iterable

from . import plots, view
from ..model import CheckModel, RunModel, status_line
from .assets import CSS, JS
from .items import items_section
from .reliability import calibration_section


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}" if isinstance(x, (int, float)) and not isinstance(x, bool) else esc(x)


def _row(cells: Iterable[str], attrs: str = "") -> str:
    return f"<tr{attrs}>" + "".join(cells) + "</tr>"


def _table(headers: list[str], rows: list[str], cls: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    return f'<table class="{esc(cls)}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _td(text: str, cls: str = "") -> str:
    return f'<td class="{cls}">{text}</td>' if cls else f"<td>{text}</td>"


def requirement(check: dict[str, Any]) -> str:
    parts = [f"≥ {check['min']:g}" if check.get("min") is not None else "",
             f"≤ {check['max']:g}" if check.get("max") is not None else ""]
    return " and ".join(p for p in parts if p) or "–"


def interval_text(interval: Any) -> str:
    if not interval or interval[0] is None:
        return "–"
    return f"[{fmt(interval[0])}, {fmt(interval[1])}]"


def header(results: dict[str, Any]) -> str:
    model = results.get("model") or {}
    settings = results.get("settings", {})
    checks = [c for s in results.get("suites", []) for _, c in _all_checks(s)]
    failed = sum(1 for c in checks if c.get("passed") is not True)
    meta = [("model", f"{model.get('name', '–')} ({model.get('source', '')})"),
            ("fingerprint", model.get("fingerprint") or "–"),
            ("backend", model.get("backend", "–")), ("engine", model.get("engine") or "–"),
            ("device / dtype", f"{model.get('device', '–')} / {model.get('dtype', '–')}"),
            ("suites", ", ".join(f"{s['suite']} ({s['path']})" for s in results.get("suites", [])) or "–"),
            ("gate", settings.get("gate", "point")), ("limit", settings.get("limit") or "none"),
            ("baseline", settings.get("baseline") or "none"),
            ("plugin", f"{results['plugin']['name']} {results['plugin']['version']}")]
    rows = "".join(f"<dt>{esc(k)}</dt><dd data-field=\"{esc(k)}\">{esc(v)}</dd>" for k, v in meta)
    cls = "fail" if failed else "pass"
    summary = (f'<p class="summary {cls}" id="summary">'
               f'{esc(status_line(RunModel.from_json(results).summary(), settings.get("gate", "point"), settings.get("strict")))}'
               '</p>')
    return f'<header><h1>pytest-misalign report</h1><dl class="meta">{rows}</dl>{summary}</header>'


def _all_checks(suite: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(task, check) for every check of the suite: scored tasks', suite-level, and unscored tasks'."""
    return ([(t["task"], c) for t in suite.get("tasks", []) for c in t.get("checks", [])]
            + [("(suite)", c) for c in suite.get("checks", [])]
            + [(u["task"], c) for u in suite.get("unscored", []) for c in u.get("checks", [])])


RESULTS = {True: "pass", False: "fail", None: "not run"}


def check_row(task: str, check: dict[str, Any]) -> str:
    model = CheckModel.from_json(check)
    result = RESULTS[model.passed]
    notes = "; ".join(model.notes)
    cells = [_td(esc(task)), _td(esc(model.name)), _td(fmt(model.value), "num"),
             _td(esc(interval_text(model.interval)), "num"), _td(esc(requirement(check))),
             _td(esc(model.status_text), f"verdict-{esc(model.status).replace(' ', '-')}"),
             _td(result.upper(), result.replace(" ", "-")), _td(esc(notes), "notes")]
    return _row(cells, f' class="check" data-task="{esc(task)}" data-check="{esc(model.name)}"'
                       f' data-status="{esc(model.status)}" data-passed="{str(model.passed is True).lower()}"')


def _failing(check: dict[str, Any]) -> bool:
    return check.get("passed") is False


def checks_table(suite: dict[str, Any]) -> str:
    """Every check of the suite, the failing ones first."""
    checks = _all_checks(suite)
    rows = [check_row(task, c) for task, c in sorted(checks, key=lambda tc: not _failing(tc[1]))]
    headers = ["task", "check", "value", "interval", "threshold", "status", "result", "notes"]
    return _table(headers, rows, "checks")


def _items(task: dict[str, Any]) -> str:
    """Items scored; "scored/available" when the sequential gate stopped the task early."""
    scored = task.get("n_scored", task["n"])
    return str(task["n"]) if scored == task["n"] else f"{scored}/{task['n']}"


def tasks_table(suite: dict[str, Any]) -> str:
    rows = [_row([_td(esc(t["task"])), _td(_items(t), "num"), _td(str(t["correct"]), "num"),
                  _td(fmt(t.get("accuracy")), "num"), _td(esc(t.get("metric"))),
                  _td(esc((t.get("data") or {}).get("source")), "notes"),
                  _td("cached" if t.get("all_from_cache") else fmt(t.get("seconds"), 1), "num")],
                 f' class="task" data-task="{esc(t["task"])}"') for t in suite.get("tasks", [])]
    return _table(["task", "items", "correct", "accuracy", "metric", "data", "seconds"], rows, "tasks")


def group_table(task: str, check: dict[str, Any], rows: list[view.GroupRow]) -> str:
    body = [_row([_td(esc(r.group)), _td(str(r.n), "num"), _td(str(r.correct), "num"), _td(fmt(r.accuracy), "num"),
                  _td(f"[{fmt(r.lo)}, {fmt(r.hi)}]", "num")],
                 f' class="group-row" data-task="{esc(task)}" data-check="{esc(check["name"])}"'
                 f' data-group="{esc(r.group)}" data-n="{r.n}" data-correct="{r.correct}"'
                 f' data-lo="{r.lo:.6f}" data-hi="{r.hi:.6f}"') for r in rows]
    conf = "95% Wilson"
    return _table(["group", "n", "correct", "accuracy", conf], body, "groups")


def grouped_check(task: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    """One grouping of a task (the checks sharing a `by`): one forest plot of its groups, the checks'
    thresholds on it where they are group accuracies, and each paired gap's plot; collapsed unless a
    check on it failed."""
    by, names = checks[0]["by"], ", ".join(c["name"] for c in checks)
    rows = view.group_rows(task, checks[0])
    threshold, label = view.threshold_line(checks, rows)
    title = f"{task['task']} by {by}: group accuracy"
    parts = [f'<figure class="forest" data-by="{esc(by)}" data-check="{esc(names)}">'
             f'{plots.forest_plot(rows, threshold, label, title)}</figure>', group_table(task["task"], checks[0], rows)]
    for check in checks:
        paired = view.paired_rows(check)
        if paired:
            limits = [float(check["max"]), -float(check["max"])] if check.get("max") is not None else []
            svg = plots.interval_plot(paired, limits, f"±max {check['max']:g}" if limits else "",
                                      f"{task['task']} · {check['name']}: paired gaps", "difference in accuracy "
                                      "over counterfactual pairs (paired Newcombe interval)")
            parts.append(f'<figure class="paired" data-check="{esc(check["name"])}">{svg}</figure>')
            parts.append(paired_table(task["task"], check, paired))
    opened = " open" if any(_failing(c) for c in checks) else ""
    return (f'<details class="grouping"{opened}><summary>{esc(task["task"])} by {esc(by)} '
            f'<span class="notes">({esc(names)})</span></summary><div class="plots">{"".join(parts)}</div></details>')


def paired_table(task: str, check: dict[str, Any], rows: list[view.IntervalRow]) -> str:
    body = [_row([_td(esc(r.label)), _td(fmt(r.value), "num"), _td(f"[{fmt(r.lo)}, {fmt(r.hi)}]", "num"),
                  _td(esc(r.detail), "notes")],
                 f' class="pair-row" data-task="{esc(task)}" data-check="{esc(check["name"])}"'
                 f' data-label="{esc(r.label)}" data-value="{r.value:.6f}" data-lo="{r.lo:.6f}"'
                 f' data-hi="{r.hi:.6f}"') for r in rows]
    return _table(["groups", "difference", "interval", "pairs"], body, "pairs")


def unscored_table(suite: dict[str, Any]) -> str:
    """Tasks without results, with why (skipped: no model, data unavailable; or errored)."""
    rows = [_row([_td(esc(u["task"])), _td(esc(u["status"]), "fail" if u["status"] == "error" else "verdict-inconclusive"),
                  _td(esc(u["reason"]), "notes")], f' class="unscored" data-task="{esc(u["task"])}"')
            for u in suite.get("unscored", [])]
    return "<h4>Not scored</h4>" + _table(["task", "status", "reason"], rows, "unscored") if rows else ""


def suite_section(suite: dict[str, Any]) -> str:
    parts = [f'<section class="suite" data-suite="{esc(suite["suite"])}">',
             f'<h2>suite {esc(suite["suite"])} <span class="notes">{esc(suite["path"])} · sha256 '
             f'{esc((suite.get("sha256") or "")[:12])}</span></h2>',
             "<h3>Tasks</h3>", tasks_table(suite), unscored_table(suite), "<h3>Checks</h3>", checks_table(suite)]
    grouped = [(t, cs) for t in suite.get("tasks", []) for cs in view.groupings(t)]
    if grouped:
        parts.append("<h3>Groups</h3>")
        parts.extend(grouped_check(t, cs) for t, cs in grouped)
    parts.append(calibration_section(suite))
    parts.append("</section>")
    return "".join(parts)


def baseline_section(results: dict[str, Any]) -> str:
    regressions = view.baseline_rows(results)
    if not regressions:
        return ""
    rows = [view.IntervalRow(label, float(c["value"]), float(c["interval"][0]), float(c["interval"][1]))
            for label, c in regressions]
    body = [_row([_td(esc(label)), _td(fmt(c.get("baseline_accuracy")), "num"),
                  _td(fmt(c.get("candidate_accuracy")), "num"), _td(fmt(c.get("value")), "num"),
                  _td(esc(interval_text(c.get("interval"))), "num"), _td(esc(requirement(c))),
                  _td(str(c.get("fixed", "–")), "num"), _td(str(c.get("broken", "–")), "num"),
                  _td("PASS" if c.get("passed") else "FAIL", "pass" if c.get("passed") else "fail")],
                 f' class="baseline-row" data-task="{esc(label)}" data-value="{c["value"]}"')
            for label, c in regressions]
    limit = regressions[0][1].get("max")
    svg = plots.interval_plot(rows, [float(limit)] if limit is not None else [], f"max drop {limit:g}"
                              if limit is not None else "", "accuracy drop against the baseline",
                              "baseline − candidate accuracy on common items (paired Newcombe interval)")
    table = _table(["task", "baseline", "candidate", "drop", "interval", "threshold", "fixed", "broken",
                    "result"], body, "baseline")
    model = regressions[0][1].get("baseline_model") or results["settings"].get("baseline")
    return (f'<section id="baseline"><h2>Against the baseline <span class="notes">{esc(model)}</span></h2>'
            f'<div class="plots"><figure class="baseline">{svg}</figure></div>{table}</section>')


def failures_section(results: dict[str, Any]) -> str:
    """What the page opens on: every failing check, across suites, with its numbers."""
    rows = [check_row(f"{s['suite']} / {task}", c) for s in results.get("suites", [])
            for task, c in _all_checks(s) if _failing(c)]
    if not rows:
        return '<section id="failures"><h2>No check failed</h2></section>'
    return (f'<section id="failures"><h2>Failed checks ({len(rows)})</h2>'
            + _table(["suite / task", "check", "value", "interval", "threshold", "status", "result", "notes"],
                     rows, "checks failures") + "</section>")


def render(results: dict[str, Any]) -> str:
    """The whole page: one self-contained HTML document; the failures first, then the suites (those
    with a failing check first), the item browser collapsed."""
    model = (results.get("model") or {}).get("name", "")
    suites = sorted(results.get("suites", []), key=lambda s: not any(_failing(c) for _, c in _all_checks(s)))
    body = [header(results), "<main>", failures_section(results), baseline_section(results)]
    body += [suite_section(s) for s in suites]
    body += ['<details id="items-browser"><summary>Items (browse and filter)</summary>', items_section(results),
             "</details>", "</main>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>pytest-misalign report · {esc(model)}</title><style>{CSS}</style></head>"
            f"<body>{''.join(body)}<script>{JS}</script></body></html>\n")
