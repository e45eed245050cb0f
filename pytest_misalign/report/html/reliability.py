"""Reliability diagrams for tasks with a `calibration` check (bins from the check's results record)."""

from __future__ import annotations

import html
from typing import Any

from . import plots


def calibration_checks(suite: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(t, c) for t in suite.get("tasks", []) for c in t.get("checks", [])
            if isinstance(c.get("bins"), list) and c["bins"]]  # a check with a reliability table (calibration)


def calibration_section(suite: dict[str, Any]) -> str:
    """`<h3>Calibration</h3>` and one reliability diagram with its bin table per calibration check."""
    found = calibration_checks(suite)
    if not found:
        return ""
    parts = ["<h3>Calibration</h3>"]
    for task, check in found:
        name, tname = html.escape(str(check["name"])), html.escape(str(task["task"]))
        svg = plots.reliability_diagram(check["bins"], f"{task['task']} · {check['name']}: reliability",
                                        check.get("ece"))
        rows = "".join(
            f'<tr class="calibration-bin" data-task="{tname}" data-check="{name}" data-lo="{b["lo"]:.6f}" '
            f'data-hi="{b["hi"]:.6f}" data-conf="{b["conf"]:.6f}" data-acc="{b["acc"]:.6f}" '
            f'data-count="{b["count"]}"><td>({b["lo"]:.2f}, {b["hi"]:.2f}]</td><td class="num">{b["count"]}</td>'
            f'<td class="num">{b["conf"]:.3f}</td><td class="num">{b["acc"]:.3f}</td></tr>' for b in check["bins"])
        brier = check.get("brier")
        summary = (f'<p class="notes">ECE {check.get("ece", float("nan")):.3f}'
                   + (f", Brier {brier:.3f}" if brier is not None else "") + "</p>")
        parts.append(f'<h4>{tname} · {name}</h4><div class="plots"><figure class="reliability" '
                     f'data-task="{tname}" data-check="{name}">{svg}</figure>{summary}<table class="calibration">'
                     "<tr><th>confidence bin</th><th>n</th><th>mean confidence</th><th>accuracy</th></tr>"
                     f"{rows}</table></div>")
    return "".join(parts)
