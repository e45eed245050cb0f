"""The session's evaluator: loads the model once (lazily), scores each task once, keeps the results.

pytest glue (`plugin.py`) asks it for outcomes; reports and the results file read what it recorded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from pathlib import Path

from .backends.base import Backend, ModelConfig, Progress, as_backend
from .backends.registry import display_model
from .baseline import Baseline
from .checks import CheckResult
from .errors import MisalignError
from .scoring import TaskOutcome, score_task
from .spec import SuiteSpec
from .tasks import PreparedTask


class ModelUnavailable(MisalignError):
    """The model could not be loaded; every test that needs it fails with this message."""


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


@dataclass
class TaskRecord:
    outcome: TaskOutcome
    seconds: float
    checks: dict[str, CheckResult] = field(default_factory=dict)  # by test name, in run order


class Evaluator:
    def __init__(self, options: Options, loader: Callable[[ModelConfig], Backend],
                 progress: Callable[[str, int, int], Progress] | None = None) -> None:
        self.options = options
        self._loader = loader
        self._progress = progress  # factory(label, n_items, n_requests) -> progress callback
        self._backend: Backend | None = None
        self._load_error: str | None = None
        self.records: dict[tuple[str, str], TaskRecord] = {}
        self.suite_checks: dict[str, dict[str, CheckResult]] = {}  # by suite path, then test name
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
                    from .cache import CachedBackend, cache_path

                    backend = CachedBackend(backend, cache_path(self.options.model.cache_dir))
                self._backend = backend
            except Exception as exc:  # noqa: BLE001 - reported to the user verbatim, once per test
                self._load_error = f"cannot load model {display_model(self.options.model.model)!r}: {exc}"
                raise ModelUnavailable(self._load_error) from None
            self.load_seconds = time.perf_counter() - start
        return self._backend

    @property
    def loaded(self) -> bool:
        return self._backend is not None

    def outcome(self, task: PreparedTask) -> TaskOutcome:
        record = self.records.get(task.key)
        if record is None:
            backend = self.backend
            start = time.perf_counter()
            progress, hits = None, backend.stats.get("cache_hits")
            if self._progress is not None:
                n_requests = len(task.instances) if task.spec.is_generation else sum(
                    len(inst.choices) for inst in task.instances)
                progress = self._progress(f"{task.suite.name}::{task.spec.name}", len(task.instances), n_requests)
            try:
                outcome = score_task(task, backend, progress=progress)
            except BaseException:
                if progress is not None and hasattr(progress, "close"):
                    progress.close("interrupted")
                raise
            if progress is not None and hasattr(progress, "close"):
                cached = backend.stats.get("cache_hits")
                progress.close(from_cache=cached - hits if hits is not None and cached is not None else None)
            record = TaskRecord(outcome, time.perf_counter() - start)
            self.records[task.key] = record
        return record.outcome

    def record_check(self, task: PreparedTask, result: CheckResult) -> None:
        self.records[task.key].checks[result.name] = result

    def record_suite_check(self, suite: SuiteSpec, result: CheckResult) -> None:
        self.suite_checks.setdefault(str(suite.path), {})[result.name] = result

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None
