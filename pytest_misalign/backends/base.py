"""The one small interface every model backend implements.

A backend answers two kinds of request — log-likelihood of a continuation given a context, and
greedy generation — and describes itself (`ModelInfo`). HF transformers, vLLM and HTTP servers are
interchangeable behind it; scoring code never touches torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence, runtime_checkable

Progress = Callable[[int], None]
"""Called with the number of requests just finished (for progress bars)."""


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """Score `continuation` given `context` (lm-evaluation-harness conventions)."""

    context: str
    continuation: str


@dataclass(frozen=True)
class LoglikelihoodResult:
    logprob: float  # summed log-probability of the continuation's tokens
    is_greedy: bool  # every continuation token is the argmax
    n_tokens: int  # number of continuation tokens scored


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    max_tokens: int = 32
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelConfig:
    """What the user asked for (command line / ini)."""

    model: str
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    batch_size: int | str = "auto"  # positive int or "auto"
    trust_remote_code: bool = False
    revision: str | None = None
    cache_dir: str | None = None  # where converted models (and later results) are cached


@dataclass(frozen=True)
class ModelInfo:
    """What was actually loaded; recorded in reports and results files."""

    name: str
    device: str
    dtype: str
    backend: str = "hf"
    source: str = ""  # resolved path or hub id
    revision: str | None = None
    fingerprint: str | None = None  # stable hash identifying the weights (+ tokenizer)
    extra: dict = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    info: ModelInfo

    def loglikelihood(
        self, requests: Sequence[LoglikelihoodRequest], progress: Progress | None = None
    ) -> list[LoglikelihoodResult]: ...

    def generate(
        self, requests: Sequence[GenerationRequest], progress: Progress | None = None
    ) -> list[str]: ...

    def close(self) -> None: ...
