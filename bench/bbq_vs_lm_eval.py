"""pytest-misalign vs lm-evaluation-harness on the same BBQ items, same model, same prompt.

    pip install -e ".[bench]"          # lm-eval==0.4.13 (dev-only)
    python bench/bbq_vs_lm_eval.py     # ~5 min on a 2-core CPU

Both sides score the same items (default: the first 100 rows of Age, Nationality and
Disability_status from ../shared/bbq; `--selection sample` draws a seeded sample instead) with
SmolLM2-135M-Instruct (the embedded `smollm2-135m`, converted to safetensors), float32 on CPU, the
prompt "{context}\\n\\nQ: {question}\\nA:" and choices ans0..ans2 (continuation " " + choice):

* lm-eval 0.4.13: `HFLM(pretrained=<converted dir>, dtype=float32, batch_size=16)` and
  `simple_evaluate(..., log_samples=True)` on a task YAML for the local JSONL (dataset_path json)
  — the Python form of `lm_eval --model hf --model_args pretrained=...,dtype=float32 --batch_size 16`,
  so the model load can be timed apart;
* pytest-misalign: a whole pytest session (`pytest suite.yaml --misalign-model=smollm2-135m
  --misalign-device=cpu --misalign-no-cache`) on a generated suite over the same JSONL.

Each side runs in its own subprocess (peak RSS is that process's own `ru_maxrss`), one after the
other. "scoring" wall time EXCLUDES model loading on both sides (lm-eval: `simple_evaluate` with
an already built HFLM, which still includes building the task and computing metrics; ours: the
task's scoring time in the session, which includes tokenization and planning); "process" wall
time INCLUDES everything (interpreter start, imports, model load) on both sides.

Tokens forwarded: lm-eval's are counted by wrapping `HFLM._model_call` (non-pad and padded);
ours come from the backend's own counters. The floor is the number of distinct input prefixes
(a prefix trie over every request's model input); the per-item figure runs each item's context
once plus its continuations. Agreement: per-item argmax, and per-request |delta log-likelihood|.

Writes a small JSON of the numbers (no data) to bench/results/. Skips (exit 0) when the BBQ
data or lm-eval is absent. The data is read from ../shared/bbq and written only to a temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from _bbq_common import (CATEGORIES, DEFAULT_BBQ, RESULTS, compare, converted_model_dir, has_bbq, lm_eval_run,
                         markdown, peak_rss_mb, pytest_session, run_child, select_rows, token_floors, write_json,
                         write_work)

DEFAULT_OUT = RESULTS / "bbq_vs_lm_eval.json"


# --------------------------------------------------------------------------- children
def child_lm_eval(work: Path, model_dir: str, batch_size: int) -> dict:
    import torch
    from lm_eval.models.huggingface import HFLM

    counts = {"calls": 0, "tokens": 0, "padded": 0}
    original = HFLM._model_call

    def counting(self, inps, *args, **kwargs):
        counts["calls"] += 1
        counts["padded"] += int(inps.numel())
        counts["tokens"] += int((inps != 0).sum())  # right padding is token 0; BBQ text never has it
        return original(self, inps, *args, **kwargs)

    HFLM._model_call = counting
    t0 = time.perf_counter()
    lm = HFLM(pretrained=model_dir, dtype="float32", batch_size=batch_size, device="cpu")
    load_s = time.perf_counter() - t0
    eval_s, got = lm_eval_run(lm, work, batch_size=batch_size)
    return {"side": "lm-eval", "version": "0.4.13", "batch_size": batch_size, "load_s": load_s,
            "scoring_s": eval_s,
            "peak_rss_mb": peak_rss_mb(), "forward_calls": counts["calls"], "tokens_forwarded": counts["tokens"],
            "padded_tokens": counts["padded"], "torch_threads": torch.get_num_threads(),
            "accuracy": got["accuracy"], "scores": got["scores"]}


def child_ours(work: Path, batch_size: str) -> dict:
    import torch

    captured = pytest_session(work, ["--misalign-model=smollm2-135m", "--misalign-device=cpu",
                                     "--misalign-dtype=float32", f"--misalign-batch-size={batch_size}"])
    stats = captured.pop("stats")
    return {"side": "pytest-misalign", "batch_size": batch_size, **captured,
            "peak_rss_mb": peak_rss_mb(),
            "forward_calls": stats["forward_calls"], "tokens_forwarded": stats["tokens_forwarded"],
            "padded_tokens": stats["padded_tokens"], "trie_tokens": stats["trie_tokens"],
            "strategy": stats["strategy"], "torch_threads": torch.get_num_threads()}


# --------------------------------------------------------------------------- comparison
def table(lm: dict, ours: dict, floors: dict, agreement: dict) -> str:
    def tps(side: dict) -> str:
        return f"{side['tokens_forwarded'] / side['scoring_s']:.0f}"

    rows = [
        ["scoring wall time (model load excluded)", f"{lm['scoring_s']:.1f} s", f"{ours['scoring_s']:.1f} s",
         f"{ours['scoring_s'] / lm['scoring_s']:.3f} (x{lm['scoring_s'] / ours['scoring_s']:.2f} faster)"],
        ["process wall time (load + imports included)", f"{lm['process_s']:.1f} s", f"{ours['process_s']:.1f} s",
         f"{ours['process_s'] / lm['process_s']:.3f}"],
        ["model load", f"{lm['load_s']:.1f} s", f"{ours['load_s']:.1f} s", ""],
        ["tokens forwarded (padding excluded)", lm["tokens_forwarded"], ours["tokens_forwarded"],
         f"{ours['tokens_forwarded'] / floors['prefix_trie']:.3f} x trie floor ({floors['prefix_trie']})"],
        ["tokens incl. padding", lm["padded_tokens"], ours["padded_tokens"], ""],
        ["model calls", lm["forward_calls"], ours["forward_calls"], ""],
        ["tokens/s (forwarded / scoring time)", tps(lm), tps(ours), ""],
        ["peak RSS", f"{lm['peak_rss_mb']:.0f} MB", f"{ours['peak_rss_mb']:.0f} MB",
         f"{ours['peak_rss_mb'] / lm['peak_rss_mb']:.2f}"],
        ["accuracy", f"{lm['accuracy']:.4f}", f"{ours['accuracy']:.4f}", ""],
        ["same prediction", "", "", f"{agreement['same_prediction']}/{agreement['items']} "
                                    f"({100 * agreement['agreement']:.1f} %)"],
        ["max abs delta log-likelihood (per request)", "", "",
         f"{agreement['max_abs_dll']:.2e} ({agreement['requests_over_1e-3']} requests > 1e-3)"],
    ]
    head = ["", "lm-eval 0.4.13 (hf, bs 16)", f"pytest-misalign (bs {ours['batch_size']})", "ratio / note"]
    return markdown(head, rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bbq-dir", type=Path, default=DEFAULT_BBQ)
    ap.add_argument("--selection", choices=["first", "sample"], default="first")
    ap.add_argument("--per-category", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lm-eval-batch-size", type=int, default=16)
    ap.add_argument("--batch-size", default="auto", help="pytest-misalign's --misalign-batch-size (timed)")
    ap.add_argument("--check-batch-sizes", default="", help="also run ours at these sizes (e.g. 8,1) and "
                                                               "compare their results with the timed run")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch/OpenMP threads for both sides (default: torch's default, one per core)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--child", choices=["lm-eval", "ours"], help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child == "lm-eval":
        print(json.dumps(child_lm_eval(args.work, args.model_dir, args.lm_eval_batch_size)))
        return 0
    if args.child == "ours":
        print(json.dumps(child_ours(args.work, args.batch_size)))
        return 0

    if not has_bbq(args.bbq_dir):
        print(f"SKIP: BBQ data not found in {args.bbq_dir} (only the project's own checkout has ../shared/bbq)")
        return 0
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        print('SKIP: lm-eval is not installed (pip install -e ".[bench]")')
        return 0

    rows = select_rows(args.bbq_dir, args.selection, args.per_category, args.seed)
    model_dir = converted_model_dir()
    floors = token_floors(rows, model_dir)
    with tempfile.TemporaryDirectory(prefix="misalign-bench-") as tmp:
        work = Path(tmp)
        write_work(work, rows)
        print(f"{len(rows)} items ({args.selection}), {3 * len(rows)} requests; model {model_dir}", flush=True)
        print("running lm-eval ...", flush=True)
        lm = run_child(__file__, ["--child", "lm-eval", "--work", str(work), "--model-dir", model_dir,
                        "--lm-eval-batch-size", str(args.lm_eval_batch_size)], args.threads)
        print(f"  scoring {lm['scoring_s']:.1f} s", flush=True)
        print(f"running pytest-misalign (batch size {args.batch_size}) ...", flush=True)
        ours = run_child(__file__, ["--child", "ours", "--work", str(work), "--batch-size", args.batch_size],
                         args.threads)
        print(f"  scoring {ours['scoring_s']:.1f} s", flush=True)
        assert ours["indices"] == list(range(len(rows))), "item order differs"
        extra = {}
        for bs in [b for b in args.check_batch_sizes.split(",") if b.strip()]:
            print(f"running pytest-misalign (batch size {bs}) for the consistency check ...", flush=True)
            other = run_child(__file__, ["--child", "ours", "--work", str(work), "--batch-size", bs.strip()],
                              args.threads)
            extra[bs.strip()] = {**compare(ours["scores"], other["scores"]),
                                 **{k: other[k] for k in ("scoring_s", "tokens_forwarded", "forward_calls",
                                                          "peak_rss_mb")}}

    agreement = compare(lm["scores"], ours["scores"])
    text = table(lm, ours, floors, agreement)
    print()
    print(text)
    print(f"\ntoken floors: {floors}")
    for bs, res in extra.items():
        print(f"batch size {bs} vs {args.batch_size}: {res['same_prediction']}/{res['items']} same predictions, "
              f"max |delta ll| {res['max_abs_dll']:.2e}; scoring {res['scoring_s']:.1f} s, "
              f"{res['tokens_forwarded']} tokens, {res['forward_calls']} calls")
    print(f"load average before/after: lm-eval {lm['loadavg_before_after']}, ours {ours['loadavg_before_after']}"
          f" ({os.cpu_count()} CPUs; torch threads: lm-eval {lm['torch_threads']}, ours {ours['torch_threads']})")
    summary = {
        "selection": {"categories": CATEGORIES, "how": args.selection, "per_category": args.per_category,
                      "seed": args.seed if args.selection == "sample" else None, "items": len(rows)},
        "token_floors": floors, "agreement": agreement, "batch_size_checks": extra,
        "sides": {side["side"]: {k: v for k, v in side.items() if k not in ("scores", "indices")}
                  for side in (lm, ours)},
        "ratios": {"scoring_time": ours["scoring_s"] / lm["scoring_s"],
                   "process_time": ours["process_s"] / lm["process_s"],
                   "tokens_vs_trie_floor": ours["tokens_forwarded"] / floors["prefix_trie"],
                   "peak_rss": ours["peak_rss_mb"] / lm["peak_rss_mb"]},
        "machine": {"cpus": os.cpu_count(), "torch_threads": ours["torch_threads"], "python": sys.version.split()[0]},
        "table": text,
    }
    suffix = ("" if args.selection == "first" else f"_sample{args.seed}") + (f"_threads{args.threads}" if args.threads else "")
    out = args.out.with_name(args.out.stem + suffix + args.out.suffix)
    write_json(out, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
