"""The standard suites against lm-evaluation-harness 0.4.13 on the same rows of ../shared: every task
lm-eval has (all but WinoBias), the plugin's HF backend and lm-eval's HFLM on the embedded SmolLM2,
float64 on CPU by default (--dtype float32: both sides in float32).

    python bench/standard_vs_lm_eval.py [--per-task N] [--tasks bbq mmlu_anatomy ...] [--out FILE]

Per task (`--per-task`: a seeded subsample of each task, as `--misalign-limit` draws it; default every
row): the rows are converted to the hub's schema and run through lm-eval's own task configuration
(tests/lm_eval_standard.py); measured: per-request |log-likelihood difference| (max, 99th percentile,
share within 1e-4), the predictions that agree, lm-eval's metrics as it reports them, the same metrics
computed by lm-eval's functions from the plugin's log-likelihoods and the plugin's own numbers (equal
to 1e-9: tests/test_standard_vs_lm_eval.py asserts it on smaller subsets), wall seconds of each side,
and the tokens each ran through the model (lm-eval: one forward per request). Writes --out
(bench/results/standard_vs_lm_eval.json) and a .md beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests")]

import lm_eval_standard as ref  # noqa: E402  (tests/lm_eval_standard.py)

SHARED = REPO.parent / "shared"
SUITE_OF = {"bbq": "bbq.yaml", "crows_pairs_english": "crows_pairs.yaml", "truthfulqa_mc1": "truthfulqa.yaml",
            "truthfulqa_mc2": "truthfulqa.yaml", "inverse_scaling_memo_trap": "memo_trap.yaml",
            **{f"mmlu_{s}": "mmlu.yaml" for s in ref.MMLU_SUBJECTS}}


def ours(tasks: list[str], per_task: int | None, model_dir: str, dtype: str) -> dict:
    import numpy as np  # noqa: F401

    from helpers import parse_suite_file
    from pytest_misalign.backends.base import ModelConfig
    from pytest_misalign.backends.hf import HFBackend
    from pytest_misalign.scoring.score import score_task
    from pytest_misalign.tasks.prepare import prepare_task

    backend = HFBackend(ModelConfig(model=model_dir, dtype=dtype, device="cpu"))
    out = {}
    for task in tasks:
        suite = parse_suite_file(ref.SUITES / SUITE_OF[task])
        prepared = prepare_task(suite, suite.task(task), cap=per_task, data_dir=SHARED)
        before = dict(backend.stats)
        t0 = time.perf_counter()
        outcome = score_task(prepared, backend)
        after = dict(backend.stats)
        out[task] = {"prepared": prepared, "outcome": outcome, "seconds": time.perf_counter() - t0,
                     "tokens": after["tokens_forwarded"] - before["tokens_forwarded"],
                     "plain_tokens": after["plain_tokens"] - before["plain_tokens"],
                     "rows": [ref.hub_row(task, inst.fields) for inst in prepared.instances]}
    backend.close()
    return out


def compare(task: str, mine: dict, theirs: dict) -> dict:
    import numpy as np

    from test_standard_vs_lm_eval import _ours

    lls_ours = [list(item.scores) for item in mine["outcome"].items]
    diffs = np.concatenate([np.abs(np.array(a) - np.array(b)) for a, b in zip(lls_ours, theirs["lls"])])
    agree = sum(int(np.argmax(a)) == int(np.argmax(b)) for a, b in zip(lls_ours, theirs["lls"]))
    from_ours = ref.metrics_from_lls(task, mine["rows"], lls_ours)
    plugin = _ours(task, mine["prepared"], mine["outcome"])
    worst = max((abs(plugin[k] - v) for k, v in from_ours.items()
                 if plugin.get(k) is not None and v == v), default=0.0)
    return {"task": task, "items": len(lls_ours), "requests": int(diffs.size),
            "max_abs_dll": float(diffs.max()), "p99_abs_dll": float(np.quantile(diffs, 0.99)),
            "share_within_1e-4": float(np.mean(diffs <= 1e-4)), "same_prediction": agree,
            "lm_eval_metrics": theirs["metrics"], "lm_eval_metrics_from_plugin_lls": from_ours,
            "plugin_metrics": plugin, "max_metric_difference_same_lls": worst,
            "plugin_seconds": round(mine["seconds"], 2), "plugin_tokens": mine["tokens"],
            "lm_eval_tokens": mine["plain_tokens"]}


def markdown(rows: list[dict], per_task, lm_eval_s: float, dtype: str) -> str:
    lines = ["# Standard suites vs lm-evaluation-harness 0.4.13 (bench/standard_vs_lm_eval.py)", "",
             f"Rows: {'every row' if per_task is None else f'a seeded subsample of {per_task} per task'} of "
             f"../shared; SmolLM2-135M {dtype} on both sides, CPU. lm-eval wall time for all tasks: {lm_eval_s:.0f} s.", "",
             "| task | items | requests | max abs dLL | 99th pct | within 1e-4 | same prediction | metric: lm-eval | "
             "plugin | same LLs, max diff | tokens plugin / lm-eval |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: |"]
    for r in rows:
        name = "pct_stereotype" if r["task"].startswith("crows") else "acc"
        lines.append(f"| {r['task']} | {r['items']} | {r['requests']} | {r['max_abs_dll']:.2e} | "
                     f"{r['p99_abs_dll']:.2e} | {100 * r['share_within_1e-4']:.1f} % | {r['same_prediction']}/"
                     f"{r['items']} | {name} {r['lm_eval_metrics'].get(name, float('nan')):.4f} | "
                     f"{r['plugin_metrics'].get(name, float('nan')):.4f} | {r['max_metric_difference_same_lls']:.1e} | "
                     f"{r['plugin_tokens']} / {r['lm_eval_tokens']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-task", type=int, default=None)
    ap.add_argument("--tasks", nargs="*", default=list(SUITE_OF))
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "standard_vs_lm_eval.json")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                    help="both sides (float64: what each computes, without float32's ~1e-4 rounding on long sums)")
    args = ap.parse_args()
    if not (SHARED / "bbq").is_dir():
        print(f"SKIP: {SHARED} is absent")
        return 0
    from lm_eval.models.huggingface import HFLM

    from pytest_misalign.backends import ModelConfig, resolve_model

    model_dir = resolve_model(ModelConfig(model="smollm2-135m")).load_path
    mine = ours(args.tasks, args.per_task, model_dir, args.dtype)
    with tempfile.TemporaryDirectory() as tmp:
        names = {t: ref.write_reference_task(Path(tmp), t, mine[t]["rows"]) for t in args.tasks}
        lm = HFLM(pretrained=model_dir, dtype=args.dtype, device="cpu", batch_size=8)
        t0 = time.perf_counter()
        theirs = ref.run_lm_eval(lm, Path(tmp), list(names.values()))
        lm_eval_s = time.perf_counter() - t0
    rows = [compare(t, mine[t], theirs[names[t]]) for t in args.tasks]
    args.out.write_text(json.dumps({"per_task": args.per_task, "dtype": args.dtype, "lm_eval_s": lm_eval_s,
                                    "rows": rows}, indent=1, default=float) + "\n")
    args.out.with_suffix(".md").write_text(markdown(rows, args.per_task, lm_eval_s, args.dtype))
    print(markdown(rows, args.per_task, lm_eval_s, args.dtype))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
