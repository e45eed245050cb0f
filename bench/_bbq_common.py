"""Shared pieces of the BBQ benchmarks (`bbq_vs_lm_eval.py`, `bbq_vllm_vs_lm_eval.py`): the item
selection, the lm-eval task and pytest-misalign suite over the same JSONL, token floors, running a
side in a subprocess, collecting per-item scores from either side, and comparing them."""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DEFAULT_BBQ = REPO.parent / "shared" / "bbq"
CATEGORIES = ["Age", "Nationality", "Disability_status"]
FIELDS = ["example_id", "category", "context_condition", "question_polarity", "context", "question",
          "ans0", "ans1", "ans2", "label"]
PROMPT = "{context}\n\nQ: {question}\nA:"

TASK_YAML = """\
task: bbq_bench
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{context}}}}\\n\\nQ: {{{{question}}}}\\nA:"
doc_to_choice: "{{{{[ans0, ans1, ans2]}}}}"
doc_to_target: label
metric_list:
  - metric: acc
metadata:
  version: 1.0
"""

SUITE_YAML = """\
suite: bbq-bench
tasks:
  - name: bbq
    data:
      file: {data}
    prompt: "{{context}}\\n\\nQ: {{question}}\\nA:"
    choices: ["{{ans0}}", "{{ans1}}", "{{ans2}}"]
    answer: "{{label}}"
    checks:
      - accuracy: {{min: 0.0}}
      - gap: {{by: category, max: 1.0}}
"""

CHILD_ENV = {"TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
             "TRANSFORMERS_VERBOSITY": "error", "PYTEST_MISALIGN_PROGRESS": "off"}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def converted_model_dir() -> str:
    from pytest_misalign.backends import ModelConfig, resolve_model

    return resolve_model(ModelConfig(model="smollm2-135m")).load_path


def has_bbq(bbq: Path) -> bool:
    return all((bbq / f"{c}.jsonl").is_file() for c in CATEGORIES)


# --------------------------------------------------------------------------- selection
def select_rows(bbq: Path, selection: str, per_category: int, seed: int) -> list[dict]:
    rows: list[dict] = []
    for cat in CATEGORIES:
        lines = (bbq / f"{cat}.jsonl").read_text(encoding="utf-8").splitlines()
        if selection == "first":
            chosen = lines[:per_category]
        else:
            chosen = random.Random(seed).sample(lines, per_category)
        for line in chosen:
            row = json.loads(line)
            rows.append({k: row[k] for k in FIELDS})
    return rows


def write_work(work: Path, rows: list[dict]) -> None:
    """The JSONL, lm-eval's task (work/lm_eval_tasks/bbq_bench.yaml) and our suite (work/bbq_bench.yaml)."""
    data = work / "bbq.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (work / "lm_eval_tasks").mkdir()
    (work / "lm_eval_tasks" / "bbq_bench.yaml").write_text(TASK_YAML.format(data=data), encoding="utf-8")
    (work / "bbq_bench.yaml").write_text(SUITE_YAML.format(data=data), encoding="utf-8")


def token_floors(rows: list[dict], model_dir: str) -> dict:
    """Tokens of one full forward per request (lm-eval), of each item's context once, and of the
    prefix trie (distinct input prefixes), with lm-eval's token split."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)

    def enc(text: str) -> list[int]:
        return tok(text, add_special_tokens=False)["input_ids"]

    plain = per_item = 0
    prefixes: set[tuple[int, ...]] = set()
    for row in rows:
        ctx_text = PROMPT.format(**row)
        ctx = enc(ctx_text)
        per_item += len(ctx)
        for k in range(3):
            whole = enc(ctx_text + " " + row[f"ans{k}"])
            inp = whole[:-1]  # the model input (no truncation needed here: < 8192 tokens)
            plain += len(inp)
            per_item += len(whole) - len(ctx) - 1
            for i in range(1, len(inp) + 1):
                prefixes.add(tuple(inp[:i]))
    return {"one_forward_per_request": plain, "context_once_per_item": per_item, "prefix_trie": len(prefixes)}


# --------------------------------------------------------------------------- the two sides
def lm_eval_run(lm, work: Path, **kwargs) -> tuple[float, dict]:
    """`simple_evaluate` of an already built lm-eval LM on the bench task: (seconds, summary with
    per-doc scores)."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    t0 = time.perf_counter()
    out = simple_evaluate(model=lm, tasks=["bbq_bench"],
                          task_manager=TaskManager(include_path=str(work / "lm_eval_tasks")),
                          log_samples=True, **kwargs)
    seconds = time.perf_counter() - t0
    per_doc: dict[int, list[float]] = {}
    for sample in out["samples"]["bbq_bench"]:
        resps = sample["filtered_resps"]
        per_doc[int(sample["doc_id"])] = [float(r[0]) if isinstance(r, (list, tuple)) else float(r)
                                          for r in resps]
    return seconds, {"accuracy": float(out["results"]["bbq_bench"].get("acc,none", float("nan"))),
                     "scores": [per_doc[i] for i in range(len(per_doc))]}


def pytest_session(work: Path, options: list[str], extra=None) -> dict:
    """A whole pytest session on the bench suite with `options`; what it measured: load and scoring
    seconds, the backend's stats, accuracy and per-item scores. `extra(evaluator)` may add fields."""
    import pytest

    captured: dict = {}

    class Grab:
        @pytest.hookimpl(tryfirst=True)
        def pytest_sessionfinish(self, session):
            from pytest_misalign.plugin import EVALUATOR

            evaluator = session.config.stash[EVALUATOR]
            (record,) = evaluator.records.values()
            backend = evaluator.backend
            stats = backend.stats.as_dict() if hasattr(backend.stats, "as_dict") else dict(backend.stats)
            captured.update(load_s=evaluator.load_seconds, scoring_s=record.seconds, stats=stats,
                            accuracy=record.outcome.accuracy,
                            scores=[list(item.scores) for item in record.outcome.items],
                            indices=[item.index for item in record.outcome.items])
            if extra is not None:
                captured.update(extra(evaluator))

    code = pytest.main([str(work / "bbq_bench.yaml"), "-q", "-p", "no:cacheprovider", *options,
                        "--misalign-no-cache"], plugins=[Grab()])
    if code not in (0, 1) or "scores" not in captured:
        raise SystemExit(f"pytest failed with exit code {code}")
    return captured


def run_child(script: str, args: list[str], threads: int | None = None, env: dict | None = None,
              timeout: float | None = None) -> dict:
    """`python script *args` with the bench environment; its last stdout line is its JSON result,
    to which the whole subprocess's wall time and the load average before/after are added."""
    env = {**os.environ, **CHILD_ENV, **(env or {})}
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, script, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
    process_s = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"child {args} failed ({proc.returncode})")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_s"] = process_s  # the whole subprocess: interpreter, imports, load, scoring
    result["loadavg_before_after"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
    return result


# --------------------------------------------------------------------------- comparison / output
def compare(ref: list[list[float]], got: list[list[float]]) -> dict:
    assert len(ref) == len(got)
    same = sum(max(range(3), key=a.__getitem__) == max(range(3), key=b.__getitem__) for a, b in zip(ref, got))
    deltas = [abs(x - y) for a, b in zip(ref, got) for x, y in zip(a, b)]
    return {"items": len(ref), "same_prediction": same, "agreement": same / len(ref),
            "max_abs_dll": max(deltas), "requests_over_1e-3": sum(d > 1e-3 for d in deltas)}


def fmt_row(cells: list, widths: list[int]) -> str:
    return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"


def markdown(head: list[str], rows: list[list]) -> str:
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    lines = [fmt_row(head, widths), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt_row(r, widths) for r in rows]
    return "\n".join(lines)


def write_json(path: Path, summary: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(f"\nwrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
