"""pytest glue: options, collection of suite files, one test per check, the report, the results file.

Kept thin: everything it does is delegated to spec / tasks / runner / checks / report / results.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .session import distributed, outcomes
from .backends.base import ModelConfig
from .session.nodes import SuiteFile
from .session.options import add_options, get, options_from_config
from .report.terminal import by_suite, model_header, suite_tables, unscored_lines
from .report.results import build_results, mark_incomplete, write_json_atomic
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

    config.stash[EVALUATOR] = Evaluator(options_from_config(config), loader, progress_factory(config))
    outcomes.configure(config)
    distributed.configure(config, config.stash[EVALUATOR])
    from .report.ci import configure as configure_ci

    configure_ci(config, get(config, "markdown") or None)
    from .report.html import configure as configure_html

    evaluator = config.stash[EVALUATOR]
    configure_html(config, get(config, "html") or None, lambda: build_results(evaluator, evaluator.model_info))


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
    evaluator = config.stash.get(EVALUATOR, None)
    if evaluator is None or not (evaluator.records or evaluator.unscored):
        return
    terminalreporter.write_sep("=", "misalign report")
    if evaluator.model_info is not None:
        for line in model_header(evaluator.model_info):
            terminalreporter.write_line(line)
    for line in _cache_status(evaluator):
        terminalreporter.write_line(line)
    width = None if config.get_verbosity() > 0 else terminalreporter._tw.fullwidth
    for (name, path), records in by_suite(evaluator.records).items():
        terminalreporter.write_line("")
        terminalreporter.write_line(f"suite {name} ({path})", bold=True)
        terminalreporter.write_line(suite_tables(records, evaluator.suite_checks.get(path, {}),
                                                 evaluator.options.gate, width, evaluator.options.strict))
    lines = unscored_lines(evaluator.unscored.values())
    if lines:
        terminalreporter.write_line("")
        for line in lines:
            terminalreporter.write_line(line, yellow=True)
    terminalreporter.write_line("")
    terminalreporter.write_line(f"gate: {evaluator.options.gate}{' (strict)' if evaluator.options.strict else ''} — "
                                + {"point": "the point estimate decides; intervals are shown",
                                   "sequential": "only a confident pass passes; tasks stop once anytime-valid "
                                                 "sequences settle their checks"}.get(evaluator.options.gate,
                                                                                     "only a confident pass passes")
                                + ("; inconclusive, degenerate and skipped also fail" if evaluator.options.strict else ""))
    if evaluator.options.json_path:
        terminalreporter.write_line(f"results written to {evaluator.options.json_path}")


def _cache_status(evaluator: Evaluator) -> list[str]:
    from .backends.cache import CachedBackend

    if evaluator.loaded and isinstance(evaluator.backend, CachedBackend):
        return [evaluator.backend.status()]
    return [f"worker {i}: {line}" for i, line in enumerate(evaluator.worker_cache_status)]


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    """Exit code (a broken setup is not a failed model), then the results file (workers: to the controller)."""
    evaluator = session.config.stash.get(EVALUATOR, None)
    if evaluator is None:
        return
    if distributed.is_worker(session.config):
        distributed.send(session.config, evaluator)
        return
    run = outcomes.finish(session)
    if evaluator.options.json_path:
        write_json_atomic(evaluator.options.json_path, build_results(evaluator, evaluator.model_info, run))
