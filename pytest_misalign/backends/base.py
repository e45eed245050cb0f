"""The one small interface every model backend implements.

A backend answers two kinds of request — log-likelihood of a continuation given a context, and
greedy generation — and describes itself (`ModelInfo`). HF transformers, vLLM and HTTP servers are
interchangeable behind it; scoring code never touches torch.

Callers see `Backend` (the protocol). Implementers usually subclass `TokenizedBackend`
(`tokenized.py`: strings -> token ids written once, the engine scores token pairs) or, for an engine
that works on strings only, `BackendBase` (defaults for the optional capabilities).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

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
    """Greedy generation. With `chat=True`, `prompt` is one user turn: the backend puts it in the
    model's chat template (or sends it to a chat endpoint) and generates the assistant's reply."""

    prompt: str
    max_tokens: int = 32
    stop: tuple[str, ...] = ()
    chat: bool = False


@dataclass(frozen=True)
class ModelConfig:
    """What the user asked for (command line / ini)."""

    model: str
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16 | float64 (hf)
    batch_size: int | str = "auto"  # positive int or "auto"
    trust_remote_code: bool = False
    revision: str | None = None
    cache_dir: str | None = None  # root of the caches: converted models and scored results
    model_cache_dir: str | None = None  # converted models only (default: cache_dir)
    backend: str = "auto"  # auto | hf | vllm | openai (see registry.py)
    model_args: Mapping[str, Any] = field(default_factory=dict)  # handed to the engine


@dataclass(frozen=True)
class ModelInfo:
    """What was actually loaded; recorded in reports, results files and the result-cache key."""

    name: str
    device: str
    dtype: str
    backend: str = "hf"
    source: str = ""  # resolved path, hub id, or server URL (never with credentials)
    revision: str | None = None
    fingerprint: str | None = None  # stable hash identifying the weights (None: not cacheable)
    max_length: int | None = None  # longest input the model scores (tokens)
    tokenizer_fingerprint: str | None = None  # hash of the tokenizer's full definition
    engine: str = ""  # e.g. "transformers 5.19.0", "vllm 0.32.0"
    extra: dict = field(default_factory=dict)  # backend-specific provenance (JSON-serialisable)


@runtime_checkable
class Backend(Protocol):
    """What callers use. `BackendBase` gives defaults for `chat_prompt`, `stats` and `close`."""

    info: ModelInfo

    def loglikelihood(
        self, requests: Sequence[LoglikelihoodRequest], progress: Progress | None = None
    ) -> list[LoglikelihoodResult]: ...

    def generate(
        self, requests: Sequence[GenerationRequest], progress: Progress | None = None
    ) -> list[str]: ...

    def chat_prompt(self, user_message: str) -> str:
        """`user_message` as one user turn in the model's chat template, ready for the reply."""
        ...

    @property
    def stats(self) -> dict:
        """Counters of the work done (requests, model calls, tokens...), for reports and benches."""
        ...

    def close(self) -> None: ...


class BackendBase:
    """Defaults for the optional parts of `Backend`: no chat template, no stats, nothing to close."""

    info: ModelInfo

    def chat_prompt(self, user_message: str) -> str:
        from .errors import ModelLoadError

        raise ModelLoadError(
            f"model {self.info.name!r} ({self.info.backend} backend) has no chat template, "
            "but a task sets `chat: true`",
            model=self.info.name,
            hint="remove `chat: true` from the task, or use an instruction-tuned model",
        )

    def loglikelihood_rolling(self, texts: Sequence[str], progress: Progress | None = None) -> list[float]:
        """Summed log-probability of each whole text (lm-eval `loglikelihood_rolling`), for
        `type: perplexity` tasks. `TokenizedBackend` implements it; other backends must."""
        from .errors import ModelLoadError

        raise ModelLoadError(
            f"model {self.info.name!r} ({self.info.backend} backend) cannot score whole texts "
            "(no loglikelihood_rolling), but a task has `type: perplexity`",
            model=self.info.name,
            hint="use the hf, vllm or openai backend, or implement `loglikelihood_rolling(texts, progress)` "
            "in the backend (subclassing TokenizedBackend gives it)",
        )

    @property
    def stats(self) -> dict:
        return {}

    def close(self) -> None:
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_REQUIRED = ("loglikelihood", "generate")


def as_backend(obj: Any, where: str = "the backend") -> Backend:
    """Check that `obj` (e.g. returned by a `pytest_misalign_make_backend` hook) is a backend, and
    give it the optional members it lacks, so callers never need `getattr` probing."""
    from .errors import ModelLoadError

    missing = [name for name in _REQUIRED if not callable(getattr(obj, name, None))]
    if not isinstance(getattr(obj, "info", None), ModelInfo):
        missing.append("info (a ModelInfo)")
    if missing:
        raise ModelLoadError(
            f"{where} returned {type(obj).__name__}, which lacks {', '.join(missing)}",
            hint="return an object implementing pytest_misalign.backends.Backend "
            "(subclass BackendBase or TokenizedBackend; see docs/backends.md, 'Writing a backend')",
        )
    if all(hasattr(obj, name) for name in ("chat_prompt", "stats", "close", "loglikelihood_rolling")):
        return obj
    return _Completed(obj)


class _Completed(BackendBase):
    """A third-party backend with `BackendBase`'s defaults for what it does not define."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.info = inner.info

    def loglikelihood(self, requests, progress=None):
        return self.inner.loglikelihood(requests, progress=progress)

    def generate(self, requests, progress=None):
        return self.inner.generate(requests, progress=progress)

    def loglikelihood_rolling(self, texts, progress=None):
        own = getattr(self.inner, "loglikelihood_rolling", None)
        return own(texts, progress=progress) if own is not None else super().loglikelihood_rolling(texts, progress)

    def chat_prompt(self, user_message: str) -> str:
        own = getattr(self.inner, "chat_prompt", None)
        return own(user_message) if own is not None else super().chat_prompt(user_message)

    @property
    def stats(self) -> dict:
        own = getattr(self.inner, "stats", None)
        return dict(own) if isinstance(own, Mapping) else {}

    def close(self) -> None:
        own = getattr(self.inner, "close", None)
        if own is not None:
            own()

    def __getattr__(self, name: str):  # the backend's own extras (counters, tokenizer, ...)
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
