"""The run model: one typed record of a run, built once (`build.py`), rendered many ways.

suites -> tasks -> checks -> items, with verdicts, intervals, methods, diagnostics, unscored tasks and
provenance. Every report renders from it and none computes statistics of its own: the terminal
report (`terminal.py`), the results file (`RunModel.to_json`, the `--misalign-json` schema), the HTML
report (`html/`), the markdown summary and GitHub annotations (`ci.py`), the JUnit properties of each
check, and `pytest-misalign compare` (which reads two results files back with `RunModel.from_json`).

One vocabulary everywhere: a check's `status` is one of `STATUSES` -- its verdict (pass, fail,
inconclusive), `degenerate` when the check says nothing about the model (the verdict is kept beside
it), `not scored` when its task was skipped (no model, data unavailable) and `error` when its task or
the check itself failed to run. Whether its test passed is the gate's business (`passed`); the counts
of statuses and of passed / failed tests each add up to the number of checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

PASS, FAIL, INCONCLUSIVE, DEGENERATE, NOT_SCORED, ERROR = (
    "pass", "fail", "inconclusive", "degenerate", "not scored", "error")
STATUSES = (PASS, FAIL, INCONCLUSIVE, DEGENERATE, NOT_SCORED, ERROR)
SCHEMA_VERSION = 1


@dataclass
class CheckModel:
    """One check's result as every report shows it (a row of the results file's `checks`)."""

    name: str
    kind: str
    by: str | None = None
    value: float | None = None
    threshold: Any = None
    min: float | None = None
    max: float | None = None
    interval: list[float | None] | None = None
    confidence: float | None = None
    method: str = ""
    interval_name: str = ""
    verdict: str | None = None  # pass | fail | inconclusive from the interval(s); None when not run
    degenerate: str | None = None
    point_verdict: str | None = None
    gate: str | None = None
    passed: bool | None = None  # the test's outcome under the gate; None when not run
    needed_n: int | None = None
    notes: list[str] = field(default_factory=list)
    limits: list[dict] | None = None
    worst_groups: list[dict] | None = None
    status: str = ERROR  # one of STATUSES
    requirement: str = ""
    inconclusive: str | None = None  # what would decide an inconclusive verdict, in words
    n_items: int | None = None  # the items its value is over (shared items for a regression)
    line: int | None = None  # in the suite file
    tasks: list[str] | None = None  # suite-level checks: the tasks it compares
    details: dict = field(default_factory=dict)  # what the kind adds (tables, per-group values, ...)

    @property
    def status_text(self) -> str:
        """The status in words, as every report shows it: `degenerate (verdict pass)` keeps the verdict."""
        return f"{self.status} (verdict {self.verdict})" if self.status == DEGENERATE and self.verdict else self.status

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.kind}
        for f in fields(self):
            if f.name in ("kind", "details") or (f.name in _OPTIONAL and getattr(self, f.name) is None):
                continue
            out[f.name] = getattr(self, f.name)
        out.update(self.details)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CheckModel":
        known = {f.name for f in fields(cls)} - {"kind", "details"}
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("status", _status_of(data))
        details = {k: v for k, v in data.items() if k not in known and k != "check"}
        return cls(kind=str(data.get("check", "")), details=details, **values)


_OPTIONAL = ("limits", "worst_groups", "tasks")


def _status_of(data: dict) -> str:
    """The status of a check from a results file written before `status` existed."""
    return DEGENERATE if data.get("degenerate") else str(data.get("verdict") or ERROR)


@dataclass
class TaskModel:
    """A scored task: its accuracy (Wilson 95% interval), groups, diagnostics, checks and items."""

    task: str
    n: int  # items available
    n_scored: int  # items scored (fewer when the sequential gate stopped early)
    accuracy: float | None
    accuracy_interval: list[float] | None  # Wilson 95%, items taken as independent
    correct: int | None
    metric: str
    data: dict
    seconds: float
    diagnostics: dict | None  # chance level, above-chance test, constant answer, and their notes
    groups: dict[str, dict[str, dict]]  # by field -> group -> {n, correct, accuracy, interval} (or perplexities)
    checks: list[CheckModel]
    items: list[dict]
    line: int | None = None
    extra: dict = field(default_factory=dict)  # sequential, score, word_perplexity, ...: as in the file

    @property
    def is_perplexity(self) -> bool:
        return self.metric == "perplexity"

    def to_json(self) -> dict[str, Any]:
        out = {"task": self.task, "n": self.n, "n_scored": self.n_scored}
        if "sequential" in self.extra:
            out["sequential"] = self.extra["sequential"]
        out.update(accuracy=self.accuracy, accuracy_interval=self.accuracy_interval, correct=self.correct,
                   metric=self.metric, data=self.data, seconds=self.seconds, diagnostics=self.diagnostics,
                   groups=self.groups, checks=[c.to_json() for c in self.checks], items=self.items, line=self.line)
        out.update({k: v for k, v in self.extra.items() if k != "sequential"})
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TaskModel":
        known = {f.name for f in fields(cls)} - {"extra", "checks"}
        values = {k: data.get(k) for k in known}
        values["n_scored"] = data.get("n_scored", data.get("n"))
        values["data"] = data.get("data") or {}
        values["groups"] = data.get("groups") or {}
        values["items"] = data.get("items") or []
        values["seconds"] = data.get("seconds") or 0.0
        values["metric"] = data.get("metric") or ""
        extra = {k: v for k, v in data.items() if k not in known and k != "checks"}
        return cls(checks=[CheckModel.from_json(c) for c in data.get("checks") or []], extra=extra, **values)


@dataclass
class UnscoredModel:
    """A task without results: `not scored` (skipped: no model, data unavailable) or `error`."""

    task: str
    status: str  # the file's "skipped" | "error"
    reason: str
    checks: list[CheckModel] = field(default_factory=list)  # the checks that needed it, not run

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "status": self.status, "reason": self.reason,
                "checks": [c.to_json() for c in self.checks]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "UnscoredModel":
        return cls(str(data.get("task")), str(data.get("status")), str(data.get("reason", "")),
                   [CheckModel.from_json(c) for c in data.get("checks") or []])


@dataclass
class SuiteModel:
    suite: str
    path: str
    sha256: str
    tasks: list[TaskModel] = field(default_factory=list)
    checks: list[CheckModel] = field(default_factory=list)  # suite-level (spread, shift, ...)
    unscored: list[UnscoredModel] = field(default_factory=list)

    def all_checks(self) -> list[tuple[str, CheckModel]]:
        """(task, check) for every check of the suite; a suite-level check's task is the tasks it compares."""
        rows = [(t.task, c) for t in self.tasks for c in t.checks]
        rows += [(", ".join(c.tasks or ()) or "(suite)", c) for c in self.checks]
        return rows + [(u.task, c) for u in self.unscored for c in u.checks]

    def to_json(self) -> dict[str, Any]:
        return {"suite": self.suite, "path": self.path, "sha256": self.sha256,
                "tasks": [t.to_json() for t in self.tasks], "checks": [c.to_json() for c in self.checks],
                "unscored": [u.to_json() for u in self.unscored]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SuiteModel":
        return cls(str(data["suite"]), str(data.get("path", "")), str(data.get("sha256") or ""),
                   [TaskModel.from_json(t) for t in data.get("tasks") or []],
                   [CheckModel.from_json(c) for c in data.get("checks") or []],
                   [UnscoredModel.from_json(u) for u in data.get("unscored") or []])


@dataclass
class RunModel:
    """The whole run: provenance (plugin, model, settings), how it ended, and every suite."""

    plugin: dict
    run: dict  # status (running | complete | interrupted | incomplete), exit_status, broken_setup
    model: dict | None
    settings: dict
    suites: list[SuiteModel]
    schema: int = SCHEMA_VERSION

    @property
    def gate(self) -> str:
        return str(self.settings.get("gate", "point"))

    @property
    def strict(self) -> bool:
        return bool(self.settings.get("strict"))

    def checks(self) -> list[tuple[SuiteModel, str, CheckModel]]:
        return [(s, task, c) for s in self.suites for task, c in s.all_checks()]

    def summary(self) -> dict[str, Any]:
        """Counts that add up: tasks by outcome, checks by status, tests by gate outcome."""
        checks = [c for _, _, c in self.checks()]
        unscored = [u for s in self.suites for u in s.unscored]
        return {
            "tasks_scored": sum(len(s.tasks) for s in self.suites),
            "tasks_skipped": sum(u.status == "skipped" for u in unscored),
            "tasks_errored": sum(u.status == "error" for u in unscored),
            "checks": len(checks),
            "statuses": {s: sum(c.status == s for c in checks) for s in STATUSES},
            "tests": {"passed": sum(c.passed is True for c in checks), "failed": sum(c.passed is False for c in checks),
                      "not run": sum(c.passed is None for c in checks)},
        }

    def to_json(self) -> dict[str, Any]:
        return {"schema": self.schema, "plugin": self.plugin, "run": self.run, "model": self.model,
                "settings": self.settings, "summary": self.summary(), "suites": [s.to_json() for s in self.suites]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunModel":
        """A results file read back (`compare`); raises KeyError/TypeError/AttributeError when malformed."""
        return cls(dict(data.get("plugin") or {}), dict(data.get("run") or {}),
                   data.get("model") if isinstance(data.get("model"), dict) else None,
                   dict(data.get("settings") or {}), [SuiteModel.from_json(s) for s in data["suites"]],
                   data.get("schema", SCHEMA_VERSION))


def status_line(summary: dict[str, Any], gate: str, strict: bool = False) -> str:
    """`79 checks: 24 pass, 13 fail, 30 inconclusive, 12 degenerate; tests (point gate): 60 passed,
    19 failed` -- statuses with a zero count are left out; each half adds up to the number of checks."""
    statuses = ", ".join(f"{n} {s}" for s, n in summary["statuses"].items() if n)
    tests = summary["tests"]
    parts = [f"{tests['passed']} passed", f"{tests['failed']} failed"]
    if tests["not run"]:
        parts.append(f"{tests['not run']} not run")
    gate_text = f"{gate} gate" + (", strict" if strict else "")
    return f"{summary['checks']} checks: {statuses or 'none'}; tests ({gate_text}): {', '.join(parts)}"
