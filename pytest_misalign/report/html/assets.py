"""The report's inline stylesheet and script (no external resources: the file works offline)."""

CSS = """
:root { --pass: #1a7f37; --fail: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 0; color: #1f2328; background: #f6f8fa; }
header, main > section { background: #fff; border: 1px solid var(--line); border-radius: 6px;
       margin: 12px 16px; padding: 12px 16px; }
h1 { font-size: 20px; margin: 0 0 8px; } h2 { font-size: 17px; margin: 4px 0 8px; }
h3 { font-size: 15px; margin: 14px 0 6px; } h4 { font-size: 13px; margin: 10px 0 4px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; font-family: ui-monospace, monospace; }
.summary { font-weight: 600; margin-top: 8px; }
table { border-collapse: collapse; margin: 4px 0 10px; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: var(--pass); font-weight: 600; } .fail { color: var(--fail); font-weight: 600; }
.verdict-inconclusive { color: var(--warn); }
.notes { color: var(--muted); font-size: 12px; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
table.items ol { margin: 0; padding-left: 1.8em; }
figure { margin: 0; } figure svg.plot { max-width: 100%; height: auto; }
.filters { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin-bottom: 8px; }
.filters label { color: var(--muted); font-size: 13px; }
.filters input[type=search] { min-width: 260px; padding: 3px 6px; }
#item-count { font-weight: 600; }
table.items td.prompt { max-width: 520px; white-space: pre-wrap; font-family: ui-monospace, monospace;
       font-size: 12px; }
table.items tr.wrong td.ok { color: var(--fail); } table.items tr.right td.ok { color: var(--pass); }
.scroll { max-height: 70vh; overflow: auto; }
"""

JS = r"""
(function () {
  "use strict";
  var rows = Array.prototype.slice.call(document.querySelectorAll("#items tbody tr"));
  var controls = {
    task: document.getElementById("filter-task"),
    group: document.getElementById("filter-group"),
    correct: document.getElementById("filter-correct"),
    flipped: document.getElementById("filter-flipped"),
    search: document.getElementById("filter-search")
  };
  var counter = document.getElementById("item-count");
  function matches(row, want) {
    var d = row.dataset;
    if (want.task && d.task !== want.task) { return false; }
    if (want.group && d.groups.split("\n").indexOf(want.group) < 0) { return false; }
    if (want.correct && d.correct !== want.correct) { return false; }
    if (want.flipped && d.flipped !== want.flipped) { return false; }
    if (want.search && row.textContent.toLowerCase().indexOf(want.search) < 0) { return false; }
    return true;
  }
  function apply() {
    var want = {
      task: controls.task.value, group: controls.group.value, correct: controls.correct.value,
      flipped: controls.flipped.value, search: controls.search.value.trim().toLowerCase()
    };
    var shown = 0;
    rows.forEach(function (row) {
      var ok = matches(row, want);
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    counter.textContent = shown + " of " + rows.length + " items";
  }
  Object.keys(controls).forEach(function (key) {
    controls[key].addEventListener("input", apply);
    controls[key].addEventListener("change", apply);
  });
  apply();
})();
"""
