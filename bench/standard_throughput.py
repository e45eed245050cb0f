"""Items per second of each standard suite (suites/standard/) on the embedded SmolLM2-135M, for the
`hf` and `vllm` backends, and the tokens each ran through the model against one forward per request
(lm-eval's way: `plain_tokens`).

    python bench/standard_throughput.py [--limit 100] [--backends hf vllm] [--out FILE]
                                        [--suites mmlu] [--num-fewshot 5] [--dtype bfloat16] [--update]

Each (suite, backend) is a whole pytest session in its own subprocess on ../shared
(--misalign-data-dir), the `confident` gate, no result cache, every task capped at --limit items
(seeded subsample; the full sizes are in bench/results/standard_sequential_vs_full.json). Measured per
suite: items scored, scoring seconds (the tasks' own, model load excluded), items/s, and the backend's
counters: tokens forwarded, plain tokens (one unshared forward per request, as lm-eval runs them), the
prefix trie's floor, and the shared stem (a few-shot preamble computed once per call and reused from
its key/value cache). Writes --out (bench/results/standard_throughput.json) and a .md table beside it.
`--num-fewshot N` runs with --misalign-num-fewshot=N (a row `<suite> N-shot`), `--dtype` with
--misalign-dtype (default: the backend's, float32 on CPU); `--update` replaces the rows measured in an
existing --out and keeps the others.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SUITES = sorted((REPO / "suites" / "standard").glob("*.yaml"))
ENV = {"TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
       "TRANSFORMERS_VERBOSITY": "error", "PYTEST_MISALIGN_PROGRESS": "off", "VLLM_CPU_KVCACHE_SPACE": "1"}
COUNTERS = ("requests", "tokens_forwarded", "plain_tokens", "trie_tokens", "stem_tokens", "forward_calls", "strategy")


def measure_session(args: list[str]) -> dict:
    """One pytest session with `args`: its exit code, model load seconds, the backend's counters and
    each task's items and scoring seconds (bench/gpu_check.py uses it too)."""
    import pytest

    found: dict = {}

    class Grab:
        @pytest.hookimpl(tryfirst=True)
        def pytest_sessionfinish(self, session):
            from pytest_misalign.plugin import EVALUATOR

            ev = session.config.stash[EVALUATOR]
            stats = dict(ev.backend.stats) if ev.backend is not None else {}
            found.update(load_s=ev.load_seconds, counters={k: stats.get(k) for k in COUNTERS},
                         tasks={r.outcome.task.spec.name: {"n": r.outcome.n, "seconds": r.seconds}
                                for r in ev.records.values()})

    code = pytest.main(args, plugins=[Grab()])
    return {"exit_code": int(code), **found}


def child(suite: str, backend: str, limit: int, extra: list[str]) -> int:
    """One pytest session; prints a JSON line with what the session measured."""
    args = [suite, *extra, "-q", "-p", "no:cacheprovider", "--misalign-model=smollm2-135m", f"--misalign-backend={backend}",
            f"--misalign-data-dir={SHARED}", f"--misalign-limit={limit}", "--misalign-gate=confident",
            "--misalign-no-cache"]
    if backend == "vllm":
        args.append("--misalign-model-args=enforce_eager=True")
    print(json.dumps(measure_session(args)))
    return 0


def run(suite: Path, backend: str, limit: int, shots: int | None = None, dtype: str = "auto") -> dict:
    import os

    extra = ([] if shots is None else [f"--misalign-num-fewshot={shots}"]) + [f"--misalign-dtype={dtype}"]
    label = suite.stem if shots is None else f"{suite.stem} {shots}-shot"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", str(suite), backend, str(limit), *extra], cwd=REPO,
                          env={**os.environ, **ENV}, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t0
    try:
        got = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        return {"suite": label, "backend": backend, "dtype": dtype, "error": f"exit {proc.returncode}", "wall_s": wall}
    items = sum(t["n"] for t in got["tasks"].values())
    seconds = sum(t["seconds"] for t in got["tasks"].values())
    return {"suite": label, "backend": backend, "dtype": dtype, "items": items, "scoring_s": round(seconds, 2),
            "items_per_s": round(items / seconds, 2) if seconds else None, "load_s": round(got["load_s"] or 0, 2),
            "wall_s": round(wall, 2), **got}


def markdown(rows: list[dict], limit: int) -> str:
    lines = [f"# Standard suites: throughput (bench/standard_throughput.py, --limit {limit} items per task)", "",
             "| suite | backend | dtype | items | scoring s | items/s | tokens forwarded | one forward per request "
             "(lm-eval) | shared stem |", "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['suite']} | {r['backend']} | {r.get('dtype', 'auto')} | {r['error']} | | | | | |")
            continue
        c = r["counters"]
        lines.append(f"| {r['suite']} | {r['backend']} | {r.get('dtype', 'auto')} | {r['items']} | {r['scoring_s']:.1f} | {r['items_per_s']} | "
                     f"{c.get('tokens_forwarded') or '-'} | {c.get('plain_tokens') or '-'} | {c.get('stem_tokens') or '-'} |")
    return "\n".join(lines) + "\n"


def merged_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """`--update`: the old rows not measured again, and the new ones, by backend, dtype and suite."""
    def key(r: dict) -> tuple:
        return r["suite"], r["backend"], r.get("dtype", "auto")

    measured = {key(r) for r in new}
    order = {s.stem: i for i, s in enumerate(SUITES)}
    rows = [r for r in old if key(r) not in measured] + new
    return sorted(rows, key=lambda r: (r["backend"], r.get("dtype", "auto"), order.get(r["suite"].split()[0], 99),
                                       r["suite"]))


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--backends", nargs="*", default=["hf", "vllm"])
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "standard_throughput.json")
    ap.add_argument("--suites", nargs="*", help="only these suites/standard/ files (stems)")
    ap.add_argument("--num-fewshot", type=int, help="--misalign-num-fewshot for every session")
    ap.add_argument("--dtype", default="auto", help="--misalign-dtype for every session")
    ap.add_argument("--update", action="store_true", help="replace the rows measured here in --out, keep the rest")
    args = ap.parse_args()
    if not (SHARED / "bbq").is_dir():
        print(f"SKIP: {SHARED} is absent (the standard suites read the upstream files there)")
        return 0
    old = json.loads(args.out.read_text()) if args.update and args.out.exists() else None
    if old is not None and old["limit"] != args.limit:  # checked before minutes of measuring, not after
        raise SystemExit(f"--update: {args.out} was measured at --limit {old['limit']}, not {args.limit}")
    unknown = sorted(set(args.suites or ()) - {s.stem for s in SUITES})
    if unknown:
        raise SystemExit(f"--suites: no suites/standard/{unknown[0]}.yaml (there are: {', '.join(s.stem for s in SUITES)})")
    rows = []
    for backend in args.backends:
        for suite in [s for s in SUITES if not args.suites or s.stem in args.suites]:
            rows.append(run(suite, backend, args.limit, args.num_fewshot, args.dtype))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "tasks"}), flush=True)
    if old is not None:
        rows = merged_rows(old["rows"], rows)
    args.out.write_text(json.dumps({"limit": args.limit, "cpus": __import__("os").cpu_count(), "rows": rows},
                                   indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(rows, args.limit))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
