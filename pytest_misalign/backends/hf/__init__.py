"""Hugging Face transformers backend: the engine under `TokenizedBackend` (`../tokenized.py`).

Log-likelihoods follow lm-evaluation-harness's HFLM exactly (`HFLM._loglikelihood_tokens`): the
model input is `(ctx + cont)[-(max_length + 1):][:-1]`; the score is the sum of log-softmax values
at the positions that predict each continuation token; `is_greedy` is true when every continuation
token is the argmax there. The tokenized layer does the string side (lm-eval `_encode_pair`,
de-duplication, empty continuations, progress).

The package, along its concepts:

* `loading.py`: device / dtype choice, config, weights, maximum length;
* `plain.py`: lm-eval's algorithm (sorted, batched, right-padded forwards, OOM back-off);
* `tree.py`: prefix sharing (default): every distinct input prefix of a call runs once, packed
  into rows with tree attention (`../prefix.py`); checked once per model against the plain path;
* `generate.py`: greedy generation.

Batch size: an integer is the number of (distinct) requests per model call in both strategies.
"auto" is, for prefix sharing, a token budget per call (rows of at most `row_tokens` tree nodes):
on CPU the best-throughput size measured on this project's 2-core reference machine, on CUDA a
large budget halved on every out-of-memory error; for the plain path 16 (CPU) / 128 (CUDA)
requests, halved on OOM. `backend.stats` counts requests, model calls and tokens forwarded.

Model args (`--misalign-model-args`): `prefix_sharing` (true/false), `attn_implementation`
(e.g. eager, sdpa, flash_attention_2), `max_length` (tokens; default: the model config's).
"""

from __future__ import annotations

import gc
import inspect
import logging

from ..base import ModelConfig, ModelInfo
from ..model_args import reject_unknown
from ..resolve import ResolvedModel, resolve_model
from ..tokenized import OnDone, TokenizedBackend, TokenPair, truncate_at_stop
from .. import hf_tokenizer
from .generate import HFGeneration
from .loading import (
    detect_max_length,
    load_config,
    load_model,
    load_tokenizer,
    parse_batch_size,
    pick_device,
    pick_dtype,
    quiet_progress,
)
from .tree import TreeScoring

log = logging.getLogger(__name__)

PREFIX_SHARING = True  # default strategy for log-likelihoods (HFBackend(prefix_sharing=...) overrides)
MODEL_ARGS = ("prefix_sharing", "attn_implementation", "max_length")

__all__ = ["HFBackend", "pick_device", "pick_dtype", "truncate_at_stop"]


class HFBackend(TreeScoring, HFGeneration, TokenizedBackend):
    """transformers AutoModelForCausalLM behind the `Backend` protocol."""

    backend_name = "hf"

    def __init__(
        self,
        config: ModelConfig,
        *,
        resolved: ResolvedModel | None = None,
        prefix_sharing: bool | None = None,
    ):
        import torch

        super().__init__()
        args = dict(config.model_args or {})
        reject_unknown(args, MODEL_ARGS, "hf", config.model)
        self.config = config
        if prefix_sharing is None:
            prefix_sharing = args.get("prefix_sharing", PREFIX_SHARING)
        self.prefix_sharing = bool(prefix_sharing)
        self._tree_ok: bool | None = None  # prefix sharing verified on this model (None: not yet)
        # Validate the cheap options first: resolving may convert a GGUF (~20 s, once).
        self.device = pick_device(config.device)
        self.dtype_name = pick_dtype(config.dtype, self.device)
        self._torch_dtype = getattr(torch, self.dtype_name)
        self._batch_size_setting = parse_batch_size(config.batch_size)
        self._auto_bs: dict[str, int] = {}
        self.resolved = resolved if resolved is not None else resolve_model(config)

        with quiet_progress(self.resolved.kind != "hub"):
            self.model_config = load_config(config, self.resolved)  # cheap, fails early on remote code
            self.tokenizer = load_tokenizer(config, self.resolved)
            self.model, self.attn_implementation = load_model(
                config, self.resolved, self.model_config, self._torch_dtype, self.device,
                args.get("attn_implementation"))
        self._set_token_ids()
        self.max_length = int(args.get("max_length") or detect_max_length(self.model, self.tokenizer))
        params = inspect.signature(self.model.forward).parameters
        self._logits_to_keep_arg = next(
            (n for n in ("logits_to_keep", "num_logits_to_keep") if n in params), None
        )
        self.info = self._describe()

    def _set_token_ids(self) -> None:
        tok = self.tokenizer
        self.eos_token_id: int | None = tok.eos_token_id
        self.prefix_token_id: int | None = hf_tokenizer.prefix_token_id(tok)
        self.pad_token_id: int = next(
            (t for t in (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) if t is not None), 0
        )

    def _describe(self) -> ModelInfo:
        import torch
        import transformers

        resolved, config = self.resolved, self.config
        fingerprint, revision = resolved.fingerprint, resolved.revision
        if resolved.kind == "hub" and fingerprint is None:
            commit = getattr(self.model.config, "_commit_hash", None)
            fingerprint, revision = commit, commit or revision
        return ModelInfo(
            name=config.model, device=self.device, dtype=self.dtype_name, backend=self.backend_name,
            source=resolved.source, revision=revision, fingerprint=fingerprint,
            max_length=self.max_length, tokenizer_fingerprint=hf_tokenizer.fingerprint(self.tokenizer),
            engine=f"transformers {transformers.__version__}",
            extra={
                "kind": resolved.kind,
                "load_path": resolved.load_path,
                "batch_size": config.batch_size,
                "attn_implementation": self.attn_implementation,
                "trust_remote_code": bool(config.trust_remote_code),
                "prefix_token_id": self.prefix_token_id,
                "torch_version": torch.__version__,
                "model_args": dict(config.model_args or {}),
                **resolved.extra,
            },
        )

    # ------------------------------------------------------------------ engine interface
    def tok_encode(self, texts: list[str]) -> list[list[int]]:
        return hf_tokenizer.encode(self.tokenizer, texts)

    def _check_open(self) -> None:
        if self.model is None:
            raise RuntimeError("HFBackend is closed")

    def _loglikelihood_tokens(self, pairs: list[TokenPair], on_done: OnDone | None = None) -> list[tuple[float, bool]]:
        """Score token pairs (non-empty continuations); (logprob, is_greedy) in order.

        Prefix sharing when enabled and verified on this model; pairs longer than a sliding
        attention window (which a custom mask would override) go the plain way.
        """
        import torch

        with torch.inference_mode():
            if not (self.prefix_sharing and self._prefix_sharing_ok()):
                self.stats.strategy = "plain"
                return self._loglikelihood_plain(pairs, on_done)
            self.stats.strategy = "prefix"
            window = self._sliding_window()
            tree = [i for i, (ctx, cont) in enumerate(pairs)
                    if window is None or len(self.model_input(ctx, cont)) <= window]
            plain = sorted(set(range(len(pairs))) - set(tree))
            out: list[tuple[float, bool]] = [(0.0, True)] * len(pairs)
            for part, scorer in ((tree, self._loglikelihood_tree), (plain, self._loglikelihood_plain)):
                if part:
                    sub = None if on_done is None else (lambda done, part=part: on_done([part[i] for i in done]))
                    for i, score in zip(part, scorer([pairs[i] for i in part], sub)):
                        out[i] = score
            return out

    def chat_prompt(self, user_message: str) -> str:
        self._check_open()
        return hf_tokenizer.chat_prompt(self.tokenizer, self.info.name, user_message)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        model = getattr(self, "model", None)
        self.model = None
        self.tokenizer = None
        if model is not None:
            del model
            gc.collect()
            try:
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            except ImportError:  # pragma: no cover
                pass

    def __repr__(self) -> str:
        return f"HFBackend({self.info.name!r}, device={self.info.device}, dtype={self.info.dtype})"
