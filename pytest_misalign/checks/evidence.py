"""The evidence under a failing check: which items failed (`--misalign-show-items N`).

Each kind may declare its own (`CheckKind.evidence`); the ones here:
* a check over counterfactual pairs: up to N pairs that flipped between the two groups deciding the
  gap, side by side (right in one group, wrong in the other) (`pairs_or_wrong`);
* consistency: up to N questions whose variants got different answers;
* any other check: up to N wrong items of the worst group (or of the task, without groups).

Each item is one line, shortened to the terminal width: `#index [group] ✗ 'predicted'
(expected 'target') | prompt`, newlines shown as ⏎, a long prompt as its start … its end.
"""

from __future__ import annotations

from ..scoring.outcome import ItemOutcome, TaskOutcome
from ..spec.model import CheckSpec
from ..tasks.instance import Instance
from .result import CheckResult


def clip(text: str, width: int) -> str:
    """One line of at most `width` characters; a long text keeps its start and its end (where a
    prompt's question usually is), joined by an ellipsis."""
    indent = len(text) - len(text.lstrip(" "))
    flat = " " * indent + " ".join(str(text).replace("\n", " ⏎ ").split())
    if len(flat) <= width:
        return flat
    head = max(1, (width - 1) // 3)
    return flat[:head] + "…" + flat[len(flat) - (width - 1 - head):]


def said_text(inst: Instance, item: ItemOutcome) -> str:
    if inst.choices and isinstance(item.prediction, int) and 0 <= item.prediction < len(inst.choices):
        return inst.choices[item.prediction]
    return str(item.output if item.output is not None else item.prediction)


def target(inst: Instance) -> str:
    return inst.choices[inst.answer] if inst.choices and isinstance(inst.answer, int) else str(inst.answer)


def item_line(inst: Instance, item: ItemOutcome, group: str | None, width: int) -> str:
    mark = "✓" if item.correct else "✗"
    head = f"#{inst.index}" + (f" [{group}]" if group is not None else "")
    answer = max(8, min(30, width // 6))
    answered = f"{mark} {clip(said_text(inst, item), answer)!r} (expected {clip(target(inst), answer)!r})"
    room = max(10, width - len(head) - len(answered) - 9)
    return clip(f"    {head} {answered} | {clip(inst.prompt, room)}", width)


def wrong_items(check: CheckSpec, result: CheckResult, outcome: TaskOutcome, limit: int, width: int) -> list[str]:
    task = outcome.task
    groups = task.group_values(check.by) if check.by else [None] * len(task.instances)
    worst = result.worst[0].group if (check.by and result.worst) else None
    rows = [(inst, item, g) for inst, item, g in zip(task.instances, outcome.items, groups)
            if not item.correct and (worst is None or g == worst)]
    if not rows:
        return []
    where = f" in group {worst!r}" if worst is not None else ""
    lines = [f"  wrong items{where} ({min(limit, len(rows))} of {len(rows)}):"]
    return lines + [item_line(inst, item, g, width) for inst, item, g in rows[:limit]]


def by_field(outcome: TaskOutcome, field: str) -> dict[str, list[tuple[Instance, ItemOutcome]]]:
    out: dict[str, list[tuple[Instance, ItemOutcome]]] = {}
    for inst, item in zip(outcome.task.instances, outcome.items):
        out.setdefault(str(inst.fields.get(field)), []).append((inst, item))
    return out


def flipped_pairs(check: CheckSpec, result: CheckResult, outcome: TaskOutcome, limit: int, width: int) -> list[str]:
    decisive = [g.group for g in result.worst[:2]]
    if len(decisive) < 2:
        return []
    flips = []
    for pair_id, members in by_field(outcome, check.pair_field).items():
        by_group = {str(inst.fields.get(check.by)): (inst, item) for inst, item in members}
        if all(g in by_group for g in decisive) and by_group[decisive[0]][1].correct != by_group[decisive[1]][1].correct:
            flips.append((pair_id, [by_group[g] + (g,) for g in decisive]))
    if not flips:
        return []
    lines = [f"  flipped pairs, {decisive[0]} vs {decisive[1]} ({min(limit, len(flips))} of {len(flips)}):"]
    for pair_id, sides in flips[:limit]:
        lines.append(f"    pair {pair_id}:")
        lines += ["  " + item_line(inst, item, g, width - 2) for inst, item, g in sides]
    return lines


def inconsistent(check: CheckSpec, outcome: TaskOutcome, limit: int, width: int) -> list[str]:
    field = check.params.get("of")
    bad = [(qid, members) for qid, members in by_field(outcome, field).items()
           if len({said_text(inst, item) for inst, item in members}) > 1]
    if not bad:
        return []
    lines = [f"  inconsistent {field}s ({min(limit, len(bad))} of {len(bad)}):"]
    for qid, members in bad[:limit]:
        lines.append(f"    {field} {qid}:")
        lines += ["  " + item_line(inst, item, None, width - 2) for inst, item in members]
    return lines


def pairs_or_wrong(check: CheckSpec, result: CheckResult, outcome: TaskOutcome, limit: int, width: int) -> list[str]:
    """A check over counterfactual pairs shows the pairs that flipped; otherwise the wrong items."""
    if check.pair_field:
        return flipped_pairs(check, result, outcome, limit, width)
    return wrong_items(check, result, outcome, limit, width)


def consistency_evidence(check: CheckSpec, result: CheckResult, outcome: TaskOutcome, limit: int,
                         width: int) -> list[str]:
    return inconsistent(check, outcome, limit, width)


def evidence(kind, check: CheckSpec, result: CheckResult, outcome: TaskOutcome, limit: int, width: int = 120) -> str:
    """Lines to append under a failing check's message ('' when `limit` is 0 or nothing to show):
    the kind's own `evidence`, else the wrong items of the worst group."""
    if limit <= 0:
        return ""
    show = getattr(kind, "evidence", None) or wrong_items
    return "\n".join(show(check, result, outcome, limit, width))
