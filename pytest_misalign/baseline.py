"""Regression against a stored baseline: an earlier `--misalign-json` results file.

Items are matched by their `index` in the data source and must carry the same item key (a hash of
the rendered prompt, choices and answer): a changed item is reported, never compared wrongly.
The paired difference (candidate - baseline) gets Newcombe's paired interval and McNemar's exact test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import stats
from .checks import INCONCLUSIVE, CheckResult
from .errors import MisalignError
from .scoring import TaskOutcome


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


def load_baseline(path: str | Path) -> Baseline:
    path = Path(path)
    fix = "pass a file written by an earlier run with --misalign-json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"baseline file not found: {path}\n  fix: {fix}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"baseline file {path} is not a results JSON file: {exc}\n  fix: {fix}") from None
    if not isinstance(data, dict) or not isinstance(data.get("suites"), list):
        raise BaselineError(f"baseline file {path} has no 'suites' list\n  fix: {fix}")
    model = data.get("model") if isinstance(data.get("model"), dict) else None
    tasks = {}
    for suite in data["suites"]:
        for task in suite.get("tasks", []):
            try:
                items = {int(item["index"]): item for item in task["items"]}
                key = (str(suite["suite"]), str(task["task"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise BaselineError(f"baseline file {path}: malformed task entry ({exc!r})\n  fix: {fix}") from None
            tasks[key] = BaselineTask(key[0], key[1], suite.get("sha256"), items,
                                      (model or {}).get("name"))
    return Baseline(path, tasks, model)


def compare(outcome: TaskOutcome, base: BaselineTask, max_drop: float, confidence: float,
            name: str = "regression") -> CheckResult:
    """The candidate's paired accuracy change against the baseline on the items both scored."""
    keys = outcome.task.item_keys()
    candidate = {item.index: (item, keys[pos]) for pos, item in enumerate(outcome.items)}
    common = sorted(set(candidate) & set(base.items))
    changed = [i for i in common if base.items[i].get("key") not in (None, candidate[i][1])]
    if changed:
        raise BaselineError(
            f"{len(changed)} of {len(common)} items differ from the baseline's (first: index {changed[0]}): "
            f"the prompt, choices or answer changed, so the results are not comparable\n"
            f"  fix: regenerate the baseline with the current suite file")
    if not common:
        raise BaselineError(f"no item index of task '{base.task}' appears in both the run and the baseline "
                            f"(run: {len(candidate)} items, baseline: {len(base.items)})\n"
                            f"  fix: use the same data and limit for both runs")
    a = b = c = d = 0
    for i in common:
        now, before = candidate[i][0].correct, bool(base.items[i]["correct"])
        a += now and before
        b += now and not before
        c += before and not now
        d += not now and not before
    n = len(common)
    lo, hi = stats.paired_difference_interval(b, c, n, confidence, a=a)
    drop, drop_interval = (c - b) / n, (-hi, -lo)
    verdict = stats.verdict(*drop_interval, max=max_drop)
    needed = stats.required_n_paired(a, b, c, d, -max_drop, confidence) if verdict == INCONCLUSIVE else None
    p = stats.mcnemar_pvalue(b, c)
    notes = [f"baseline {(a + c) / n:.3f} -> candidate {(a + b) / n:.3f} on {n} common items; "
             f"{b} fixed, {c} broken; McNemar exact p = {p:.3g}"]
    if outcome.task.suite.sha256 != base.suite_sha256 and base.suite_sha256:
        notes.append("the suite file changed since the baseline (items still match)")
    only_run, only_base = len(candidate) - n, len(base.items) - n
    if only_run or only_base:
        notes.append(f"{only_run} items only in this run and {only_base} only in the baseline are not compared")
    return CheckResult(name, "regression", drop, None, max_drop, drop_interval,
                       "Newcombe paired score (method 10) on candidate - baseline", confidence, verdict,
                       needed_n=needed, needed_unit="paired items", notes=tuple(notes),
                       details={"common_items": n, "fixed": b, "broken": c, "both_right": a, "both_wrong": d,
                                "mcnemar_p": round(p, 8), "baseline_accuracy": round((a + c) / n, 6),
                                "candidate_accuracy": round((a + b) / n, 6), "baseline_model": base.model})
