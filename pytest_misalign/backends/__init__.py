"""Model backends behind one small interface (see `base.py`).

Importing this package is cheap (no torch / transformers); `load_backend` imports the heavy
machinery only when a model is actually loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import (
    Backend,
    GenerationRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelConfig,
    ModelInfo,
    Progress,
)
from .errors import ModelLoadError
from .resolve import DEFAULT_MODEL, ResolvedModel, cache_root, models_dir, resolve_model

if TYPE_CHECKING:  # pragma: no cover
    from .hf import HFBackend

__all__ = [
    "Backend",
    "DEFAULT_MODEL",
    "GenerationRequest",
    "HFBackend",
    "LoglikelihoodRequest",
    "LoglikelihoodResult",
    "ModelConfig",
    "ModelInfo",
    "ModelLoadError",
    "Progress",
    "ResolvedModel",
    "cache_root",
    "load_backend",
    "models_dir",
    "resolve_model",
]


def load_backend(config: ModelConfig) -> Backend:
    """Resolve `config.model` and load it with the transformers backend."""
    from .hf import HFBackend

    return HFBackend(config)


def __getattr__(name: str):
    if name == "HFBackend":
        from .hf import HFBackend

        return HFBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
