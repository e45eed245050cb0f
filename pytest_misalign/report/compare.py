"""Compare two results files (`--misalign-json`): `pytest-misalign compare OLD.json NEW.json`.

Tasks are matched by (suite, task) and items by `baseline.match_items`, the rule the plugin's regression
tests use: same `index` and same item `key` (a hash of the rendered prompt, choices and answer). An
item whose key changed was re-rendered from different data or a different prompt: it is dropped and
counted ("1 item changed since the old run (prompt, choices or answer) ...: compared on 5 shared
items"), never compared. On the shared items each task (and each group of its grouped checks, when the
items carry their `fields`) gets old/new accuracy, the paired difference new - old with Newcombe's
paired 95% interval, and McNemar's exact p. A task with no shared item is inconclusive: listed, and
with `--strict` it makes the exit code 1.

A regression (exit 1) is a drop beyond `--max-drop` that the paired interval confirms (its upper end
below -max_drop: `rule="confident"`, the default); a point drop beyond it whose interval does not
confirm it is listed as a possible regression and exits 0. `rule="point"` flags every point drop
beyond max_drop. Perplexity tasks have no accuracy: their word perplexity is compared instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import stats
from ..baseline import match as baseline
from ..baseline.match import BaselineError, ItemMatch, ResultsFileError, baseline_from_data, read_results_file
from ..errors import MisalignError
from .model import SCHEMA_VERSION, CheckModel, RunModel, TaskModel

CONFIDENCE = 0.95
_EPS = 1e-9  # a drop of exactly --max-drop is not a regression (floating point slack)


class CompareError(MisalignError):
    """A results file is unusable, or the two files have nothing to compare (exit code 2)."""


@dataclass
class RunFile:
    path: Path
    run: RunModel  # the file read back into the run model
    tasks: dict[tuple[str, str], TaskModel]  # by (suite, task)
    items: dict[tuple[str, str], dict[int, dict[str, Any]]]  # by (suite, task): items by index
    suite_checks: dict[str, list[CheckModel]] = field(default_factory=dict)  # by suite name


def _fail(path: Path, problem: str, fix: str) -> CompareError:
    return CompareError(f"{path}: {problem}\n  fix: {fix}")


def load_run(path: str | Path) -> RunFile:
    """Read and validate one results file; every problem names the file and the fix."""
    path = Path(path)
    fix = "pass a results file written by `pytest --misalign-json=PATH`"
    try:
        data = read_results_file(path)
    except ResultsFileError as exc:
        raise _fail(path, {"missing": "no such file", "directory": "is a directory, not a results file",
                           "unreadable": f"cannot be read ({exc.detail})", "json": f"is not JSON ({exc.detail})",
                           "incomplete": f"is from a run that did not finish ({exc.detail})"}.get(
            exc.kind, "is not a pytest-misalign results file (no 'schema' and 'suites')"), fix) from None
    if "schema" not in data:
        raise _fail(path, "is not a pytest-misalign results file (no 'schema' and 'suites')", fix)
    if data["schema"] != SCHEMA_VERSION:
        raise _fail(path, f"has results schema {data['schema']!r}; this pytest-misalign reads schema "
                          f"{SCHEMA_VERSION}", "re-run the suite with this version of pytest-misalign "
                          "(or compare with the version that wrote the file)")
    try:
        items = {key: dict(task.items) for key, task in baseline_from_data(path, data).tasks.items()}
        run = RunModel.from_json(data)
        tasks = {(s.suite, t.task): t for s in run.suites for t in s.tasks}
        suite_checks = {s.suite: list(s.checks) for s in run.suites}
    except BaselineError as exc:
        raise _fail(path, f"malformed results file ({str(exc).splitlines()[0]})", fix) from None
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise _fail(path, f"malformed results file ({exc!r})", fix) from None
    return RunFile(path, run, tasks, items, suite_checks)


def paired_stats(pairs: list[tuple[bool, bool]]) -> dict[str, Any]:
    """(old correct, new correct) per shared item -> accuracies, delta new - old, interval, McNemar p."""
    n = len(pairs)
    both = sum(o and w for o, w in pairs)
    fixed = sum(w and not o for o, w in pairs)
    broken = sum(o and not w for o, w in pairs)
    if n == 0:
        return {"n": 0, "old_accuracy": None, "new_accuracy": None, "delta": None, "interval": None,
                "mcnemar_p": None, "both_right": 0, "fixed": 0, "broken": 0, "both_wrong": 0}
    lo, hi = stats.paired_difference_interval(fixed, broken, n, CONFIDENCE, a=both)
    return {"n": n, "old_accuracy": (both + broken) / n, "new_accuracy": (both + fixed) / n,
            "delta": (fixed - broken) / n, "interval": [lo, hi],
            "mcnemar_p": stats.mcnemar_pvalue(fixed, broken), "both_right": both, "fixed": fixed,
            "broken": broken, "both_wrong": n - both - fixed - broken}


def match_items(old: dict[int, dict], new: dict[int, dict]) -> ItemMatch:
    """The baseline's matching rule (`baseline.match_items`): same index and same key are shared;
    a changed key or an item in one run only is dropped and counted. A missing key is not a change."""
    return baseline.match_items(old, new, old_name="the old run", new_name="the new run")


def _item_label(item: dict[str, Any], by: str) -> str | None:
    """The item's group under `by` when the file records it (item['groups'][by] or item['fields'][by])."""
    for holder in ("groups", "fields"):
        value = (item.get(holder) or {}).get(by) if isinstance(item.get(holder), dict) else None
        if value is not None:
            return str(value)
    return None


def _group_fields(old_task: TaskModel, new_task: TaskModel) -> list[str]:
    fields = [c.by for t in (old_task, new_task) for c in t.checks if c.by]
    fields += [by for t in (old_task, new_task) for by in t.groups]
    return list(dict.fromkeys(fields))


def _groups_paired(old_items, new_items, shared, by) -> list[dict[str, Any]] | None:
    """Paired stats per group of `by`, or None when the items carry no group labels."""
    pairs: dict[str, list[tuple[bool, bool]]] = {}
    for i in shared:
        label = _item_label(new_items[i], by) or _item_label(old_items[i], by)
        if label is None:
            return None
        pairs.setdefault(label, []).append((bool(old_items[i]["correct"]), bool(new_items[i]["correct"])))
    return [{"by": by, "group": g, "paired": True, **paired_stats(p)} for g, p in sorted(pairs.items())]


def _groups_from_tables(old_task, new_task, by) -> list[dict[str, Any]]:
    """Without item labels: the stored group tables (valid on the shared items only when every item is
    shared); no paired interval or McNemar p can be computed from them."""
    old_g, new_g = old_task.groups.get(by, {}), new_task.groups.get(by, {})
    rows = []
    for g in sorted(set(old_g) & set(new_g)):
        o, w = old_g[g], new_g[g]
        if o.get("n") != w.get("n") or not o.get("n"):
            continue
        rows.append({"by": by, "group": g, "paired": False, "n": o["n"], "old_accuracy": o["correct"] / o["n"],
                     "new_accuracy": w["correct"] / w["n"], "delta": (w["correct"] - o["correct"]) / o["n"],
                     "interval": None, "mcnemar_p": None})
    return rows


def _flips(old_items, new_items, shared) -> tuple[list[dict], list[dict]]:
    broken, fixed = [], []
    for i in shared:
        o, w = old_items[i], new_items[i]
        if bool(o["correct"]) != bool(w["correct"]):
            row = {"index": i, "answer": w.get("answer"), "old_prediction": o.get("prediction"),
                   "new_prediction": w.get("prediction"), "prompt": w.get("prompt") or o.get("prompt")}
            row.update({k: v for k, v in (("target", w.get("target")), ("old_predicted", o.get("predicted")),
                                          ("new_predicted", w.get("predicted"))) if v is not None})
            (fixed if w["correct"] else broken).append(row)
    return broken, fixed


def checks_changed(old_checks: list[CheckModel], new_checks: list[CheckModel]) -> list[dict[str, Any]]:
    """Checks (matched by name) whose status or pass/fail differs between the runs."""
    new_by = {c.name or c.kind: c for c in new_checks}
    rows = []
    for c in old_checks:
        w = new_by.get(c.name or c.kind)
        if w is not None and (c.status_text != w.status_text or c.passed != w.passed):
            rows.append({"check": c.name or c.kind, "old_value": c.value, "new_value": w.value,
                         "old_verdict": c.status_text, "new_verdict": w.status_text,
                         "old_passed": c.passed, "new_passed": w.passed})
    return rows


def compare_task(key: tuple[str, str], old: RunFile, new: RunFile) -> dict[str, Any]:
    old_items, new_items = old.items[key], new.items[key]
    old_task, new_task = old.tasks[key], new.tasks[key]
    match = match_items(old_items, new_items)
    shared, changed, only_old, only_new = (list(x) for x in (match.shared, match.changed, match.only_old,
                                                                match.only_new))
    overall = paired_stats([(bool(old_items[i]["correct"]), bool(new_items[i]["correct"])) for i in shared])
    groups, unpaired = [], []
    for by in _group_fields(old_task, new_task):
        rows = _groups_paired(old_items, new_items, shared, by)
        if rows is None:
            unpaired.append(by)
            whole = not (changed or only_old or only_new)
            rows = _groups_from_tables(old_task, new_task, by) if whole else []
        groups.extend(rows)
    broken, fixed = _flips(old_items, new_items, shared)
    return {"suite": key[0], "task": key[1], **overall, "groups": groups, "groups_unpaired": unpaired,
            "right_to_wrong": broken, "wrong_to_right": fixed,
            "checks_changed": checks_changed(old_task.checks, new_task.checks),
            "items_key_changed": changed, "items_only_old": only_old, "items_only_new": only_new,
            "match_summary": match.summary(), "inconclusive": not shared}


PROVENANCE = ("name", "source", "fingerprint", "backend", "device", "dtype", "engine", "revision",
              "tokenizer_fingerprint")


def _model(run: RunFile) -> dict[str, Any]:
    model = run.run.model or {}
    extra = model.get("extra") or {}
    return {"path": str(run.path), "model": model.get("name"), "fingerprint": model.get("fingerprint"),
            "backend": model.get("backend"), "provenance": {
                **{k: model.get(k) for k in PROVENANCE},
                **{f"extra.{k}": v for k, v in extra.items() if isinstance(v, (str, int, float, bool)) or v is None},
                "gate": (run.run.settings or {}).get("gate"),
                "num_fewshot": (run.run.settings or {}).get("num_fewshot")}}


def provenance_differences(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Every provenance key whose value differs between the runs (dtype, backend, engine args...)."""
    a, b = old["provenance"], new["provenance"]
    return [{"key": k, "old": a.get(k), "new": b.get(k)} for k in dict.fromkeys([*a, *b])
            if a.get(k) != b.get(k) and k != "extra.load_path"]


def regressions(tasks: list[dict[str, Any]], max_drop: float, rule: str = "confident") -> tuple[list[str], list[str]]:
    """(regressions, possible regressions) on the shared items. A point drop beyond max_drop is a
    regression under `rule="point"`; under "confident" only when the paired interval's upper end is
    below -max_drop too, else a possible regression (listed, exit 0)."""
    found, possible = [], []
    for t in tasks:
        rows = [(f"{t['suite']}/{t['task']}", t)] + [
            (f"{t['suite']}/{t['task']} {g['by']}={g['group']}", g) for g in t["groups"]]
        for label, row in rows:
            dropped = row["delta"] is not None and -row["delta"] > max_drop + _EPS
            sure = dropped and (rule == "point" or (row.get("interval") is not None
                                                    and row["interval"][1] < -max_drop - _EPS))
            row["regressed"], row["possible_regression"] = sure, dropped and not sure
            if dropped:
                ci = f", paired 95% interval [{row['interval'][0]:+.3f}, {row['interval'][1]:+.3f}]" \
                    if row.get("interval") else ""
                p = f", McNemar p = {row['mcnemar_p']:.2g}" if row.get("mcnemar_p") is not None else ""
                (found if sure else possible).append(
                    f"{label}: accuracy {row['old_accuracy']:.3f} -> {row['new_accuracy']:.3f} ({row['delta']:+.3f} "
                    f"on {row['n']} shared items{ci}{p}; max drop {max_drop:g})")
    return found, possible


def _perplexity_row(key: tuple[str, str], old: RunFile, new: RunFile) -> dict[str, Any]:
    """A perplexity task has no accuracy to compare: its word perplexity old and new."""
    o, w = old.tasks[key], new.tasks[key]
    return {"suite": key[0], "task": key[1], "old_word_perplexity": o.extra.get("word_perplexity"),
            "new_word_perplexity": w.extra.get("word_perplexity"),
            "checks_changed": checks_changed(o.checks, w.checks)}


def compare_runs(old_path: str | Path, new_path: str | Path, max_drop: float = 0.02,
                 strict: bool = False, rule: str = "confident") -> dict[str, Any]:
    """The whole comparison as a JSON-serialisable dict; raises CompareError for unusable input.
    A task sharing no item with the old run is inconclusive (listed); `strict` makes that exit 1."""
    old, new = load_run(old_path), load_run(new_path)
    common = [k for k in old.tasks if k in new.tasks]
    if not common:
        names = lambda run: ", ".join(f"{s}/{t}" for s, t in run.tasks) or "none"  # noqa: E731
        raise CompareError(f"incompatible suites: no task in common between {old.path} ({names(old)}) and "
                           f"{new.path} ({names(new)})\n  fix: compare results of the same suite "
                           f"(tasks are matched by suite name and task name)")
    perplexity = [k for k in common if old.tasks[k].is_perplexity or new.tasks[k].is_perplexity]
    tasks = [compare_task(k, old, new) for k in common if k not in perplexity]
    suite_changes = [{"suite": s, **row} for s in old.suite_checks if s in new.suite_checks
                     for row in checks_changed(old.suite_checks[s], new.suite_checks[s])]
    found, possible = regressions(tasks, max_drop, rule)
    inconclusive = [f"{t['suite']}/{t['task']}: {t['match_summary']}" for t in tasks if t["inconclusive"]]
    old_model, new_model = _model(old), _model(new)
    return {"old": old_model, "new": new_model, "provenance_differences": provenance_differences(old_model, new_model),
            "max_drop": max_drop, "rule": rule, "confidence": CONFIDENCE,
            "tasks": tasks, "suite_checks_changed": suite_changes, "possible_regressions": possible,
            "perplexity_tasks": [_perplexity_row(k, old, new) for k in perplexity],
            "tasks_only_old": [{"suite": s, "task": t} for s, t in old.tasks if (s, t) not in new.tasks],
            "tasks_only_new": [{"suite": s, "task": t} for s, t in new.tasks if (s, t) not in old.tasks],
            "regressions": found, "inconclusive": inconclusive, "strict": strict,
            "exit_code": 1 if found or (strict and inconclusive) else 0}
