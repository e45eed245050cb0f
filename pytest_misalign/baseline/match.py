"""Baselines: load an earlier `--misalign-json` results file and match its items with a run's.

The one matching rule, used by the plugin's regression tests (`regression.py`) and by
`pytest-misalign compare` (`compare.py`): items are matched by their `index` in the data source AND
must carry the same item `key` (a hash of the rendered prompt, choices and answer). An item whose key
changed was rendered from another prompt or other data: it is dropped from the comparison, counted
and named, never compared wrongly. A record without a key (an older file) is matched by index alone.
`ItemMatch.summary()` says what was compared: "12 items changed since the baseline (prompt, choices or
answer) and 3 are only in the baseline: compared on 285 shared items".

The regression checks themselves (overall, per group, `max_broken`, cluster-aware intervals) live in
`regression.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import MisalignError
from ..scoring.outcome import TaskOutcome


class BaselineError(MisalignError):
    """The baseline file is unusable, or does not match what is being compared."""


@dataclass(frozen=True)
class BaselineTask:
    suite: str
    task: str
    suite_sha256: str | None
    items: dict[int, dict[str, Any]]  # by index
    model: str | None


@dataclass(frozen=True)
class Baseline:
    path: Path
    tasks: dict[tuple[str, str], BaselineTask]  # by (suite name, task name)
    model: dict | None

    def get(self, suite: str, task: str) -> BaselineTask | None:
        return self.tasks.get((suite, task))


class ResultsFileError(BaselineError):
    """A results file that cannot be used; `kind` says why (missing, directory, unreadable, json,
    shape, incomplete) so each reader words it in its own terms; `detail` is the underlying error."""

    def __init__(self, kind: str, detail: str = "") -> None:
        self.kind, self.detail = kind, detail
        super().__init__(f"{kind}: {detail}" if detail else kind)


def read_results_file(path: str | Path) -> dict:
    """A results file's JSON, checked once for every reader (baseline, compare): readable, JSON, with a
    'suites' list, and from a run that finished -- a file marked `incomplete` (its run is going on,
    crashed or was killed) holds no results, and reading it as 'no tasks' would silently skip every
    comparison."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsFileError("missing") from None
    except IsADirectoryError:
        raise ResultsFileError("directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsFileError("unreadable", str(exc)) from None
    except json.JSONDecodeError as exc:
        raise ResultsFileError("json", str(exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("suites"), list):
        raise ResultsFileError("shape")
    run = data.get("run") if isinstance(data.get("run"), dict) else {}
    if run.get("status") in ("incomplete", "running"):
        raise ResultsFileError("incomplete", f"run.status = {run['status']!r}: the run that wrote it is still "
                                             "going, crashed or was killed, so it holds no results")
    return data


def load_baseline(path: str | Path) -> Baseline:
    path = Path(path)
    fix = "pass a file written by an earlier run with --misalign-json"
    try:
        data = read_results_file(path)
    except ResultsFileError as exc:
        problem = {"missing": f"baseline file not found: {path}",
                   "shape": f"baseline file {path} has no 'suites' list",
                   "incomplete": f"baseline file {path} is from a run that did not finish ({exc.detail})"}.get(
            exc.kind, f"baseline file {path} is not a results JSON file: {exc.detail or exc.kind}")
        raise BaselineError(f"{problem}\n  fix: {fix}") from None
    return baseline_from_data(path, data)


def baseline_from_data(path: Path, data: dict) -> Baseline:
    model = data.get("model") if isinstance(data.get("model"), dict) else None
    tasks = {}
    for suite in data["suites"]:
        for task in suite.get("tasks", []):
            try:
                items = {int(item["index"]): item for item in task["items"]}
                key = (str(suite["suite"]), str(task["task"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise BaselineError(f"baseline file {path}: malformed task entry ({exc!r})\n  fix: pass a file written "
                                    "by an earlier run with --misalign-json") from None
            tasks[key] = BaselineTask(key[0], key[1], suite.get("sha256"), items,
                                      (model or {}).get("name"))
    return Baseline(path, tasks, model)


# -- the matching rule ------------------------------------------------------------------------------

def _items(n: int, verb: str = "") -> str:
    """`1 item changed`, `3 items changed`; verb "is"/"are" picks the form for the count."""
    noun = "item" if n == 1 else "items"
    verb = {"is": "is" if n == 1 else "are"}.get(verb, verb)
    return f"{n} {noun}" + (f" {verb}" if verb else "")


@dataclass(frozen=True)
class ItemMatch:
    """Which items two runs share (same index, same key) and which are dropped, and why."""

    shared: tuple[int, ...]  # same index and key: compared
    changed: tuple[int, ...]  # same index, another key (prompt, choices or answer changed): dropped
    only_old: tuple[int, ...]  # only in the earlier run (the baseline): dropped
    only_new: tuple[int, ...]  # only in the later run: dropped
    old_name: str = "the baseline"
    new_name: str = "this run"

    @property
    def n(self) -> int:
        return len(self.shared)

    @property
    def dropped(self) -> int:
        return len(self.changed) + len(self.only_old) + len(self.only_new)

    def reasons(self) -> list[str]:
        out = []
        if self.changed:
            out.append(f"{_items(len(self.changed), 'changed')} since {self.old_name} (prompt, choices or answer)")
        if self.only_old:
            out.append(f"{_items(len(self.only_old), 'is')} only in {self.old_name}")
        if self.only_new:
            out.append(f"{_items(len(self.only_new), 'is')} only in {self.new_name}")
        return out

    def summary(self) -> str:
        """One sentence: what was dropped and why, and how many items were compared."""
        reasons = self.reasons()
        said = ", ".join(reasons[:-1]) + (" and " if len(reasons) > 1 else "") + (reasons[-1] if reasons else "")
        if not self.shared:
            return f"no item is shared with {self.old_name}" + (f": {said}" if said else "")
        noun = "item" if self.n == 1 else "items"
        compared = f"compared on {self.n} shared {noun}" if said else f"compared on all {self.n} {noun}"
        return f"{said}: {compared}" if said else compared


def match_items(old: Mapping[int, Mapping[str, Any]], new: Mapping[int, Mapping[str, Any]], *,
                old_name: str = "the baseline", new_name: str = "this run") -> ItemMatch:
    """Match item records (dicts with `key`) by index; a key present on both sides must be equal."""
    common = sorted(set(old) & set(new))
    changed = [i for i in common if None not in (old[i].get("key"), new[i].get("key"))
               and old[i]["key"] != new[i]["key"]]
    dropped = set(changed)
    return ItemMatch(tuple(i for i in common if i not in dropped), tuple(changed),
                     tuple(sorted(set(old) - set(new))), tuple(sorted(set(new) - set(old))), old_name, new_name)


def run_items(outcome: TaskOutcome) -> dict[int, dict[str, Any]]:
    """A scored task's items as the records a results file holds them (index, key, correct)."""
    keys = outcome.task.item_keys()
    return {item.index: {"index": item.index, "key": key, "correct": bool(item.correct)}
            for item, key in zip(outcome.items, keys)}
