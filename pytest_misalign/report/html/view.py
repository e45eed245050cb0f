"""What the HTML report shows, read off the run model's JSON form (`RunModel.to_json`) alone, so the
report and the results file can never disagree; nothing here computes a statistic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any



@dataclass(frozen=True)
class GroupRow:
    """One group of a grouped check: accuracy and its Wilson interval at the check's confidence."""

    group: str
    n: int
    correct: int
    accuracy: float
    lo: float
    hi: float


@dataclass(frozen=True)
class IntervalRow:
    """A difference with its interval: a paired gap between two groups, or a baseline drop."""

    label: str
    value: float
    lo: float
    hi: float
    detail: str = ""


def group_rows(task: dict[str, Any], check: dict[str, Any]) -> list[GroupRow]:
    """The groups a check compares, from the task's group table (each with its Wilson 95% interval)."""
    table = task.get("groups", {}).get(check.get("by") or "", {})
    rows = []
    for group, cell in table.items():
        n, correct = int(cell["n"]), int(cell["correct"])
        lo, hi = cell["interval"]
        rows.append(GroupRow(str(group), n, correct, correct / n if n else float("nan"), lo, hi))
    return rows


def threshold_line(checks: list[dict[str, Any]], rows: list[GroupRow]) -> tuple[float | None, str]:
    """Where a grouping's forest plot (group accuracies) draws a threshold: the floor of its
    `group_accuracy`, else for a `gap` the best group's accuracy minus the largest allowed gap. Other
    checks' thresholds (consistency, calibration...) are not accuracies: not drawn."""
    for check in checks:
        if check.get("check") == "group_accuracy" and check.get("min") is not None:
            return float(check["min"]), f"min {check['min']:g}"
    for check in checks:
        if check.get("check") == "gap" and check.get("max") is not None and rows:
            best = max(r.accuracy for r in rows)
            return best - float(check["max"]), f"best − max gap {check['max']:g}"
    return None, ""


def paired_rows(check: dict[str, Any]) -> list[IntervalRow]:
    """Per pair of groups: acc(g1) − acc(g2) over complete counterfactual pairs, with the paired
    Newcombe interval the check computed (`checks.paired_tables` + `stats.paired_difference_interval`)."""
    rows = []
    for t in check.get("tables") or []:
        g1, g2 = t["groups"]
        detail = (f"{t['both_right'] + t['only_first'] + t['only_second'] + t['both_wrong']} pairs; "
                  f"only {g1} right {t['only_first']}, only {g2} right {t['only_second']}; "
                  f"McNemar p (Holm) {t['mcnemar_p_holm']:.3g}")
        rows.append(IntervalRow(f"{g1} − {g2}", float(t["difference"]), float(t["interval"][0]),
                                float(t["interval"][1]), detail))
    return rows


def grouped_checks(task: dict[str, Any]) -> list[dict[str, Any]]:
    """The task's checks that compare groups present in its group table."""
    if task.get("metric") == "perplexity":  # its groups have perplexities, not accuracies
        return []
    return [c for c in task.get("checks", []) if c.get("by") and c["by"] in task.get("groups", {})]


def groupings(task: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The task's grouped checks, one list per grouping field (`by`): one plot each."""
    by: dict[str, list[dict[str, Any]]] = {}
    for check in grouped_checks(task):
        by.setdefault(check["by"], []).append(check)
    return list(by.values())


def baseline_rows(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(suite / task [/ group field], regression check) for every regression check in the run: the
    task's overall drop, then its worst group's drop per `by` field."""
    out = []
    for suite in results.get("suites", []):
        for task in suite.get("tasks", []):
            for check in task.get("checks", []):
                if check.get("check") == "regression" and check.get("value") is not None:
                    by = f" / by {check['by']}" if check.get("by") else ""
                    out.append((f"{suite['suite']} / {task['task']}{by}", check))
    return out


def flipped(item: dict[str, Any], by_index: dict[int, dict[str, Any]]) -> bool | None:
    """For a paired item: does any partner's correctness differ from its own? None when unpaired."""
    partners = [i for p in item.get("pairs") or [] for i in p.get("partners", [])]
    if not item.get("pairs"):
        return None
    return any(bool(by_index[i]["correct"]) != bool(item["correct"]) for i in partners if i in by_index)


def group_labels(item: dict[str, Any], group_fields: list[str]) -> list[str]:
    fields = item.get("fields") or {}
    return [f"{f}={fields[f]}" for f in group_fields if f in fields]


@dataclass(frozen=True)
class ItemRow:
    suite: str
    task: str
    item: dict[str, Any]
    groups: list[str]
    flipped: bool | None


def item_rows(results: dict[str, Any]) -> list[ItemRow]:
    """Every item of every task, with its group labels (`field=value` for the fields its checks group
    by) and whether it flipped against its counterfactual partners."""
    rows = []
    for suite in results.get("suites", []):
        for task in suite.get("tasks", []):
            items = task.get("items") or []
            by_index = {it["index"]: it for it in items}
            group_fields = list(task.get("groups", {}))
            for item in items:
                rows.append(ItemRow(suite["suite"], task["task"], item, group_labels(item, group_fields),
                                    flipped(item, by_index)))
    return rows
