"""Model backends behind one small interface (see `base.py`), chosen through `registry.py`.

Importing this package is cheap (no torch / transformers / vllm); `load_backend` imports the heavy
machinery of the chosen engine only when a model is actually loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import (
    Backend,
    BackendBase,
    GenerationRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelConfig,
    ModelInfo,
    Progress,
    as_backend,
)
from .errors import ModelLoadError
from .model_args import parse_model_args
from .registry import BACKEND_CHOICES, PROVIDERS, load_backend
from .resolve import DEFAULT_MODEL, ResolvedModel, cache_root, models_dir, resolve_model
from .tokenized import GenerationItem, ScoringStats, TokenizedBackend, truncate_at_stop

if TYPE_CHECKING:  # pragma: no cover
    from .hf import HFBackend

__all__ = [
    "BACKEND_CHOICES",
    "Backend",
    "BackendBase",
    "DEFAULT_MODEL",
    "GenerationItem",
    "GenerationRequest",
    "HFBackend",
    "LoglikelihoodRequest",
    "LoglikelihoodResult",
    "ModelConfig",
    "ModelInfo",
    "ModelLoadError",
    "PROVIDERS",
    "Progress",
    "ResolvedModel",
    "ScoringStats",
    "TokenizedBackend",
    "as_backend",
    "cache_root",
    "load_backend",
    "models_dir",
    "parse_model_args",
    "resolve_model",
    "truncate_at_stop",
]


def __getattr__(name: str):
    if name == "HFBackend":
        from .hf import HFBackend

        return HFBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
