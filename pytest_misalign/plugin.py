"""pytest glue: options, collection of suite files, one test per check, the report, the results file.

Kept thin: everything it does is delegated to spec / tasks / runner / checks / report / results.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .backends.base import ModelConfig
from .checks import CheckResult, run_check
from .errors import MisalignError
from .report import by_suite, suite_tables
from .results import build_results, write_json_atomic
from .runner import Evaluator, Options
from .spec import CheckSpec, SuiteSpec, TaskSpec, parse_suite_file
from .tasks import PreparedTask, prepare_task
from .yamlio import looks_like_suite

EVALUATOR = pytest.StashKey[Evaluator]()

# (option, ini key, default, help)
OPTIONS = [
    ("model", None, "model to evaluate: a Hugging Face id, a local directory, a .gguf file, "
                    "or the embedded alias 'smollm2-135m'"),
    ("device", "auto", "auto (CUDA when present), cpu, cuda, cuda:N or mps"),
    ("dtype", "auto", "auto (bfloat16 on CUDA, float32 on CPU), float32, bfloat16 or float16"),
    ("batch-size", "auto", "requests per forward pass: a positive integer or 'auto'"),
    ("limit", None, "cap the items per task (seeded random subsample) for quick local runs"),
    ("json", None, "write machine-readable results to this path (atomically)"),
    ("cache-dir", None, "where converted models are cached (default: ~/.cache/pytest-misalign)"),
]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("misalign", "capability-misalignment gates for language models")
    for name, default, help_text in OPTIONS:
        dest = "misalign_" + name.replace("-", "_")
        group.addoption(f"--misalign-{name}", dest=dest, default=None,
                        help=f"{help_text} (ini: {dest}{'' if default is None else f'; default: {default}'})")
        parser.addini(dest, help_text, default=default)
    group.addoption("--misalign-trust-remote-code", dest="misalign_trust_remote_code", action="store_true",
                    default=None, help="allow the model repository's own Python code to run (off by default)")
    parser.addini("misalign_trust_remote_code", "allow remote code (true/false)", type="bool", default=False)


def _get(config: pytest.Config, name: str):
    dest = "misalign_" + name.replace("-", "_")
    value = config.getoption(dest)
    return config.getini(dest) if value is None else value


def _positive_int(config: pytest.Config, name: str, value, allow_auto: bool = False):
    if value in (None, ""):
        return None
    if allow_auto and str(value) == "auto":
        return "auto"
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        auto = " or 'auto'" if allow_auto else ""
        raise pytest.UsageError(f"--misalign-{name} must be a positive integer{auto}, got {value!r}")
    return number


def options_from_config(config: pytest.Config) -> Options:
    model = _get(config, "model") or None
    device, dtype = str(_get(config, "device")), str(_get(config, "dtype"))
    if dtype not in ("auto", "float32", "bfloat16", "float16"):
        raise pytest.UsageError(f"--misalign-dtype must be auto, float32, bfloat16 or float16, got {dtype!r}")
    model_config = None
    if model:
        model_config = ModelConfig(
            model=str(model), device=device, dtype=dtype,
            batch_size=_positive_int(config, "batch-size", _get(config, "batch-size"), allow_auto=True),
            trust_remote_code=bool(_get(config, "trust-remote-code")),
            cache_dir=_get(config, "cache-dir") or None,
        )
    return Options(model=model_config, limit=_positive_int(config, "limit", _get(config, "limit")),
                   json_path=_get(config, "json") or None)


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

    config.stash[EVALUATOR] = Evaluator(options_from_config(config), loader)


def pytest_unconfigure(config: pytest.Config) -> None:
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
    def collect(self):
        spec = parse_suite_file(self.path)
        for marker in spec.markers:
            self.add_marker(marker)
        for task in spec.tasks:
            yield TaskCollector.from_parent(self, name=task.name, suite=spec, task=task)


class TaskCollector(_PlainErrors, pytest.Collector):
    def __init__(self, *, suite: SuiteSpec, task: TaskSpec, **kwargs) -> None:
        super().__init__(**kwargs)
        self.suite, self.task = suite, task
        for marker in task.markers:
            self.add_marker(marker)

    def collect(self):
        evaluator = self.config.stash[EVALUATOR]
        prepared = prepare_task(self.suite, self.task, cap=evaluator.options.limit)
        for check, name in zip(self.task.checks, self.task.check_names()):
            yield CheckItem.from_parent(self, name=name, prepared=prepared, check=check)

    def reportinfo(self):
        return self.path, (self.task.line or 1) - 1, f"{self.suite.name}::{self.task.name}"


class CheckFailed(MisalignError):
    pass


class CheckItem(_PlainErrors, pytest.Item):
    def __init__(self, *, prepared: PreparedTask, check: CheckSpec, **kwargs) -> None:
        super().__init__(**kwargs)
        self.prepared, self.check = prepared, check
        self.add_marker("misalign")

    def runtest(self) -> None:
        evaluator = self.config.stash[EVALUATOR]
        if not evaluator.configured:
            pytest.skip("no model configured: pass --misalign-model=NAME (e.g. smollm2-135m) "
                        "or set misalign_model in the ini file")
        outcome = evaluator.outcome(self.prepared)
        result: CheckResult = run_check(self.check, outcome, self.name)
        evaluator.record_check(self.prepared, result)
        self.user_properties.append(("misalign", result.message()))
        if not result.passed:
            raise CheckFailed(result.message())

    def reportinfo(self):
        line = (self.check.line or self.prepared.spec.line or 1) - 1
        return self.path, line, f"{self.prepared.suite.name}::{self.prepared.spec.name}::{self.name}"


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
    terminalreporter.write_line(f"model: {info.name} ({info.source}) on {info.device}, {info.dtype}")
    for (name, path), records in by_suite(evaluator.records).items():
        terminalreporter.write_line("")
        terminalreporter.write_line(f"suite {name} ({path})", bold=True)
        terminalreporter.write_line(suite_tables(records))
    if evaluator.options.json_path:
        terminalreporter.write_line("")
        terminalreporter.write_line(f"results written to {evaluator.options.json_path}")


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    evaluator = session.config.stash.get(EVALUATOR, None)
    if evaluator is None or not evaluator.options.json_path:
        return
    model = evaluator.backend.info if evaluator.loaded else None
    write_json_atomic(evaluator.options.json_path,
                      build_results(evaluator.records, model, evaluator.load_seconds))
