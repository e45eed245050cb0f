"""Hooks other plugins and conftest.py files can implement (the seams, as in pytest itself)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from typing import Sequence

    from .backends.base import Backend, ModelConfig
    from .checks.kind import CheckKind


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


@pytest.hookspec
def pytest_misalign_check_kinds(config: pytest.Config) -> "Sequence[CheckKind]":
    """Return check kinds (`pytest_misalign.checks.CheckKind`) to add to the built-in ones.

    A kind declared here parses, runs, reports and gates exactly like a built-in one: suites name it
    in `checks:` (its `params` and rules are validated with file, line and key), its `run` gives the
    fixed-n `CheckResult`, its `monitor` (or `no_monitor`, the reason it has none) serves
    `--misalign-gate=sequential`, and every report (terminal, JSON, HTML, markdown, JUnit) shows its
    results. Implement it in a plugin or a conftest.py at the rootdir (it is called once, in
    `pytest_configure`); a name that is already taken is a usage error naming both plugins.

    Example (a conftest.py)::

        from pytest_misalign.checks import CheckKind, CheckResult
        from pytest_misalign.spec.params import RATE, STATS, Param

        def check_refusals(check, outcome, name): ...   # -> CheckResult

        def pytest_misalign_check_kinds(config):
            return [CheckKind(name="refusal_rate", params={"max": Param(RATE, required=True), **STATS},
                              run=check_refusals, no_monitor="a ratio of two counts")]
    """
