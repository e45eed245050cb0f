"""bench/gpu_check.py in its CPU dry run: every step of the GPU check (seeded models built from a
config, tests/test_gpu.py on them, throughput on ../shared rows, the JSON) runs on scaled-down models,
with `datasets` unimportable as on the GPU machine, so the one command that runs on a lent GPU is known
to work before the GPU time is spent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import require_shared

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def test_the_dry_run_runs_every_step_and_writes_the_figures(tmp_path, smollm2_dir):
    require_shared("bbq/Age.jsonl", "crows_pairs/crows_pairs_anonymized.csv")
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--dry-run", "--out", str(out),
                           "--payload", str(tmp_path / "no-payload")], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["mode"].startswith("dry-run") and report["environment"]["torch"]
    assert set(report["models"]) == {"smollm2-arch", "llama-1b"}
    cases = {c["test"]: c["outcome"] for c in report["tests"]["cases"]}
    assert len(cases) == 9 and set(cases.values()) == {"passed"}, cases
    kinds = {f["test"] for f in report["tests"]["figures"]}
    assert kinds == {"device_vs_cpu", "tree_vs_plain", "oom_backoff"}
    oom = next(f for f in report["tests"]["figures"] if f["test"] == "oom_backoff")
    assert oom["backoffs"] and oom["settled_batch_size"] < 16
    rows = {r["suite"]: r for r in report["throughput"]}
    assert set(rows) == {"bbq", "crows_pairs"}
    for r in rows.values():
        assert "error" not in r and r["items"] == 24 and r["items_per_s"] > 0
        assert r["counters"]["requests"] > 0 and r["counters"]["tokens_forwarded"] > 0
    assert "64 MiB" in report["lm_eval"]
