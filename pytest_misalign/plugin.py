"""pytest glue: options, collection of suite files, one test per check, the report, the results file.

Kept thin: everything it does is delegated to spec / tasks / runner / checks / report / results.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .backends.base import ModelConfig
from .backends.registry import BACKEND_CHOICES
from .baseline import BaselineError, BaselineTask, compare, load_baseline
from .checks import GATES, CheckResult, run_check, run_suite_check
from .errors import DataUnavailable, MisalignError
from .report import by_suite, model_header, suite_tables
from .results import build_results, write_json_atomic
from .runner import Evaluator, Options
from .spec import CheckSpec, SuiteSpec, TaskSpec, parse_suite_file, unique_check_names
from .tasks import PreparedTask, prepare_task
from .yamlio import looks_like_suite

EVALUATOR = pytest.StashKey[Evaluator]()

# (option, ini key, default, help)
OPTIONS = [
    ("model", None, "model to evaluate: a Hugging Face id, a local directory, a .gguf file, "
                    "or the embedded alias 'smollm2-135m'"),
    ("backend", "auto", "engine that scores the model: auto (an http(s):// model -> openai, else hf), "
                        "hf, vllm or openai"),
    ("model-args", None, "key=value,... handed to the engine, typed (e.g. tensor_parallel_size=4,"
                         "max_model_len=8192 for vllm; model=NAME,max_concurrency=16 for openai)"),
    ("device", "auto", "auto (CUDA when present), cpu, cuda, cuda:N or mps"),
    ("dtype", "auto", "auto (bfloat16 on CUDA, float32 on CPU), float32, bfloat16 or float16"),
    ("batch-size", "auto", "requests per forward pass: a positive integer or 'auto'"),
    ("limit", None, "cap the items per task (seeded random subsample) for quick local runs"),
    ("json", None, "write machine-readable results to this path (atomically)"),
    ("html", None, "write a self-contained HTML report here (plots, per-suite tables, item browser; no network)"),
    ("gate", "point", "how verdicts fail tests: 'point' (the point estimate decides; the interval is shown) "
                      "or 'confident' (only a confident pass passes)"),
    ("baseline", None, "an earlier results file: adds a paired `regression` test to every task in both"),
    ("max-drop", "0.02", "largest allowed accuracy drop against the baseline (per task: regression.max_drop)"),
    ("data-dir", None, "serve hub datasets (`data.hf`) from local files here: `hf.local`, or "
                       "<path>/<name>/<split>.jsonl"),
    ("show-items", "3", "under a failing check, show up to N of the items that failed (wrong items of the "
                        "worst group, flipped pairs, inconsistent variants); 0 turns it off"),
    ("cache-dir", None, "where converted models and scored results are cached (default: ~/.cache/pytest-misalign)"),
    ("markdown", None, "write a GitHub-flavoured markdown summary here (failed checks first); also appended to "
                       "$GITHUB_STEP_SUMMARY when that is set"),
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
    group.addoption("--misalign-no-cache", dest="misalign_no_cache", action="store_true", default=None,
                    help="score everything with the model; neither read nor write the result cache "
                         "(<cache dir>/results.sqlite)")
    parser.addini("misalign_no_cache", "disable the result cache (true/false)", type="bool", default=False)


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


def _model_args(config: pytest.Config) -> dict:
    from .backends.model_args import ModelArgsError, parse_model_args

    try:
        return parse_model_args(_get(config, "model-args"))
    except ModelArgsError as exc:
        raise pytest.UsageError(f"--misalign-model-args: {exc}") from None


def _check_backend(config: pytest.Config, model_config: ModelConfig) -> None:
    """Unknown backend names and missing optional packages are usage errors, before any test runs
    (unless a plugin's `pytest_misalign_make_backend` takes over the name)."""
    from .backends.errors import ModelLoadError
    from .backends.registry import check_available, choose

    name = model_config.backend.strip().lower()
    if name != "auto" and name not in BACKEND_CHOICES and _has_custom_backend_hook(config):
        return
    try:
        check_available(choose(model_config))
    except ModelLoadError as exc:
        raise pytest.UsageError(f"--misalign-backend: {exc}") from None


def _has_custom_backend_hook(config: pytest.Config) -> bool:
    impls = config.pluginmanager.hook.pytest_misalign_make_backend.get_hookimpls()
    return any(impl.plugin_name != __name__ and impl.plugin is not sys.modules[__name__] for impl in impls)


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
            backend=str(_get(config, "backend") or "auto"), model_args=_model_args(config),
        )
        _check_backend(config, model_config)
    gate = str(_get(config, "gate"))
    if gate not in GATES:
        raise pytest.UsageError(f"--misalign-gate must be one of {', '.join(GATES)}, got {gate!r}")
    max_drop = _get(config, "max-drop")
    try:
        max_drop = float(max_drop)
        assert 0.0 <= max_drop <= 1.0
    except (TypeError, ValueError, AssertionError):
        raise pytest.UsageError(f"--misalign-max-drop must be a rate in [0, 1], got {max_drop!r}") from None
    baseline = None
    if _get(config, "baseline"):
        try:
            baseline = load_baseline(_get(config, "baseline"))
        except BaselineError as exc:
            raise pytest.UsageError(f"--misalign-baseline: {exc}") from None
    data_dir = _get(config, "data-dir")
    show_items = _get(config, "show-items")
    show_items = 0 if str(show_items).strip() == "0" else (_positive_int(config, "show-items", show_items) or 3)
    return Options(model=model_config, limit=_positive_int(config, "limit", _get(config, "limit")),
                   show_items=show_items,
                   json_path=_get(config, "json") or None, gate=gate, baseline=baseline, max_drop=max_drop,
                   data_dir=Path(data_dir).resolve() if data_dir else None,
                   cache=not _get(config, "no-cache"))


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

    configure_ci(config, _get(config, "markdown") or None)
    from .html_report import configure as configure_html

    evaluator = config.stash[EVALUATOR]
    configure_html(config, _get(config, "html") or None,
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
