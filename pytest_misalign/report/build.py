"""Build the run model (`model.py`) once from what the session's evaluator recorded.

This is where a run's statistics for display are computed -- a task's Wilson interval, its group
tables, diagnostics, generation-metric and perplexity summaries -- so that no renderer computes any.
On pytest-xdist the controller builds it from the records its workers sent (`session/distributed.py`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .. import __version__, stats
from ..checks import N_RESAMPLES, CheckResult
from ..metrics import CHOICE_METRICS, GENERATION_METRICS, get, task_value
from ..runner.evaluator import Evaluator, TaskRecord
from ..scoring.diagnostics import diagnose
from ..scoring.documents import group_perplexity, task_perplexity
from ..scoring.outcome import TaskOutcome
from ..spec.model import SuiteSpec, TaskSpec, unique_check_names
from ..spec.suite import tasks_read
from .items import item_records, num
from .model import DEGENERATE, CheckModel, RunModel, SuiteModel, TaskModel, UnscoredModel


def check_model(result: CheckResult, gate: str, strict: bool = False, *, n: int | None = None,
                line: int | None = None, tasks: list[str] | None = None) -> CheckModel:
    """A check's result in the run model's terms (its status, its test's outcome under `gate`)."""
    limits = [{"name": lim.name, "param": lim.param, "value": num(lim.value), "max": lim.max,
               "interval": [num(lim.interval[0]), num(lim.interval[1])], "verdict": lim.verdict,
               "point_verdict": lim.point_verdict} for lim in result.limits] or None
    worst = [{"group": g.group, "n": g.n, "accuracy": num(g.accuracy)} for g in result.worst] or None
    return CheckModel(
        name=result.name, kind=result.kind, by=result.by, value=num(result.value), threshold=result.threshold,
        min=result.min, max=result.max, interval=[num(result.interval[0]), num(result.interval[1])],
        confidence=result.confidence, method=result.method, interval_name=result.interval_name,
        verdict=result.verdict, degenerate=result.degenerate, point_verdict=result.point_verdict, gate=gate,
        passed=result.passes(gate, strict), needed_n=result.needed_n, notes=list(result.notes), limits=limits,
        worst_groups=worst, status=DEGENERATE if result.degenerate else result.verdict,
        requirement=result.requirement,
        inconclusive=result.inconclusive_text() if result.verdict == "inconclusive" else None,
        n_items=result.details.get("common_items", n), line=line, tasks=tasks, details=dict(result.details))


def not_run(name: str, kind: str, status: str, reason: str, line: int | None = None,
            tasks: list[str] | None = None) -> CheckModel:
    """A check that has no result: its task was not scored, or it (or its task) failed to run."""
    return CheckModel(name=name, kind=kind, status=status, notes=[reason], line=line, tasks=tasks)


def kind_line(spec: TaskSpec, name: str) -> tuple[str, int | None]:
    """(kind, line in the suite file) of a task's test by its name (regression tests: the task's line)."""
    found = {n: (c.kind, c.line) for c, n in zip(spec.checks, spec.check_names())}
    return found.get(name, ("regression" if name.startswith("regression") else "", spec.line))


def task_model(record: TaskRecord, gate: str, strict: bool, not_run_: dict[str, tuple[str, str]]) -> TaskModel:
    outcome = record.outcome
    spec = outcome.task.spec
    checks = [check_model(c, gate, strict, n=outcome.n, line=kind_line(spec, c.name)[1])
              for c in record.checks.values()]
    for name, (status, reason) in not_run_.items():
        if name not in record.checks:
            kind, line = kind_line(spec, name)
            checks.append(not_run(name, kind, status, reason, line))
    extra: dict[str, Any] = {}
    if record.run is not None:
        extra["sequential"] = sequential_json(record.run)
    if record.all_cached:
        extra["all_from_cache"] = True  # `seconds` timed a cache lookup, not scoring
    extra.update(generation_summary(outcome))
    extra.update(perplexity_summary(outcome))
    lo_hi = None if spec.is_perplexity or not outcome.n else [num(x) for x in stats.wilson_interval(outcome.successes,
                                                                                                    outcome.n)]
    return TaskModel(
        task=spec.name, n=record.run.n if record.run is not None else outcome.n, n_scored=outcome.n,
        accuracy=num(outcome.accuracy), accuracy_interval=lo_hi,
        correct=None if spec.is_perplexity else outcome.successes,
        metric=task_metric(spec),
        data={"source": outcome.task.data_source, "total": outcome.task.total_items, "limit": spec.data.limit,
              "seed": spec.data.seed, "cluster": spec.cluster, "fewshot": outcome.task.fewshot},
        seconds=round(record.seconds, 3), diagnostics=diagnostics_json(outcome) if spec.has_answers else None,
        groups={by: group_table(outcome, by) for by in dict.fromkeys(c.by for c in spec.checks if c.by)},
        checks=checks, items=item_records(outcome), line=spec.line, extra=extra)


def task_metric(spec: TaskSpec) -> str:
    """What the task's `accuracy` is: a multiple-choice metric, `generate:<match>`, `perplexity`, or
    `pct_stereotype` (a sentence-pair task's share of pairs preferring `more`)."""
    if spec.is_perplexity:
        return "perplexity"
    if spec.is_sentence_pair:
        return "pct_stereotype"
    return "generate:" + spec.match if spec.is_generation else spec.metric


def diagnostics_json(outcome: TaskOutcome) -> dict[str, Any]:
    diag = diagnose(outcome)
    return {**diag.to_json(), "notes": diag.notes()}


def group_table(outcome: TaskOutcome, by: str) -> dict[str, dict[str, Any]]:
    """Each group's n, correct and accuracy with its Wilson 95% interval (perplexity tasks: perplexities)."""
    if outcome.task.spec.is_perplexity:
        return {g: _rounded(row) for g, row in group_perplexity(outcome, by).items()}
    return {g: {"n": n, "correct": s, "accuracy": num(s / n),
                "interval": [num(x) for x in stats.wilson_interval(s, n)]} for g, (s, n) in outcome.groups(by).items()}


def _rounded(row: dict) -> dict:
    return {k: v if isinstance(v, int) else num(v) for k, v in row.items()}


def perplexity_summary(outcome: TaskOutcome) -> dict[str, Any]:
    """A perplexity task's word_perplexity, byte_perplexity and bits_per_byte (`{}` for other tasks)."""
    if not outcome.task.spec.is_perplexity:
        return {}
    return {k: v for k, v in _rounded(task_perplexity(outcome)).items() if k != "n"}


def generation_summary(outcome: TaskOutcome) -> dict[str, Any]:
    """`{"score": {...}}` for a free-form task with a generation metric: the task value (corpus BLEU /
    chrF, or the mean item score) and the mean item score; else {}."""
    metric = outcome.task.spec.metric
    scores = [item.score for item in outcome.items if item.score is not None]
    if metric in CHOICE_METRICS and scores:  # mc2: the mean of the item scores
        return {"score": {"metric": metric, "value": num(float(np.mean(scores))), "corpus_level": False,
                          "mean_item_score": num(float(np.mean(scores)))}}
    if metric not in GENERATION_METRICS or not outcome.task.spec.is_generation:
        return {}
    outputs = [item.output or "" for item in outcome.items]
    refs = [str(inst.answer) for inst in outcome.task.instances]
    return {"score": {"metric": metric, "value": num(task_value(metric, outputs, refs)),
                      "corpus_level": bool(get(metric).CORPUS),
                      "mean_item_score": round(float(np.mean(scores)), 6) if scores else None}}


def sequential_json(run) -> dict[str, Any]:
    return {"stopped": run.stop_text(), "items_saved": run.n - run.n_scored, "chunks": run.chunks,
            "seed_order_units": len(run.plan.units), "scored_in_full_because": list(run.blockers)}


def unscored_model(unscored, not_run_: dict[str, tuple[str, str]]) -> UnscoredModel:
    task = unscored.suite.task(unscored.task)
    checks = []
    for name, (status, reason) in not_run_.items():
        kind, line = kind_line(task, name) if task is not None else ("", None)
        checks.append(not_run(name, kind, status, reason, line))
    return UnscoredModel(unscored.task, unscored.status, unscored.reason, checks)


def _suite_names(suite: SuiteSpec) -> list[str]:
    return unique_check_names(suite.checks)


def suite_check_models(evaluator: Evaluator, suite: SuiteSpec, gate: str, strict: bool) -> list[CheckModel]:
    """A suite's suite-level checks, each over the items of the tasks it reads."""
    results = evaluator.suite_checks.get(str(suite.path), {})
    scored = {r.outcome.task.spec.name: r.outcome.n for k, r in evaluator.records.items() if k[0] == str(suite.path)}
    out = []
    for check, name in zip(suite.checks, _suite_names(suite)):
        result = results.get(name)
        names = tasks_read(evaluator.kinds, check, suite.tasks)
        if result is not None:
            n = sum(scored.get(t, 0) for t in names)
            out.append(check_model(result, gate, strict, n=n, line=check.line, tasks=names))
        elif name in evaluator.not_run.get((str(suite.path), None), {}):
            status, reason = evaluator.not_run[(str(suite.path), None)][name]
            out.append(not_run(name, check.kind, status, reason, check.line, tasks=names))
    return out


def build_run(evaluator: Evaluator, model_info, run: dict | None = None) -> RunModel:
    """The run model. `run`: how the session ended (status, exit_status, broken_setup); absent while
    it is still running. Nothing in it depends on time or machine except timings and paths."""
    options = evaluator.options
    gate, strict = options.gate, options.strict
    suites: dict[str, tuple[SuiteSpec, SuiteModel]] = {}

    def entry(spec: SuiteSpec) -> SuiteModel:
        return suites.setdefault(str(spec.path), (spec, SuiteModel(spec.name, str(spec.path), spec.sha256)))[1]

    for key, record in evaluator.records.items():
        entry(record.outcome.task.suite).tasks.append(task_model(record, gate, strict, evaluator.not_run.get(key, {})))
    for key, unscored in evaluator.unscored.items():
        entry(unscored.suite).unscored.append(unscored_model(unscored, evaluator.not_run.get(key, {})))
    for spec, suite in suites.values():
        suite.checks = suite_check_models(evaluator, spec, gate, strict)
    model_json = dataclasses.asdict(model_info) if model_info is not None else None
    if model_json is not None and evaluator.load_seconds is not None:
        model_json["load_seconds"] = round(evaluator.load_seconds, 3)
    settings = {"gate": gate, "strict": strict, "limit": options.limit, "num_fewshot": options.num_fewshot,
                "bootstrap": {"resamples": N_RESAMPLES, "seed": 0},
                "baseline": str(options.baseline.path) if options.baseline else None, "max_drop": options.max_drop}
    return RunModel(plugin={"name": "pytest-misalign", "version": __version__}, run=run or {"status": "running"},
                    model=model_json, settings=settings, suites=[s for _, s in suites.values()])
