"""Hooks other plugins and conftest.py files can implement (the seams, as in pytest itself)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from .backends.base import Backend, ModelConfig


@pytest.hookspec(firstresult=True)
def pytest_misalign_make_backend(model_config: "ModelConfig", config: pytest.Config) -> "Backend | None":
    """Return a `Backend` for `model_config` (a `ModelConfig`), or None to let the next plugin try.

    The built-in implementation (run last) loads the engine `model_config.backend` names through the
    registry (`backends/registry.py`): `hf` (transformers: hub ids, local folders, .gguf files, the
    embedded `smollm2-135m`), `vllm` (offline vLLM engine) or `openai` (an OpenAI-compatible server
    at an http(s) URL); `auto` picks `openai` for URLs, else `hf`. `model_config.model_args` holds
    the parsed `--misalign-model-args`.

    Implement it in a conftest.py or plugin to evaluate a model behind another runtime: subclass
    `TokenizedBackend` (implement token scoring and generation; tokenization, de-duplication and
    progress are shared) or `BackendBase` (strings in, scores out). A custom backend name given with
    `--misalign-backend` is left to your hook. Called at most once per session, lazily; the object
    returned is checked (`loglikelihood`, `generate`, `info`), and `close()` is called at the end.
    """
