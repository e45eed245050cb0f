"""pytest glue: options, collection of suite files, one test per check, the report, the results file.

Kept thin: everything it does is delegated to spec / tasks / runner / checks / report / results.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .session import distributed, outcomes
from .backends.base import ModelConfig
from .checks import KINDS, KindError, KindRegistry
from .session.nodes import SuiteFile
from .session.options import add_options, get, options_from_config
from .report.build import build_run
from .report.ci import RUN_MODEL
from .report.results import mark_incomplete, write_json_atomic
from .report.terminal import report_lines
from .runner.evaluator import EVALUATOR, Evaluator
from .spec.yamlio import looks_like_suite

__all__ = ["EVALUATOR", "SuiteFile"]


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

    from .session.progress import progress_factory

    config.stash[EVALUATOR] = Evaluator(options_from_config(config), loader, progress_factory(config),
                                        check_kinds(config))
    outcomes.configure(config)
    distributed.configure(config, config.stash[EVALUATOR])
    from .report.ci import configure as configure_ci

    configure_ci(config, get(config, "markdown") or None)
    from .report.html import configure as configure_html

    configure_html(config, get(config, "html") or None, lambda: config.stash.get(RUN_MODEL, None))


def check_kinds(config: pytest.Config) -> KindRegistry:
    """The built-in check kinds plus those plugins add (`pytest_misalign_check_kinds`); a bad or
    clashing declaration is a usage error naming the plugin."""
    kinds = KINDS
    for impl in config.hook.pytest_misalign_check_kinds.get_hookimpls():
        try:
            given = impl.function(**{name: config for name in impl.argnames})  # `config` is its one argument
            kinds = kinds.extended(given or (), origin=impl.plugin_name)
        except KindError as exc:
            raise pytest.UsageError(f"pytest-misalign: {exc}") from None
    return kinds


def pytest_unconfigure(config: pytest.Config) -> None:
    from .report.ci import unconfigure as unconfigure_ci

    unconfigure_ci(config)
    from .report.html import unconfigure as unconfigure_html

    unconfigure_html(config)
    outcomes.unconfigure(config)
    evaluator = config.stash.get(EVALUATOR, None)
    if evaluator is not None:
        evaluator.close()


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    # Never raises: pytest collects a named file through its folder, so an error from any YAML file
    # beside it (a CI config, say) would leave the named suite uncollected. A YAML file named on the
    # command line that cannot be loaded is collected, to show why. The siblings of a named file
    # are dropped by pytest anyway: they are not even read.
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    session = parent.session
    named = session.isinitpath(file_path)
    if not named and not any(session.isinitpath(folder) for folder in file_path.parents):
        return None
    if looks_like_suite(file_path, named=named):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


@pytest.fixture(scope="session")
def misalign_model(pytestconfig: pytest.Config):
    """The session's loaded model (a `Backend`: `.loglikelihood()`, `.generate()`, `.info`)."""
    evaluator = pytestconfig.stash[EVALUATOR]
    if not evaluator.configured:
        pytest.skip("no model configured: pass --misalign-model=NAME")
    return evaluator.backend


def pytest_sessionstart(session: pytest.Session) -> None:
    """A results file from an earlier run must not pass for this one: marked incomplete until the end."""
    evaluator = session.config.stash.get(EVALUATOR, None)
    if evaluator is not None and evaluator.options.json_path and not distributed.is_worker(session.config):
        mark_incomplete(evaluator.options.json_path)


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    """The misalign report, rendered from the run model (`report/terminal.py`)."""
    evaluator, run = config.stash.get(EVALUATOR, None), config.stash.get(RUN_MODEL, None)
    if evaluator is None or run is None or not any(s.tasks or s.unscored or s.checks for s in run.suites):
        return
    terminalreporter.write_sep("=", "misalign report")
    verbose = config.get_verbosity() > 0
    width = None if verbose else terminalreporter._tw.fullwidth
    for line, markup in report_lines(run, width, _cache_status(evaluator), verbose):
        terminalreporter.write_line(line, **markup)
    if evaluator.options.json_path:
        terminalreporter.write_line(f"results written to {evaluator.options.json_path}")


def _cache_status(evaluator: Evaluator) -> list[str]:
    from .backends.cache import CachedBackend

    if evaluator.loaded and isinstance(evaluator.backend, CachedBackend):
        return [evaluator.backend.status()]
    return [f"worker {i}: {line}" for i, line in enumerate(evaluator.worker_cache_status)]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    """Exit code (a broken setup is not a failed model), then the run model, built once, and the results
    file rendered from it (xdist workers send what they recorded to the controller instead)."""
    evaluator = session.config.stash.get(EVALUATOR, None)
    if evaluator is None:
        return
    if distributed.is_worker(session.config):
        distributed.send(session.config, evaluator)
        return
    run = build_run(evaluator, evaluator.model_info, outcomes.finish(session))
    session.config.stash[RUN_MODEL] = run
    if evaluator.options.json_path:
        write_json_atomic(evaluator.options.json_path, run.to_json())
