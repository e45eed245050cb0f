"""The machine-readable results file (`--misalign-json`), written atomically."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from .. import __version__
from ..backends.base import ModelInfo
from ..checks import N_RESAMPLES, CheckResult
from ..scoring.diagnostics import diagnose
from ..metrics import generation_summary
from ..scoring import documents as perplexity
from ..runner.evaluator import Evaluator, TaskRecord
from ..scoring.score import TaskOutcome

SCHEMA_VERSION = 1


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 6)


def group_table(outcome: TaskOutcome, by: str) -> dict[str, dict[str, Any]]:
    if outcome.task.spec.is_perplexity:
        return perplexity.group_json(outcome, by)  # n, word_perplexity, byte_perplexity, bits_per_byte
    return {g: {"n": n, "correct": s, "accuracy": _num(s / n)} for g, (s, n) in outcome.groups(by).items()}


def check_to_json(result: CheckResult, gate: str, strict: bool = False) -> dict[str, Any]:
    out = {
        "check": result.kind,
        "name": result.name,
        "by": result.by,
        "value": _num(result.value),
        "threshold": result.threshold,
        "min": result.min,
        "max": result.max,
        "interval": [_num(result.interval[0]), _num(result.interval[1])],
        "confidence": result.confidence,
        "method": result.method,
        "interval_name": result.interval_name,
        "verdict": result.verdict,
        "degenerate": result.degenerate,
        "point_verdict": result.point_verdict,
        "gate": gate,
        "passed": result.passes(gate, strict),
        "needed_n": result.needed_n,
        "notes": list(result.notes),
    }
    if result.limits:
        out["limits"] = [{"name": lim.name, "param": lim.param, "value": _num(lim.value), "max": lim.max,
                          "interval": [_num(lim.interval[0]), _num(lim.interval[1])], "verdict": lim.verdict,
                          "point_verdict": lim.point_verdict} for lim in result.limits]
    if result.worst:
        out["worst_groups"] = [{"group": g.group, "n": g.n, "accuracy": _num(g.accuracy)} for g in result.worst]
    out.update(result.details)
    return out


def task_to_json(record: TaskRecord, gate: str, strict: bool = False) -> dict[str, Any]:
    outcome = record.outcome
    spec = outcome.task.spec
    by_fields = list(dict.fromkeys(c.by for c in spec.checks if c.by))
    return {
        "task": spec.name,
        "n": record.run.n if record.run is not None else outcome.n,  # items available
        "n_scored": outcome.n,  # items scored (fewer under the sequential gate when it stopped early)
        **({"sequential": sequential_json(record.run)} if record.run is not None else {}),
        "accuracy": _num(outcome.accuracy),
        "correct": None if spec.is_perplexity else outcome.successes,
        "metric": "perplexity" if spec.is_perplexity else "generate:" + spec.match if spec.is_generation else spec.metric,
        "data": {"source": outcome.task.data_source, "total": outcome.task.total_items,
                 "limit": spec.data.limit, "seed": spec.data.seed, "cluster": spec.cluster},
        "seconds": round(record.seconds, 3),
        "diagnostics": None if spec.is_perplexity else diagnose(outcome).to_json(),
        "groups": {by: group_table(outcome, by) for by in by_fields},
        "checks": [check_to_json(c, gate, strict) for c in record.checks.values()],
        "items": item_records(outcome),
        **generation_summary(outcome),  # "score": a free-form task's generation metric (metrics/)
        **perplexity.perplexity_json(outcome),  # word_perplexity, byte_perplexity, bits_per_byte
    }


def sequential_json(run) -> dict[str, Any]:
    return {"stopped": run.stop_text(), "items_saved": run.n - run.n_scored, "chunks": run.chunks,
            "seed_order_units": len(run.plan.units), "scored_in_full_because": list(run.blockers)}


def _grouping_fields(spec) -> list[str]:
    """The item fields the task's checks group, pair or cluster by (shown with every item)."""
    names = [c.by for c in spec.checks] + [c.pair_field for c in spec.checks] + \
        [c.params.get("of") for c in spec.checks] + [spec.cluster, spec.regression.by]
    return [n for n in dict.fromkeys(names) if isinstance(n, str) and n]


def _pair_fields(spec) -> list[str]:
    names = [c.pair_field for c in spec.checks] + [c.params.get("of") for c in spec.checks if c.kind == "consistency"]
    return [n for n in dict.fromkeys(names) if isinstance(n, str) and n]


def item_records(outcome: TaskOutcome) -> list[dict[str, Any]]:
    """Every item as a person needs it to see what went wrong: rendered prompt, choices, target,
    prediction (and the chosen text), per-choice scores or generated output, the fields its checks
    group by, and for paired checks / consistency the pair id and the partner items' indices."""
    task = outcome.task
    grouping, pairs = _grouping_fields(task.spec), _pair_fields(task.spec)
    members: dict[tuple[str, str], list[int]] = {}
    for inst in task.instances:
        for f in pairs:
            members.setdefault((f, str(inst.fields.get(f))), []).append(inst.index)
    out = []
    for item, inst, key in zip(outcome.items, task.instances, task.item_keys()):
        record = _item_to_json(item, key)
        record["prompt"] = inst.prompt
        if inst.choices:
            record["choices"] = list(inst.choices)
            record["target"] = inst.choices[inst.answer] if isinstance(inst.answer, int) else str(inst.answer)
            if isinstance(item.prediction, int) and 0 <= item.prediction < len(inst.choices):
                record["predicted"] = inst.choices[item.prediction]
        else:
            record["target"] = str(inst.answer)
        record["fields"] = {f: _jsonable(inst.fields.get(f)) for f in grouping}
        record["pairs"] = [{"field": f, "id": str(inst.fields.get(f)),
                            "partners": [i for i in members[(f, str(inst.fields.get(f)))] if i != inst.index]}
                           for f in pairs]
        if not record["pairs"]:
            del record["pairs"]
        out.append(record)
    return out


def _jsonable(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def _item_to_json(item, key: str) -> dict[str, Any]:
    out = {"index": item.index, "key": key, "answer": item.answer, "prediction": item.prediction,
           "correct": item.correct}
    if item.scores is not None:
        out["scores"] = [round(s, 6) for s in item.scores]
    if getattr(item, "extra", None):  # probes: unconditional / sentence log-likelihoods
        out["extra"] = {k: round(v, 6) for k, v in item.extra.items()}
    if item.output is not None:
        out["output"] = item.output
    if item.score is not None:
        out["score"] = round(item.score, 6)
    out.update(perplexity.document_json(item))  # type: perplexity: loglikelihood, words, bytes
    return out


def _suite_entry(suites: dict[str, dict[str, Any]], suite) -> dict[str, Any]:
    return suites.setdefault(str(suite.path), {
        "suite": suite.name, "path": str(suite.path), "sha256": suite.sha256, "tasks": [], "checks": [],
        "unscored": [],
    })


def build_results(evaluator: Evaluator, model: ModelInfo | None, run: dict | None = None) -> dict[str, Any]:
    """The audit record: versions, model fingerprint, suite hashes, seeds, every interval and verdict,
    and per-item outputs. Nothing in it depends on time or machine except timings and paths.
    `run`: how the session ended (status, exit_status, broken_setup); absent while it is still running.
    Tasks without results (skipped, errored) are listed per suite under `unscored` with their reason."""
    gate = evaluator.options.gate
    suites: dict[str, dict[str, Any]] = {}
    for record in evaluator.records.values():
        _suite_entry(suites, record.outcome.task.suite)["tasks"].append(
            task_to_json(record, gate, evaluator.options.strict))
    for unscored in evaluator.unscored.values():
        _suite_entry(suites, unscored.suite)["unscored"].append(
            {"task": unscored.task, "status": unscored.status, "reason": unscored.reason})
    for path, results in evaluator.suite_checks.items():
        if path in suites:
            suites[path]["checks"] = [check_to_json(r, gate, evaluator.options.strict) for r in results.values()]
    model_json = dataclasses.asdict(model) if model is not None else None
    if model_json is not None and evaluator.load_seconds is not None:
        model_json["load_seconds"] = round(evaluator.load_seconds, 3)
    options = evaluator.options
    tasks = [t for s in suites.values() for t in s["unscored"]]
    return {
        "schema": SCHEMA_VERSION,
        "plugin": {"name": "pytest-misalign", "version": __version__},
        "run": run or {"status": "running"},
        "model": model_json,
        "settings": {"gate": gate, "strict": options.strict, "limit": options.limit,
                     "bootstrap": {"resamples": N_RESAMPLES, "seed": 0},
                     "baseline": str(options.baseline.path) if options.baseline else None,
                     "max_drop": options.max_drop},
        "summary": {"tasks_scored": len(evaluator.records),
                    "tasks_skipped": sum(t["status"] == "skipped" for t in tasks),
                    "tasks_errored": sum(t["status"] == "error" for t in tasks)},
        "suites": list(suites.values()),
    }


def mark_incomplete(path: str | Path) -> None:
    """At session start: replace an earlier results file with one that says this run has not finished
    (a crash or kill -9 leaves it so), so a stale file can never be read as this run's results."""
    write_json_atomic(path, {"schema": SCHEMA_VERSION, "plugin": {"name": "pytest-misalign", "version": __version__},
                             "run": {"status": "incomplete",
                                     "note": "the run that writes this file has not finished (or was killed)"},
                             "model": None, "suites": []})


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write to a temp file in the same folder, fsync, then rename: never a half-written file.
    Permissions: an existing file keeps its mode; a new one gets the umask's default (like any file
    the user's tools write). Results hold no credentials (see tests/test_results.py)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mask = os.umask(0o022)
        os.umask(mask)
        mode = 0o666 & ~mask
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def write_json_atomic(path: str | Path, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
