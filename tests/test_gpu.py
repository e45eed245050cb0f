"""The HF backend on CUDA against the CPU, on seeded models built from a config (tests/seeded_models.py).

Run on a GPU machine by `python bench/gpu_check.py`, which builds the models once and passes them in
(MISALIGN_GPU_MODELS); skipped, with the one reason on the CI allow-list, where CUDA is absent.
`bench/gpu_check.py --dry-run` runs this file on the CPU (MISALIGN_GPU_DEVICE=cpu) with scaled-down
models, so the harness itself is tested in CI.

Tolerances, per continuation token (a request's |Δ log-likelihood| <= tolerance × its tokens), CUDA
against the CPU's float32 on the same weights:
- float32: 2e-4 (different kernels and reduction orders; TF32 is off by default in torch);
- bfloat16: 0.1 (8 bits of mantissa: logits to ~2-3 significant digits);
- float16: 0.03 (11 bits);
and the prediction among a request's choices is the CPU's wherever the CPU's margin between the best
two exceeds twice the tolerance. Prefix-tree scoring against plain scoring on the same device: 2e-4.
The measured maxima go to MISALIGN_GPU_FIGURES (JSON lines), which bench/gpu_check.py reports.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
import torch

from pytest_misalign.backends import LoglikelihoodRequest, ModelConfig, load_backend

pytestmark = [pytest.mark.gpu, pytest.mark.slow]

DEVICE = os.environ.get("MISALIGN_GPU_DEVICE", "cuda")
TOL_PER_TOKEN = {"float32": 2e-4, "bfloat16": 0.1, "float16": 0.03}
ARCHS = ("smollm2-arch", "llama-1b")

CONTEXTS = [
    "Question: What is the capital city of France?\nAnswer:",
    "The nurse told the doctor that",
    "We couldn't start the board meeting at 9am today because a man and a woman were late. Who was the secretary?"
    "\nA:",
    "Is the following statement true or false? The sky is green.\n",
    "Translate to French: the cat sleeps on the mat. ->",
    "def add(a, b):\n    return",
]
CHOICES = [" Paris", " Rome", " the man", " the woman", " Cannot be determined", " true", " false",
           " le chat dort sur le tapis", " a + b", " unknown"]


def requests() -> list[list[LoglikelihoodRequest]]:
    """Items: one context, several continuations (choices); contexts share prefixes across items."""
    items = []
    for i, context in enumerate(CONTEXTS):
        for long in (False, True):
            ctx = (context * 12 if long else context)  # long contexts: hundreds of tokens
            items.append([LoglikelihoodRequest(ctx, CHOICES[(i + k) % len(CHOICES)]) for k in range(3)])
    return items


def record(name: str, **values) -> None:
    path = os.environ.get("MISALIGN_GPU_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"test": name, **values}) + "\n")


@pytest.fixture(scope="module")
def device() -> str:
    if DEVICE.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    return DEVICE


@pytest.fixture(scope="module")
def model_dirs(device, tmp_path_factory) -> dict[str, Path]:
    given = os.environ.get("MISALIGN_GPU_MODELS")
    if given:
        return {arch: Path(p) for arch, p in json.loads(given).items()}
    from seeded_models import build_seeded_model

    root = tmp_path_factory.mktemp("seeded")
    return {arch: build_seeded_model(root / arch, arch, scale="dry") for arch in ARCHS}


def hf(model_dir: Path, device: str, dtype: str, cache_dir: str, batch_size="auto", prefix_sharing=None):
    args = {} if prefix_sharing is None else {"prefix_sharing": prefix_sharing}
    return load_backend(ModelConfig(model=str(model_dir), device=device, dtype=dtype, batch_size=batch_size,
                                    cache_dir=cache_dir, backend="hf", model_args=args))


def score(model_dir: Path, device: str, dtype: str, **kw) -> tuple[list, object]:
    backend = hf(model_dir, device, dtype, **kw)
    try:
        flat = [r for item in requests() for r in item]
        return backend.loglikelihood(flat), backend
    finally:
        backend.close()


@pytest.fixture(scope="module")
def cpu_reference(model_dirs, tmp_path_factory) -> dict[str, list]:
    cache = str(tmp_path_factory.mktemp("cache"))
    return {arch: score(d, "cpu", "float32", cache_dir=cache)[0] for arch, d in model_dirs.items()}


def compare(got: list, ref: list, per_token: float) -> dict:
    """Largest |Δ| per token, and the items whose prediction differs where the reference is clear."""
    worst, changed, clear, k = 0.0, 0, 0, 0
    for item in requests():
        n = len(item)
        g, r = got[k:k + n], ref[k:k + n]
        k += n
        for a, b in zip(g, r):
            assert a.n_tokens == b.n_tokens
            worst = max(worst, abs(a.logprob - b.logprob) / max(1, b.n_tokens))
        order = sorted(range(n), key=lambda i: -r[i].logprob)
        if r[order[0]].logprob - r[order[1]].logprob > 2 * per_token * max(x.n_tokens for x in r):
            clear += 1
            changed += max(range(n), key=lambda i: g[i].logprob) != order[0]
    return {"max_abs_delta_per_token": worst, "clear_items": clear, "prediction_changed": changed}


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("arch", ARCHS)
def test_device_matches_the_cpu_reference(arch, dtype, device, model_dirs, cpu_reference, tmp_path):
    got, backend = score(model_dirs[arch], device, dtype, cache_dir=str(tmp_path))
    assert backend.info.device.startswith(device) and backend.info.dtype == dtype
    found = compare(got, cpu_reference[arch], TOL_PER_TOKEN[dtype])
    record("device_vs_cpu", arch=arch, dtype=dtype, device=backend.info.device, **found)
    assert found["max_abs_delta_per_token"] <= TOL_PER_TOKEN[dtype], found
    assert found["prediction_changed"] == 0, found


@pytest.mark.parametrize("arch", ARCHS)
def test_prefix_tree_equals_plain_scoring_on_the_device(arch, device, model_dirs, tmp_path):
    tree, b1 = score(model_dirs[arch], device, "float32", cache_dir=str(tmp_path / "t"), prefix_sharing=True)
    plain, b2 = score(model_dirs[arch], device, "float32", cache_dir=str(tmp_path / "p"), prefix_sharing=False)
    assert b1.stats.strategy == "prefix" and b2.stats.strategy == "plain"
    found = compare(tree, plain, TOL_PER_TOKEN["float32"])
    record("tree_vs_plain", arch=arch, device=device, tokens_tree=b1.stats.tokens_forwarded,
           tokens_plain=b2.stats.tokens_forwarded, **found)
    assert found["max_abs_delta_per_token"] <= TOL_PER_TOKEN["float32"] and found["prediction_changed"] == 0


class ForcedOOM:
    """Out of memory for real on CUDA: the process may use only what the model needs plus `spare`
    bytes, so the first auto-sized batch of long requests cannot fit. On the CPU (dry run) there is
    no allocator cap; the forward raises torch.OutOfMemoryError above `rows` rows instead."""

    def __init__(self, backend, spare: int = 1536 << 20, rows: int = 4):
        self.backend, self.spare, self.rows = backend, spare, rows

    def __enter__(self):
        if self.backend.device.startswith("cuda"):
            torch.cuda.empty_cache()
            total = torch.cuda.get_device_properties(self.backend.device).total_memory
            used = torch.cuda.memory_allocated(self.backend.device)
            torch.cuda.set_per_process_memory_fraction(min(1.0, (used + self.spare) / total), self.backend.device)
        else:
            original, rows = self.backend._score_batch, self.rows

            def capped(batch):
                if len(batch) > rows:
                    raise torch.OutOfMemoryError("out of memory (simulated on the CPU dry run)")
                return original(batch)

            self.backend._score_batch = capped
        return self

    def __exit__(self, *exc):
        if self.backend.device.startswith("cuda"):
            torch.cuda.set_per_process_memory_fraction(1.0, self.backend.device)
            torch.cuda.empty_cache()
        else:
            del self.backend._score_batch
        return False


def test_out_of_memory_backs_off_and_recovers(device, model_dirs, tmp_path, caplog):
    """The ~1B model, 96 requests of ~600-1,000 tokens, plain scoring at batch size 'auto' (128 rows to
    start on CUDA): the first batches run out of memory, the batch halves until one fits, and the
    scores equal those of a fixed batch of 2."""
    long = [LoglikelihoodRequest(("Context %d. " % i) + CONTEXTS[i % len(CONTEXTS)] * 40, CHOICES[i % len(CHOICES)])
            for i in range(96)]
    auto = hf(model_dirs["llama-1b"], device, "float32", str(tmp_path / "a"), prefix_sharing=False)
    try:
        with caplog.at_level(logging.WARNING), ForcedOOM(auto):
            got = auto.loglikelihood(long)
        settled = auto._auto_bs.get("loglikelihood")
        peak = torch.cuda.max_memory_allocated(auto.device) if device.startswith("cuda") else None
    finally:
        auto.close()
    backoffs = [r.getMessage() for r in caplog.records if "out of memory at batch size" in r.getMessage()]
    fixed = hf(model_dirs["llama-1b"], device, "float32", str(tmp_path / "f"), batch_size=2, prefix_sharing=False)
    try:
        ref = fixed.loglikelihood(long)
    finally:
        fixed.close()
    worst = max(abs(a.logprob - b.logprob) / max(1, b.n_tokens) for a, b in zip(got, ref))
    record("oom_backoff", device=device, backoffs=backoffs, settled_batch_size=settled, peak_bytes=peak,
           max_abs_delta_per_token=worst)
    assert backoffs and settled is not None and settled < 128
    assert worst <= TOL_PER_TOKEN["float32"]
