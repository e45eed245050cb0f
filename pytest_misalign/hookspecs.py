"""Hooks other plugins and conftest.py files can implement (the seams, as in pytest itself)."""

from __future__ import annotations

import pytest


@pytest.hookspec(firstresult=True)
def pytest_misalign_make_backend(model_config, config):
    """Return a `Backend` for `model_config` (a `ModelConfig`), or None to let the next plugin try.

    The built-in implementation loads Hugging Face transformers models (hub ids, local folders, .gguf
    files, the embedded `smollm2-135m`). Implement it in a conftest.py or plugin to evaluate a model
    behind another runtime (vLLM, an HTTP server, ...). Called at most once per session, lazily.
    """
