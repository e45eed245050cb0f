"""pytest-xdist: every task scored once, one results file and one report, written by the controller.

Scheduling. `TaskScheduling` (a loadscope scheduler, returned from `pytest_xdist_make_scheduler` for
`--dist load` (the default of `-n`), `loadscope`, `loadgroup` and `worksteal`) sends a task's checks to
one worker as one unit of work, and a whole suite file when the suite has suite-level checks (`spread`,
`shift` read every task's outcome); other tests are spread one by one as with `load`. (xdist's own
`xdist_group` markers cannot do it: pytest 9.2 no longer lets xdist rename node ids, which loadgroup
relies on.) `loadfile` already keeps a suite file together and is left alone; `each` runs everything on
every worker by design, and the controller keeps the first copy of each task.

Results. At the end of its session each worker pickles what it recorded (task records, suite checks,
skipped and errored tasks, the model's info) into `config.workeroutput`; the controller merges them
in `pytest_testnodedown`, in suite and task order, and then writes the results file and prints the
report exactly as a single process does. Workers write nothing themselves.

Memory. Each worker loads its own copy of the model: plan for N times the single-process memory (the
embedded 135M model: ~1.2 GB peak RSS per worker on CPU); use one worker per GPU.
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING

import pytest

from . import outcomes

if TYPE_CHECKING:
    from ..runner.evaluator import Evaluator

WORKER_OUTPUT_KEY = "misalign"
SCHEDULED_MODES = ("load", "loadscope", "loadgroup", "worksteal")


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def xdist_active(config: pytest.Config) -> bool:
    return config.pluginmanager.hasplugin("xdist") and getattr(config.option, "dist", "no") != "no"


def configure(config: pytest.Config, evaluator: "Evaluator") -> None:
    """On the controller: register the scheduler and the collector of worker results."""
    if xdist_active(config) and not is_worker(config):
        config.pluginmanager.register(WorkerResults(config, evaluator), "misalign-xdist")


def suite_scope(nodeid: str, suites_with_checks: set[str]) -> str | None:
    """The unit of work a misalign node belongs to (None: not a suite node)."""
    parts = nodeid.split("::")
    if not parts[0].endswith((".yaml", ".yml")) or len(parts) < 2:
        return None
    return parts[0] if parts[0] in suites_with_checks or len(parts) == 2 else "::".join(parts[:2])


def send(config: pytest.Config, evaluator: "Evaluator") -> None:
    """On a worker, at session end: hand everything recorded to the controller."""
    cache_status = None
    if evaluator.loaded and hasattr(evaluator.backend, "status"):
        cache_status = evaluator.backend.status()
    payload = {
        "records": evaluator.records, "suite_checks": evaluator.suite_checks, "unscored": evaluator.unscored,
        "not_run": evaluator.not_run,
        "info": evaluator.model_info, "load_seconds": evaluator.load_seconds, "cache_status": cache_status,
    }
    try:
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - said by the controller: results lost is a broken setup
        worker = getattr(config, "workerinput", {}).get("workerid", "a worker")
        data = pickle.dumps({"error": f"{worker} could not send its results to the controller: "
                                      f"{type(exc).__name__}: {exc}"})
    config.workeroutput[WORKER_OUTPUT_KEY] = data


def merge(evaluator: "Evaluator", payload: dict) -> None:
    for key, record in payload["records"].items():
        evaluator.records.setdefault(key, record)
        evaluator.unscored.pop(key, None)
    for key, unscored in payload["unscored"].items():
        if key not in evaluator.records:
            evaluator.unscored.setdefault(key, unscored)
    for key, tests in payload["not_run"].items():
        for name, entry in tests.items():
            evaluator.not_run.setdefault(key, {}).setdefault(name, entry)
    for path, checks in payload["suite_checks"].items():
        for name, result in checks.items():
            evaluator.suite_checks.setdefault(path, {}).setdefault(name, result)
    if evaluator.remote_info is None and payload["info"] is not None:
        evaluator.remote_info = payload["info"]
        evaluator.load_seconds = payload["load_seconds"]
    if payload["cache_status"]:
        evaluator.worker_cache_status.append(payload["cache_status"])
    _sort(evaluator)


def _sort(evaluator: "Evaluator") -> None:
    """Suites and tasks in file order, whichever worker finished first."""
    def order(item):
        record = item[1]
        task = record.outcome.task
        names = [t.name for t in task.suite.tasks]
        return str(task.suite.path), names.index(task.spec.name) if task.spec.name in names else 0

    evaluator.records = dict(sorted(evaluator.records.items(), key=order))


class WorkerResults:
    """Controller side: tell workers to group, and collect each worker's results as it shuts down."""

    def __init__(self, config: pytest.Config, evaluator: "Evaluator") -> None:
        self.config, self.evaluator = config, evaluator

    @pytest.hookimpl(optionalhook=True, tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log):
        if config.getvalue("dist") in SCHEDULED_MODES:
            return _task_scheduling()(config, log)
        return None

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        data = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
        if data is None:
            return
        payload = pickle.loads(data)  # our own worker processes of this session
        if "error" in payload:  # its results are lost: the pipeline is broken, not the model
            outcomes.note_broken(self.config, "pytest-xdist", payload["error"])
            return
        merge(self.evaluator, payload)


def _task_scheduling():
    from xdist.scheduler import LoadScopeScheduling

    class TaskScheduling(LoadScopeScheduling):
        """loadscope, with a misalign task (or a suite with suite-level checks) as the scope."""

        _suites_with_checks: set[str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self._suites_with_checks is None:  # a suite-level check's node id is `file::check`
                collection = self.collection or []
                self._suites_with_checks = {n.split("::")[0] for n in collection
                                            if n.split("::")[0].endswith((".yaml", ".yml")) and n.count("::") == 1}
            return suite_scope(nodeid, self._suites_with_checks) or nodeid

    return TaskScheduling
