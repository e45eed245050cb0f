"""The item browser: every item of the run in one table, with filters (task, group, right/wrong,
flipped) and a search box, driven by the inline script in `assets.JS`."""

from __future__ import annotations

import html
from typing import Any

from . import view


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _options(values: list[str], everything: str) -> str:
    return f'<option value="">{esc(everything)}</option>' + "".join(
        f'<option value="{esc(v)}">{esc(v)}</option>' for v in values)


def _select(ident: str, label: str, options: str) -> str:
    return f'<label for="{ident}">{esc(label)}</label> <select id="{ident}">{options}</select>'


def filters(rows: list[view.ItemRow]) -> str:
    tasks = list(dict.fromkeys(_task_label(r) for r in rows))
    groups = sorted({g for r in rows for g in r.groups})
    correct = '<option value="">right and wrong</option><option value="right">right</option>' \
              '<option value="wrong">wrong</option>'
    flipped = '<option value="">all items</option><option value="yes">flipped pairs</option>' \
              '<option value="no">not flipped</option><option value="unpaired">unpaired</option>'
    return ('<div class="filters">'
            + _select("filter-task", "task", _options(tasks, "all tasks"))
            + _select("filter-group", "group", _options(groups, "all groups"))
            + _select("filter-correct", "result", correct)
            + _select("filter-flipped", "flipped", flipped)
            + '<label for="filter-search">search</label> '
              '<input type="search" id="filter-search" placeholder="prompt, choice, answer…">'
            + '<span id="item-count"></span></div>')


def _task_label(row: view.ItemRow) -> str:
    return f"{row.suite} / {row.task}"


def _flip_value(row: view.ItemRow) -> str:
    return "unpaired" if row.flipped is None else ("yes" if row.flipped else "no")


def _choices(item: dict[str, Any]) -> str:
    choices = item.get("choices")
    if not choices:
        return ""
    return "<ol start=\"0\">" + "".join(f"<li>{esc(c)}</li>" for c in choices) + "</ol>"


def _predicted(item: dict[str, Any]) -> str:
    if "predicted" in item:
        return esc(item["predicted"])
    if "output" in item:
        return esc(item["output"])
    return esc(item.get("prediction"))


def item_row(row: view.ItemRow) -> str:
    item = row.item
    right = "right" if item.get("correct") else "wrong"
    flip = _flip_value(row)
    attrs = (f' class="item {right}" data-task="{esc(_task_label(row))}" data-index="{item["index"]}"'
             f' data-groups="{esc(chr(10).join(row.groups))}" data-correct="{right}" data-flipped="{flip}"')
    pair = "; ".join(f"{p['field']}={p['id']} with #{', #'.join(map(str, p['partners']))}"
                     for p in item.get("pairs") or [])
    cells = [esc(row.task), str(item["index"]), esc(", ".join(row.groups)),
             esc(item.get("prompt")), _choices(item), esc(item.get("target")), _predicted(item),
             "✔ right" if item.get("correct") else "✘ wrong",
             {"yes": "flipped", "no": "same", "unpaired": ""}[flip] + (f" ({esc(pair)})" if pair else "")]
    classes = ["", "num", "", "prompt", "", "", "", "ok", "notes"]
    return f"<tr{attrs}>" + "".join(f'<td class="{c}">{t}</td>' if c else f"<td>{t}</td>"
                                     for c, t in zip(classes, cells)) + "</tr>"


def items_section(results: dict[str, Any]) -> str:
    rows = view.item_rows(results)
    headers = ["task", "#", "groups", "prompt", "choices", "target", "predicted", "correct", "flipped"]
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(item_row(r) for r in rows)
    wrong = sum(1 for r in rows if not r.item.get("correct"))
    return (f'<section id="item-browser"><h2>Items <span class="notes">{len(rows)} items, {wrong} wrong'
            f'</span></h2>{filters(rows)}<div class="scroll"><table class="items" id="items"><thead><tr>'
            f'{head}</tr></thead><tbody>{body}</tbody></table></div></section>')
