"""Rendering of a run comparison (`compare.compare_runs`): terminal tables or GitHub markdown."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

DELTA_HEADERS = ["suite", "task", "group", "shared n", "old", "new", "delta", "95% paired interval",
                 "McNemar p", "status"]


def _f(x: float | None, fmt: str = ".3f") -> str:
    return "-" if x is None else format(x, fmt)


def _interval(row: dict[str, Any]) -> str:
    if row.get("interval") is None:
        return "- (unpaired)" if row.get("paired") is False else "-"
    lo, hi = row["interval"]
    return f"[{lo:+.3f}, {hi:+.3f}]"


def _delta_row(task: dict, label: str, row: dict) -> list[str]:
    return [task["suite"], task["task"], label, str(row["n"]), _f(row["old_accuracy"]), _f(row["new_accuracy"]),
            _f(row["delta"], "+.3f"), _interval(row), _f(row.get("mcnemar_p"), ".3g"),
            "REGRESSED" if row.get("regressed") else "INCONCLUSIVE" if not row["n"] else ""]


def delta_rows(result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for task in result["tasks"]:
        rows.append(_delta_row(task, "(all)", task))
        rows.extend(_delta_row(task, f"{g['by']}={g['group']}", g) for g in task["groups"])
    return rows


def _pred(x: Any, text: Any = None) -> str:
    """A choice index with its text when the results file records it: `1 (Tokyo)`."""
    shown = "-" if x is None else str(x)
    if text is not None and str(text) != shown:
        text = " ".join(str(text).split())
        shown += f" ({text[:40]}{'...' if len(text) > 40 else ''})"
    return shown


def _prompt(text: Any, room: int = 48) -> str:
    """What was asked, on one line: its end, where the question usually is."""
    if not text:
        return "-"
    flat = " ".join(str(text).split())
    return flat if len(flat) <= room else "…" + flat[-(room - 1):]


def flip_rows(result: dict[str, Any], direction: str, limit: int) -> tuple[list[list[str]], int]:
    rows, hidden = [], 0
    for task in result["tasks"]:
        flips = task[direction]
        for f in flips[:limit]:
            rows.append([task["suite"], task["task"], str(f["index"]), _prompt(f.get("prompt")),
                         _pred(f["answer"], f.get("target")),
                         _pred(f["old_prediction"], f.get("old_predicted")),
                         _pred(f["new_prediction"], f.get("new_predicted"))])
        hidden += max(0, len(flips) - limit)
    return rows, hidden


def check_rows(result: dict[str, Any]) -> list[list[str]]:
    def passed(x: Any) -> str:
        return "-" if x is None else ("PASS" if x else "FAIL")

    rows = []
    for task in result["tasks"]:
        for c in task["checks_changed"]:
            rows.append([task["suite"], task["task"], c["check"], _f(c["old_value"]), _f(c["new_value"]),
                         f"{c['old_verdict']} {passed(c['old_passed'])}",
                         f"{c['new_verdict']} {passed(c['new_passed'])}"])
    for c in result["suite_checks_changed"]:
        rows.append([c["suite"], "(across tasks)", c["check"], _f(c["old_value"]), _f(c["new_value"]),
                     f"{c['old_verdict']} {passed(c['old_passed'])}",
                     f"{c['new_verdict']} {passed(c['new_passed'])}"])
    return rows


def _ranges(indices: list[int]) -> str:
    shown = ", ".join(str(i) for i in indices[:12])
    return shown + (f", ... ({len(indices)} in all)" if len(indices) > 12 else "")


def unmatched_lines(result: dict[str, Any]) -> list[str]:
    lines = [f"task only in old: {t['suite']}/{t['task']}" for t in result["tasks_only_old"]]
    lines += [f"task only in new: {t['suite']}/{t['task']}" for t in result["tasks_only_new"]]
    for task in result["tasks"]:
        name = f"{task['suite']}/{task['task']}"
        if task.get("match_summary") and (task["items_key_changed"] or task["items_only_old"]
                                          or task["items_only_new"]):
            lines.append(f"{name}: {task['match_summary']}")
        if task["items_key_changed"]:
            lines.append(f"{name}: {len(task['items_key_changed'])} items changed (prompt, choices or answer "
                         f"differ; not compared): index {_ranges(task['items_key_changed'])}")
        for side in ("old", "new"):
            only = task[f"items_only_{side}"]
            if only:
                lines.append(f"{name}: {len(only)} items only in {side} (not compared): index {_ranges(only)}")
        if task["groups_unpaired"]:
            lines.append(f"{name}: items carry no group labels for {', '.join(task['groups_unpaired'])}: group "
                         "rows come from the stored group tables (shown only when every item is shared), "
                         "without paired interval or McNemar p")
    return lines


def render(result: dict[str, Any], markdown: bool = False, limit: int = 20) -> str:
    """The comparison as text: deltas, flipped items, changed checks, unmatched tasks/items, verdict."""
    fmt = "github" if markdown else "simple"

    def table(rows, headers):
        return tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)

    def heading(text):
        return f"### {text}" if markdown else f"{text}:"

    old, new = result["old"], result["new"]
    parts = [("## " if markdown else "") + "pytest-misalign compare"]
    parts.append("\n".join(f"{side}: {r['path']} (model {r['model']}, {r['provenance'].get('dtype') or '-'}, backend "
                           f"{r['backend']}, fingerprint {(r['fingerprint'] or '-')[:16]})" + ("  " if markdown else "")
                           for side, r in (("old", old), ("new", new))))
    diffs = result.get("provenance_differences") or []
    parts.append(heading("how the runs differ") + "\n" + ("\n".join(
        f"  {d['key']}: {d['old']} -> {d['new']}" for d in diffs) if diffs else "  nothing recorded differs "
                                                                             "(same model, weights, dtype and engine)"))
    parts.append(heading("accuracy on shared items (delta = new - old)") + "\n"
                 + table(delta_rows(result), DELTA_HEADERS))
    if result.get("perplexity_tasks"):
        parts.append(heading("perplexity tasks (word perplexity, lower is better)") + "\n" + table(
            [[p["suite"], p["task"], _f(p["old_word_perplexity"], ".2f"), _f(p["new_word_perplexity"], ".2f")]
             for p in result["perplexity_tasks"]], ["suite", "task", "old", "new"]))
    for direction, title in (("right_to_wrong", "right -> wrong"), ("wrong_to_right", "wrong -> right")):
        rows, hidden = flip_rows(result, direction, limit)
        if rows:
            more = f"\n... and {hidden} more (see --json)" if hidden else ""
            parts.append(heading(f"{title} ({sum(len(t[direction]) for t in result['tasks'])} items)") + "\n"
                         + table(rows, ["suite", "task", "index", "prompt", "answer", "old prediction",
                                        "new prediction"]) + more)
    checks = check_rows(result)
    if checks:
        parts.append(heading("checks whose verdict changed") + "\n"
                     + table(checks, ["suite", "task", "check", "old value", "new value", "old", "new"]))
    unmatched = unmatched_lines(result)
    if unmatched:
        parts.append(heading("not compared") + "\n" + "\n".join(("- " if markdown else "  ") + u for u in unmatched))
    if result.get("inconclusive"):
        strict = " (--strict: exit 1)" if result.get("strict") else ""
        parts.append(heading(f"INCONCLUSIVE: no shared items{strict}") + "\n"
                     + "\n".join(("- " if markdown else "  ") + r for r in result["inconclusive"]))
    parts += _verdict_parts(result, markdown, heading)
    return "\n\n".join(parts) + "\n"


def _verdict_parts(result: dict[str, Any], markdown: bool, heading) -> list[str]:
    """Possible regressions, regressions (or that there are none)."""
    parts = []
    bullet = "- " if markdown else "  "
    if result.get("possible_regressions"):
        parts.append(heading(f"possible regressions: a point drop beyond {result['max_drop']:g} that the paired "
                             f"interval does not confirm (not failing; --rule point would)") + "\n"
                     + "\n".join(bullet + r for r in result["possible_regressions"]))
    if result["regressions"]:
        how = "" if result.get("rule") == "point" else " (confirmed by the paired 95% interval)"
        parts.append(heading(f"REGRESSED beyond max drop {result['max_drop']:g}{how}") + "\n"
                     + "\n".join(bullet + r for r in result["regressions"]))
    else:
        parts.append(f"no confirmed accuracy drop beyond {result['max_drop']:g} on the shared items"
                     if result.get("rule") != "point" else
                     f"no accuracy dropped by more than {result['max_drop']:g} on the shared items")
    return parts
