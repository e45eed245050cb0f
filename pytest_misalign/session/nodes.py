"""The pytest nodes a suite file becomes: a file collector, one collector per task, one item per check.

Phases, so that a broken setup can never look like a failed (or passed) model:
- collection parses the suite and loads the data (a bad suite is a collection ERROR);
- an item's `setup` gets the model and scores the tasks it needs (no model in strict mode, missing
  data in strict mode, a model that cannot load, a backend that fails: an ERROR at setup);
- its `runtest` only applies the check and the gate (a model below its thresholds: FAILED).
"""

from __future__ import annotations

import pytest

from ..baseline.match import BaselineTask
from ..baseline.regression import regression_tests, run_regression
from ..checks import INCONCLUSIVE, CheckResult
from ..checks.evidence import evidence
from ..report.build import check_model
from ..report.ci import check_properties
from ..report.model import ERROR, NOT_SCORED
from ..errors import DataUnavailable, MisalignError
from ..runner.evaluator import EVALUATOR, Evaluator, SetupError
from ..spec import CheckSpec, SuiteSpec, TaskSpec, parse_suite_file, unique_check_names
from ..spec.suite import tasks_read
from ..tasks.instance import PreparedTask
from ..tasks.prepare import prepare_task

NO_MODEL = ("no model configured: pass --misalign-model=NAME (e.g. smollm2-135m) "
            "or set misalign_model in the ini file")


class _PlainErrors:
    """Show our own errors as their message, without a traceback (in every phase)."""

    def repr_failure(self, excinfo, *args, **kwargs):
        if isinstance(excinfo.value, MisalignError):
            return _once(self, str(excinfo.value))
        return super().repr_failure(excinfo, *args, **kwargs)

    def _repr_failure_py(self, excinfo, *args, **kwargs):
        if isinstance(excinfo.value, MisalignError):
            return _once(self, str(excinfo.value))
        return super()._repr_failure_py(excinfo, *args, **kwargs)


_SHOWN = pytest.StashKey[dict]()
SAME_ERROR = "the same error as "


def _once(node, text: str) -> str:
    """An error in full the first time; after that (a misspelled model fails every test alike) one
    line pointing at the first node that showed it."""
    shown = node.config.stash.setdefault(_SHOWN, {})
    first = shown.setdefault(text, node.nodeid)
    if first == node.nodeid:
        return text
    return f"{SAME_ERROR}{first} (above)"


def _register_markers(config: pytest.Config, markers: list[str], where: str) -> None:
    """Markers a suite declares are known markers (no PytestUnknownMarkWarning, fine under --strict-markers)."""
    known = {line.split(":", 1)[0].split("(", 1)[0].strip() for line in config.getini("markers")}
    for marker in markers:
        if marker not in known:
            config.addinivalue_line("markers", f"{marker}: declared by {where}")


class SuiteFile(_PlainErrors, pytest.File):
    """A suite: one collector per task, then one test per suite-level check (spread, shift)."""

    spec: SuiteSpec | None = None

    def collect(self):
        options = self.config.stash[EVALUATOR].options
        kinds = self.config.stash[EVALUATOR].kinds
        spec = self.spec = parse_suite_file(self.path, kinds=kinds, data_roots=options.data_roots, require_checks=True)
        _register_markers(self.config, spec.markers + [m for t in spec.tasks for m in t.markers],
                          f"suite {spec.name}")
        for marker in spec.markers:
            self.add_marker(marker)
        prepared: dict[str, PreparedTask | str] = {}
        for task in spec.tasks:
            try:
                prepared[task.name] = prepare_task(spec, task, cap=options.limit, data_dir=options.data_dir,
                                                  num_fewshot=options.num_fewshot)
            except DataUnavailable as exc:  # e.g. a hub dataset on an offline machine
                prepared[task.name] = str(exc)
            yield TaskCollector.from_parent(self, name=task.name, suite=spec, task=task,
                                            prepared=prepared[task.name])
        for check, name in zip(spec.checks, unique_check_names(spec.checks)):
            yield SuiteCheckItem.from_parent(self, name=name, suite=spec, check=check, tasks=prepared)


class TaskCollector(_PlainErrors, pytest.Collector):
    def __init__(self, *, suite: SuiteSpec, task: TaskSpec, prepared: PreparedTask | str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.suite, self.task, self.prepared = suite, task, prepared
        for marker in task.markers:
            self.add_marker(marker)

    def collect(self):
        for check, name in zip(self.task.checks, self.task.check_names()):
            yield CheckItem.from_parent(self, name=name, prepared=self.prepared, check=check)
        baseline = self.config.stash[EVALUATOR].options.baseline
        base = baseline.get(self.suite.name, self.task.name) if baseline is not None else None
        if base is not None and self.task.has_answers:  # regression compares accuracies
            for name, by in regression_tests(self.task):
                yield RegressionItem.from_parent(self, name=name, prepared=self.prepared, base=base, by=by)

    def reportinfo(self):
        return self.path, (self.task.line or 1) - 1, f"{self.suite.name}::{self.task.name}"


class CheckFailed(MisalignError):
    pass


class _MisalignItem(_PlainErrors, pytest.Item):
    """Setup: model, data, scoring (errors). Call: the check and the gate (failures)."""

    line: int | None = None
    suite: SuiteSpec

    @classmethod
    def from_parent(cls, parent, *, name: str, **kwargs):
        # An explicit node id: pytest >= 9.2 parses ids into path/names/[params], and a name such as
        # `gap[region]` must parse the same way when --lf reads it back from the cache.
        return super().from_parent(parent, name=name, nodeid=f"{parent.nodeid}::{name}", **kwargs)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_marker("misalign")
        self.suite = self.getparent(SuiteFile).spec

    @property
    def evaluator(self) -> Evaluator:
        return self.config.stash[EVALUATOR]

    def needs(self) -> dict[str, PreparedTask | str]:
        """The tasks this check reads, by name (a str: why the task's data is unavailable)."""
        raise NotImplementedError

    def setup(self) -> None:
        evaluator, strict = self.evaluator, self.evaluator.options.strict
        needs = self.needs()
        if not evaluator.configured:
            for name in needs:
                evaluator.record_unscored(self.suite, name, "skipped", NO_MODEL)
            self.not_run(NOT_SCORED, NO_MODEL)
            if strict:
                raise SetupError(f"{NO_MODEL}\n  --misalign-strict: a release gate must score a model")
            pytest.skip(NO_MODEL)
        for name, prepared in needs.items():
            if isinstance(prepared, str):
                reason = f"task '{name}': data unavailable: {prepared}"
                evaluator.record_unscored(self.suite, name, "skipped", reason)
                self.not_run(NOT_SCORED, reason)
                if strict:
                    raise SetupError(f"{reason}\n  --misalign-strict: a skipped task fails a release gate")
                pytest.skip(reason)
        try:
            for prepared in needs.values():
                evaluator.outcome(prepared)  # SetupError subclasses: model unavailable, scoring failed
            self.prepare()
        except Exception as exc:
            self.not_run(ERROR, _first_line(exc))
            raise

    def prepare(self) -> None:
        """What else must run before the check (setup phase: a failure is an ERROR)."""

    def not_run(self, status: str, reason: str) -> None:
        """Record that this test has no result (for the run model)."""
        self.evaluator.record_not_run(self.suite, self.task_name, self.name, status, reason)

    @property
    def task_name(self) -> str | None:
        """The task this test belongs to (None for a suite-level check)."""
        return self.parent.task.name if isinstance(self.parent, TaskCollector) else None

    def runtest(self) -> None:
        try:
            result = self.evaluate()
        except Exception as exc:  # a broken suite or data found while checking, a plugin kind's bug:
            self.not_run(ERROR, _first_line(exc))  # said by pytest, and recorded for the run model
            raise
        options = self.evaluator.options
        message = result.message(options.gate)
        self.user_properties.append(("misalign", message))
        record = self.check_record(result)
        self.user_properties.extend(check_properties(self.suite.name, self.scope_label(), record))  # --junitxml
        if not result.passes(options.gate, options.strict):
            if result.passes(options.gate):
                message += "\n  " + _strict_reason(result)
            shown = self.evidence(result)
            raise CheckFailed(message + (f"\n{shown}" if shown else ""))

    def check_record(self, result: CheckResult):
        """This check's row of the run model (what --junitxml properties show)."""
        options = self.evaluator.options
        return check_model(result, options.gate, options.strict, n=self.scope_n(), line=self.line)

    def scope_n(self) -> int | None:
        """The items this test's value is over: its task's scored items, or those of the tasks it reads."""
        records = [self.evaluator.records.get(p.key) for p in self.needs().values() if not isinstance(p, str)]
        return sum(r.outcome.n for r in records if r is not None) if records else None

    def scope_label(self) -> str:
        """The task, or for a suite-level check the tasks it compares."""
        return self.task_name or ", ".join(self.needs())

    def evidence(self, result: CheckResult) -> str:
        """The items behind a failure (`--misalign-show-items`); none by default."""
        return ""

    def _show(self, check: CheckSpec, result: CheckResult, prepared: PreparedTask) -> str:
        width = self.config.get_terminal_writer().fullwidth
        evaluator = self.evaluator
        return evidence(evaluator.kinds[check.kind], check, result, evaluator.outcome(prepared),
                        evaluator.options.show_items, width)

    def evaluate(self) -> CheckResult:
        raise NotImplementedError

    def reportinfo(self):
        return self.path, (self.line or 1) - 1, self.nodeid.split("::", 1)[-1]


def _first_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, MisalignError) else f"{type(exc).__name__}: {exc}"
    return (text.splitlines() or [type(exc).__name__])[0]


def _strict_reason(result: CheckResult) -> str:
    if result.degenerate:
        return f"--misalign-strict: a degenerate check fails a release gate ({result.degenerate})"
    if result.verdict == INCONCLUSIVE:
        return "--misalign-strict: an inconclusive verdict fails a release gate (score more items)"
    return "--misalign-strict"


class CheckItem(_MisalignItem):
    def __init__(self, *, prepared: PreparedTask | str, check: CheckSpec, **kwargs) -> None:
        super().__init__(**kwargs)
        self.prepared, self.check, self.line = prepared, check, check.line

    def needs(self) -> dict[str, PreparedTask | str]:
        return {self.parent.task.name: self.prepared}

    def evaluate(self) -> CheckResult:
        result = self.evaluator.check_result(self.prepared, self.check, self.name)
        self.evaluator.record_check(self.prepared, result)
        return result

    def evidence(self, result: CheckResult) -> str:
        return self._show(self.check, result, self.prepared)


class RegressionItem(_MisalignItem):
    def __init__(self, *, prepared: PreparedTask | str, base: BaselineTask, by: str | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.prepared, self.base, self.by = prepared, base, by
        self.line = prepared.spec.line if isinstance(prepared, PreparedTask) else None

    def needs(self) -> dict[str, PreparedTask | str]:
        return {self.parent.task.name: self.prepared}

    def evaluate(self) -> CheckResult:
        prepared, evaluator = self.prepared, self.evaluator
        outcome = evaluator.outcome(prepared)
        result = (evaluator.check_result(prepared, None, self.name) if evaluator.options.sequential else
                  run_regression(outcome, self.base, prepared.spec.regression, evaluator.options.max_drop,
                                 self.by, self.name))
        self.evaluator.record_check(prepared, result)
        return result


class SuiteCheckItem(_MisalignItem):
    def __init__(self, *, suite: SuiteSpec, check: CheckSpec, tasks: dict[str, PreparedTask | str],
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.check, self.tasks, self.line = check, tasks, check.line

    def needs(self) -> dict[str, PreparedTask | str]:
        names = tasks_read(self.evaluator.kinds, self.check, self.suite.tasks)
        return {name: self.tasks[name] for name in names if name in self.tasks}

    _settled: CheckResult | None = None

    def prepare(self) -> None:
        evaluator = self.evaluator
        if evaluator.options.sequential:  # may score more items: a failure is an ERROR, so in setup
            self._settled = evaluator.sequential_suite_result(self.suite, self.check, self.name, self.needs())

    def evaluate(self) -> CheckResult:
        result = self._settled or self.evaluator.suite_check_result(self.suite, self.check, self.name, self.needs())
        self.evaluator.record_suite_check(self.suite, result)
        return result
