"""The session's evaluator: loads the model once (lazily), scores each task once, keeps the results.

pytest glue (`plugin.py`) asks it for outcomes; reports and the results file read what it recorded.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from pathlib import Path

import pytest

from ..backends.base import Backend, ModelConfig, Progress, as_backend
from ..backends.registry import display_model
from ..baseline.match import Baseline
from ..checks import KINDS, CheckResult, KindRegistry
from ..sequential import check_result, start_run
from ..sequential.suite import suite_result
from ..errors import MisalignError
from ..scoring.outcome import TaskOutcome
from ..scoring.score import score_task
from ..spec.model import CheckSpec, SuiteSpec
from ..tasks.instance import PreparedTask

if TYPE_CHECKING:
    from ..sequential import SequentialRun


class SetupError(MisalignError):
    """The pipeline is broken (no model in strict mode, data missing, model or backend failing):
    reported as a pytest ERROR, and the session exits with `outcomes.EXIT_BROKEN_SETUP`."""


class ModelUnavailable(SetupError):
    """The model could not be loaded; every test that needs it errors with this message."""


class ScoringFailed(SetupError):
    """The backend failed while scoring a task (a server went away, CUDA ran out of memory...)."""


@dataclass
class Unscored:
    """A task that has no results: skipped (data unavailable, no model) or errored. In the results file."""

    suite: SuiteSpec
    task: str
    status: str  # "skipped" | "error"
    reason: str


@dataclass
class Options:
    model: ModelConfig | None
    limit: int | None = None
    json_path: str | None = None
    gate: str = "point"
    baseline: Baseline | None = None
    max_drop: float = 0.02
    data_dir: Path | None = None
    cache: bool = True  # persistent result cache (cache.py); off with --misalign-no-cache
    show_items: int = 3  # items shown under a failing check (--misalign-show-items)
    strict: bool = False  # release-gate mode (--misalign-strict)
    results_cache: str | None = None  # the result cache's file (default: <cache dir>/results.sqlite)
    data_roots: tuple[Path, ...] | None = None  # data files must resolve inside (spec_paths); None: anywhere
    chunk: int | None = None  # sequential gate: items per chunk (--misalign-chunk; None: 1/20 of the task)
    seed: int = 0  # sequential gate: the scoring order's seed (--misalign-seed)
    num_fewshot: int | None = None  # shots for tasks with `fewshot:` (--misalign-num-fewshot; None: as declared)

    @property
    def sequential(self) -> bool:
        return self.gate == "sequential"


@dataclass
class TaskRecord:
    outcome: TaskOutcome
    seconds: float
    checks: dict[str, CheckResult] = field(default_factory=dict)  # by test name, in run order
    run: "SequentialRun | None" = None  # the sequential gate's state (`--misalign-gate=sequential`)
    all_cached: bool = False  # every request came from the result cache (its seconds time nothing)


class Evaluator:
    def __init__(self, options: Options, loader: Callable[[ModelConfig], Backend],
                 progress: Callable[[str, int, int], Progress] | None = None, kinds: KindRegistry = KINDS) -> None:
        self.options = options
        self.kinds = kinds  # the check kinds of this session: built-in, and those plugins add
        self._loader = loader
        self._progress = progress  # factory(label, n_items, n_requests) -> progress callback
        self._backend: Backend | None = None
        self._load_error: str | None = None
        self.records: dict[tuple[str, str], TaskRecord] = {}
        self.unscored: dict[tuple[str, str], Unscored] = {}  # by task key; never also in records
        self.remote_info = None  # ModelInfo sent by xdist workers (the controller loads no model)
        self.worker_cache_status: list[str] = []  # the result cache's status line from each xdist worker
        self.suite_checks: dict[str, dict[str, CheckResult]] = {}  # by suite path, then test name
        # tests without a result: (suite path, task or None) -> test name -> (status, reason)
        self.not_run: dict[tuple[str, str | None], dict[str, tuple[str, str]]] = {}
        self.load_seconds: float | None = None

    @property
    def configured(self) -> bool:
        return self.options.model is not None

    @property
    def backend(self) -> Backend:
        """The model, loaded on first use and at most once per session (a failure is remembered)."""
        if self._backend is None:
            if self._load_error is not None:
                raise ModelUnavailable(self._load_error)
            start = time.perf_counter()
            try:
                backend = as_backend(self._loader(self.options.model), "pytest_misalign_make_backend")
                if self.options.cache:
                    from ..backends.cache import CachedBackend, cache_path

                    backend = CachedBackend(backend, cache_path(self.options.model.cache_dir,
                                                                self.options.results_cache))
                self._backend = backend
            except Exception as exc:  # noqa: BLE001 - reported to the user verbatim, once per test
                self._load_error = f"cannot load model {display_model(self.options.model.model)!r}: {exc}"
                raise ModelUnavailable(self._load_error) from None
            self.load_seconds = time.perf_counter() - start
        return self._backend

    @property
    def loaded(self) -> bool:
        return self._backend is not None

    @property
    def model_info(self):
        """The model's `ModelInfo`: from the loaded backend, or (xdist controller) from a worker."""
        return self._backend.info if self._backend is not None else self.remote_info

    def record_unscored(self, suite: SuiteSpec, task: str, status: str, reason: str) -> None:
        key = (str(suite.path), task)
        if key not in self.records:
            self.unscored.setdefault(key, Unscored(suite, task, status, reason))

    def record_not_run(self, suite: SuiteSpec, task: str | None, name: str, status: str, reason: str) -> None:
        """A test that has no result: its task was not scored (`status` "not scored") or it, or its task,
        failed to run ("error"). `task` None: a suite-level check. The first reason is kept."""
        self.not_run.setdefault((str(suite.path), task), {}).setdefault(name, (status, reason))

    def outcome(self, task: PreparedTask) -> TaskOutcome:
        """The task's outcome, scored on first use; a scoring failure is remembered for the task."""
        record = self.records.get(task.key)
        if record is not None:
            return record.outcome
        failed = self.unscored.get(task.key)
        if failed is not None and failed.status == "error":
            raise ScoringFailed(failed.reason)
        try:
            backend = self.backend
        except ModelUnavailable as exc:
            self.record_unscored(task.suite, task.spec.name, "error", str(exc))
            raise
        start = time.perf_counter()
        progress, hits = self._start_progress(task), backend.stats.get("cache_hits")
        run = self._sequential_run(task) if self.options.sequential else None
        try:
            if run is not None:
                run.run(backend, progress)
                outcome = run.outcome()
            else:
                outcome = score_task(task, backend, progress=progress)
        except Exception as exc:  # noqa: BLE001 - a backend failure is this task's error, said once
            reason = _failure(task, exc, progress)
            self.record_unscored(task.suite, task.spec.name, "error", reason)
            raise ScoringFailed(reason) from exc
        except BaseException:
            _close(progress, "interrupted")
            raise
        cached = backend.stats.get("cache_hits")
        from_cache = cached - hits if hits is not None and cached is not None else None
        _close(progress, run.stop_text() if run is not None and run.n_scored < run.n else "", from_cache=from_cache)
        requests = getattr(progress, "n_requests", None)
        self.records[task.key] = TaskRecord(outcome, time.perf_counter() - start, run=run,
                                            all_cached=bool(from_cache and requests and from_cache >= requests))
        return outcome

    def _sequential_run(self, task: PreparedTask):
        return start_run(task, self.options, self.kinds)

    def check_result(self, task: PreparedTask, check: CheckSpec, name: str) -> CheckResult:
        """A task-level check's result: its kind's fixed-n run, or under the sequential gate the result
        its sequence (or final test) settled on. The task is scored first."""
        outcome = self.outcome(task)
        if self.options.sequential:
            return check_result(self.records[task.key].run, name)
        return self.kinds.run(check, outcome, name)

    def _start_progress(self, task: PreparedTask) -> Progress | None:
        if self._progress is None:
            return None
        n_requests = len(task.instances) if task.spec.is_generation or task.spec.is_perplexity else sum(
            len(inst.choices) for inst in task.instances)
        return self._progress(f"{task.suite.name}::{task.spec.name}", len(task.instances), n_requests)

    def suite_check_result(self, suite: SuiteSpec, check: CheckSpec, name: str,
                           tasks: dict[str, PreparedTask]) -> CheckResult:
        """A suite-level check over its tasks' outcomes (scored first)."""
        outcomes = {task_name: self.outcome(task) for task_name, task in tasks.items()}
        return self.kinds.run_suite(check, outcomes, name)

    def sequential_suite_result(self, suite: SuiteSpec, check: CheckSpec, name: str,
                                tasks: dict[str, PreparedTask]) -> CheckResult:
        """A suite-level check under the sequential gate: resumes the tasks it reads while it is
        undecided (sequential/suite.py); a backend failure is a `ScoringFailed`, as in `outcome`."""
        runs = {name_: self.records[task.key].run for name_, task in tasks.items()}

        def advance(run) -> None:
            run.advance(self.backend)
            self.records[run.task.key].outcome = run.outcome()

        try:
            return suite_result(check, self.kinds[check.kind], runs, name, advance)
        except MisalignError:
            raise
        except Exception as exc:  # noqa: BLE001 - a backend failure while resuming, said once
            raise ScoringFailed(f"scoring for suite check {suite.name}::{name} failed: "
                                f"{type(exc).__name__}: {exc}") from exc

    def record_check(self, task: PreparedTask, result: CheckResult) -> None:
        self.records[task.key].checks[result.name] = result

    def record_suite_check(self, suite: SuiteSpec, result: CheckResult) -> None:
        self.suite_checks.setdefault(str(suite.path), {})[result.name] = result

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def _close(progress, note: str = "", **kwargs) -> None:
    if progress is not None and hasattr(progress, "close"):
        progress.close(note, **kwargs)


def _failure(task: PreparedTask, exc: BaseException, progress) -> str:
    """One message for a backend failure: the task, how far it got, the error, where it came from."""
    done = getattr(progress, "requests_done", None)
    total = getattr(progress, "n_requests", None)
    where = f" after {done} of {total} requests" if done is not None and total else ""
    _close(progress, f"FAILED{where}", failed=True)
    text = str(exc) if isinstance(exc, MisalignError) else f"{type(exc).__name__}: {exc}"
    reason = f"scoring {task.suite.name}::{task.spec.name} failed{where}: {text}"
    if not isinstance(exc, MisalignError):
        frames = traceback.extract_tb(exc.__traceback__)[-3:]
        reason += "\n  raised at " + " <- ".join(f"{Path(f.filename).name}:{f.lineno} ({f.name})"
                                               for f in reversed(frames))
    return reason


EVALUATOR = pytest.StashKey[Evaluator]()  # the session's evaluator, in `config.stash`
