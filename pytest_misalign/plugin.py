"""pytest glue: options, collection of suite files, one test per check, the report, the results file.

Kept thin: everything it does is delegated to spec / tasks / runner / checks / report / results.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .backends.base import ModelConfig
from .baseline import BaselineTask, compare
from .checks import CheckResult, run_check, run_suite_check
from .errors import DataUnavailable, MisalignError
from .report import by_suite, model_header, suite_tables
from .results import build_results, write_json_atomic
from .options import add_options, get, options_from_config
from .runner import Evaluator
from .spec import CheckSpec, SuiteSpec, TaskSpec, parse_suite_file, unique_check_names
from .tasks import PreparedTask, prepare_task
from .yamlio import looks_like_suite

EVALUATOR = pytest.StashKey[Evaluator]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(trylast=True)
def pytest_misalign_make_backend(model_config: ModelConfig, config: pytest.Config):
    from .backends import load_backend

    return load_backend(model_config)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "misalign: a capability-misalignment check from a suite file")

    def loader(model_config: ModelConfig):
        return config.hook.pytest_misalign_make_backend(model_config=model_config, config=config)

    from .progress import progress_factory

    config.stash[EVALUATOR] = Evaluator(options_from_config(config), loader, progress_factory(config))
    from .ci_outputs import configure as configure_ci

    configure_ci(config, get(config, "markdown") or None)
    from .html_report import configure as configure_html

    evaluator = config.stash[EVALUATOR]
    configure_html(config, get(config, "html") or None,
                   lambda: build_results(evaluator, evaluator.backend.info if evaluator.loaded else None))


def pytest_unconfigure(config: pytest.Config) -> None:
    from .ci_outputs import unconfigure as unconfigure_ci

    unconfigure_ci(config)
    from .html_report import unconfigure as unconfigure_html

    unconfigure_html(config)
    evaluator = config.stash.get(EVALUATOR, None)
    if evaluator is not None:
        evaluator.close()


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix in (".yaml", ".yml") and looks_like_suite(file_path):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


class _PlainErrors:
    """Show our own errors as their message, without a traceback."""

    def repr_failure(self, excinfo, *args, **kwargs):
        if isinstance(excinfo.value, MisalignError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, *args, **kwargs)


class SuiteFile(_PlainErrors, pytest.File):
    """A suite: one collector per task, then one test per suite-level check (spread, shift)."""

    def collect(self):
        options = self.config.stash[EVALUATOR].options
        spec = parse_suite_file(self.path)
        for marker in spec.markers:
            self.add_marker(marker)
        prepared: dict[str, PreparedTask | str] = {}
        for task in spec.tasks:
            try:
                prepared[task.name] = prepare_task(spec, task, cap=options.limit, data_dir=options.data_dir)
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
        if baseline is not None and baseline.get(self.suite.name, self.task.name) is not None:
            yield RegressionItem.from_parent(self, name="regression", prepared=self.prepared,
                                             base=baseline.get(self.suite.name, self.task.name))

    def reportinfo(self):
        return self.path, (self.task.line or 1) - 1, f"{self.suite.name}::{self.task.name}"


class CheckFailed(MisalignError):
    pass


class _MisalignItem(_PlainErrors, pytest.Item):
    """Common runtest: skip without a model or data, run the check, record it, apply the gate."""

    line: int | None = None

    @classmethod
    def from_parent(cls, parent, *, name: str, **kwargs):
        # An explicit node id: pytest >= 9.2 parses ids into path/names/[params], and a name such as
        # `gap[region]` must parse the same way when --lf reads it back from the cache.
        return super().from_parent(parent, name=name, nodeid=f"{parent.nodeid}::{name}", **kwargs)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_marker("misalign")

    @property
    def evaluator(self) -> Evaluator:
        return self.config.stash[EVALUATOR]

    def runtest(self) -> None:
        if not self.evaluator.configured:
            pytest.skip("no model configured: pass --misalign-model=NAME (e.g. smollm2-135m) "
                        "or set misalign_model in the ini file")
        result = self.evaluate()
        gate = self.evaluator.options.gate
        self.user_properties.append(("misalign", result.message(gate)))
        from .ci_outputs import check_properties

        self.user_properties.extend(check_properties(self, result))  # misalign.value, ... for --junitxml
        if not result.passes(gate):
            shown = self.evidence(result)
            raise CheckFailed(result.message(gate) + (f"\n{shown}" if shown else ""))

    def evidence(self, result: CheckResult) -> str:
        """The items behind a failure (`--misalign-show-items`); none by default."""
        return ""

    def _show(self, check: CheckSpec, result: CheckResult, prepared: PreparedTask) -> str:
        from .evidence import evidence

        width = self.config.get_terminal_writer().fullwidth
        return evidence(check, result, self.evaluator.outcome(prepared), self.evaluator.options.show_items, width)

    def evaluate(self) -> CheckResult:
        raise NotImplementedError

    def reportinfo(self):
        return self.path, (self.line or 1) - 1, self.nodeid.split("::", 1)[-1]


def _available(prepared: PreparedTask | str) -> PreparedTask:
    if isinstance(prepared, str):
        pytest.skip(f"data unavailable: {prepared}")
    return prepared


class CheckItem(_MisalignItem):
    def __init__(self, *, prepared: PreparedTask | str, check: CheckSpec, **kwargs) -> None:
        super().__init__(**kwargs)
        self.prepared, self.check, self.line = prepared, check, check.line

    def evaluate(self) -> CheckResult:
        prepared = _available(self.prepared)
        result = run_check(self.check, self.evaluator.outcome(prepared), self.name)
        self.evaluator.record_check(prepared, result)
        return result

    def evidence(self, result: CheckResult) -> str:
        return self._show(self.check, result, _available(self.prepared))


class RegressionItem(_MisalignItem):
    def __init__(self, *, prepared: PreparedTask | str, base: BaselineTask, **kwargs) -> None:
        super().__init__(**kwargs)
        self.prepared, self.base = prepared, base
        self.line = prepared.spec.line if isinstance(prepared, PreparedTask) else None

    def evaluate(self) -> CheckResult:
        prepared = _available(self.prepared)
        max_drop = prepared.spec.max_drop if prepared.spec.max_drop is not None else self.evaluator.options.max_drop
        result = compare(self.evaluator.outcome(prepared), self.base, max_drop, confidence=0.95)
        self.evaluator.record_check(prepared, result)
        return result


class SuiteCheckItem(_MisalignItem):
    def __init__(self, *, suite: SuiteSpec, check: CheckSpec, tasks: dict[str, PreparedTask | str],
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.suite, self.check, self.tasks, self.line = suite, check, tasks, check.line

    def evaluate(self) -> CheckResult:
        names = [self.check.params["from"], self.check.params["to"]] if self.check.kind == "shift" else list(self.tasks)
        outcomes = {name: self.evaluator.outcome(_available(self.tasks[name])) for name in names}
        result = run_suite_check(self.check, outcomes, self.name)
        self.evaluator.record_suite_check(self.suite, result)
        return result


@pytest.fixture(scope="session")
def misalign_model(pytestconfig: pytest.Config):
    """The session's loaded model (a `Backend`: `.loglikelihood()`, `.generate()`, `.info`)."""
    evaluator = pytestconfig.stash[EVALUATOR]
    if not evaluator.configured:
        pytest.skip("no model configured: pass --misalign-model=NAME")
    return evaluator.backend


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    evaluator = config.stash.get(EVALUATOR, None)
    if evaluator is None or not evaluator.records:
        return
    info = evaluator.backend.info
    terminalreporter.write_sep("=", "misalign report")
    for line in model_header(info):
        terminalreporter.write_line(line)
    from .cache import CachedBackend

    if isinstance(evaluator.backend, CachedBackend):
        terminalreporter.write_line(evaluator.backend.status())
    for (name, path), records in by_suite(evaluator.records).items():
        terminalreporter.write_line("")
        terminalreporter.write_line(f"suite {name} ({path})", bold=True)
        width = None if config.get_verbosity() > 0 else terminalreporter._tw.fullwidth
        terminalreporter.write_line(suite_tables(records, evaluator.suite_checks.get(path, {}),
                                                 evaluator.options.gate, width))
    terminalreporter.write_line("")
    terminalreporter.write_line(f"gate: {evaluator.options.gate} — "
                                + ("the point estimate decides; intervals are shown"
                                   if evaluator.options.gate == "point" else "only a confident pass passes"))
    if evaluator.options.json_path:
        terminalreporter.write_line(f"results written to {evaluator.options.json_path}")


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    evaluator = session.config.stash.get(EVALUATOR, None)
    if evaluator is None or not evaluator.options.json_path:
        return
    model = evaluator.backend.info if evaluator.loaded else None
    write_json_atomic(evaluator.options.json_path, build_results(evaluator, model))
