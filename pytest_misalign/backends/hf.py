"""Hugging Face transformers backend.

Log-likelihoods follow lm-evaluation-harness's HFLM exactly (`TemplateLM._encode_pair`,
`HFLM._loglikelihood_tokens`), so numbers are comparable with published lm-eval results:

* trailing whitespace of the context moves onto the continuation;
* `context + continuation` is tokenized whole (no special tokens); the context tokens are
  `tokenize(context)` and the continuation tokens are the rest of the whole encoding;
* an empty context is replaced by the prefix token (BOS, or EOS when there is no BOS) and the
  continuation is tokenized alone;
* the model input is `(ctx + cont)[-(max_length + 1):][:-1]`; the score is the sum of
  log-softmax values at the positions that predict each continuation token; `is_greedy` is true
  when every continuation token is the argmax there.

Two deliberate, documented extensions where lm-eval would crash on an assertion: an empty
continuation scores 0.0 (is_greedy=True, n_tokens=0) without a forward pass, and a context that is
only whitespace is treated like an empty context (prefix token, whole continuation).

Structure: `encode_pairs` (strings -> token ids), `_loglikelihood_tokens` (deduplicated token
pairs -> scores), which picks one of two strategies with identical results:

* prefix sharing (default, `prefix_sharing=True`): every distinct input prefix is run once, across
  all requests of the call (a token trie packed into rows with tree attention; see `prefix.py`).
  `_tree_forward` runs one packed model call. Checked once per backend against the plain path on
  a small probe; a model whose attention ignores custom masks or position ids falls back to plain.
* plain (`prefix_sharing=False`, lm-eval's algorithm): requests sorted by length, batched,
  right-padded (`_score_batch`, `_forward`), OOM back-off.

Batch size: an integer is the number of (distinct) requests per model call in both strategies.
"auto" is, for prefix sharing, a token budget per call (rows of at most `row_tokens` tree nodes):
on CPU the best-throughput size measured on this project's 2-core reference machine, on CUDA a
large budget halved on every out-of-memory error; for the plain path 16 (CPU) / 128 (CUDA)
requests, halved on OOM. `backend.stats` counts requests, model calls and tokens forwarded.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import logging
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

from .base import (
    GenerationRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelConfig,
    ModelInfo,
    Progress,
)
from .errors import ModelLoadError
from .resolve import ResolvedModel, resolve_model

log = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 2048  # lm-eval's fallback when neither config nor tokenizer says
CPU_AUTO_BATCH_SIZE = 16
CUDA_AUTO_BATCH_SIZE = {"loglikelihood": 128, "generate": 64}

PREFIX_SHARING = True  # default strategy for log-likelihoods (HFBackend(prefix_sharing=...) overrides)
# Prefix sharing, batch size "auto": tree nodes per packed row, and tokens (rows x width) per model
# call. CPU: measured on a 2-core machine with SmolLM2-135M (throughput is flat from ~256 tokens
# per call on; longer rows waste time on masked attention). CUDA: start large, halve on OOM.
CPU_ROW_TOKENS = 512
CPU_FORWARD_TOKENS = 1024
CUDA_ROW_TOKENS = 2048
CUDA_FORWARD_TOKENS = 32768
LOGIT_CHUNK = 256  # positions whose vocabulary-wide logits exist at once (memory bound)
# Largest |tree - plain| log-probability on the start-up probe before prefix sharing is turned off.
PROBE_TOLERANCE = {"float32": 1e-3, "bfloat16": 0.15, "float16": 0.15}

_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}

TokenPair = tuple[list[int], list[int]]


@dataclass
class ScoringStats:
    """Cumulative log-likelihood work of one backend (`backend.stats`)."""

    requests: int = 0  # log-likelihood requests received
    scored: int = 0  # distinct token pairs with a non-empty continuation among them
    forward_calls: int = 0  # model calls
    tokens_forwarded: int = 0  # real tokens run through the model (padding excluded)
    padded_tokens: int = 0  # rows x width of every model call (padding included)
    plain_tokens: int = 0  # what one unshared forward per scored pair would run (lm-eval)
    trie_tokens: int = 0  # distinct input prefixes of the scored pairs: the floor for exact scores
    logit_positions: int = 0  # positions whose next-token distribution was computed
    strategy: str = ""  # "prefix" or "plain" (of the last call)

    def as_dict(self) -> dict:
        return asdict(self)

    def reset(self) -> None:
        for key, value in asdict(ScoringStats()).items():
            setattr(self, key, value)


# --------------------------------------------------------------------------- device / dtype
def pick_device(requested: str = "auto") -> str:
    """'auto' -> 'cuda' if available, else 'mps' if available, else 'cpu'. Validates the rest."""
    import torch

    req = (requested or "auto").strip().lower()
    if req == "auto":
        if torch.cuda.is_available():
            return f"cuda:{torch.cuda.current_device()}"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if req == "cpu":
        return "cpu"
    if req.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelLoadError(
                f"device {requested!r} was requested but CUDA is not available "
                f"(torch {torch.__version__})",
                hint="use device 'auto' or 'cpu', or install a CUDA build of torch",
            )
        if req == "cuda":
            return f"cuda:{torch.cuda.current_device()}"
        try:
            index = int(req.split(":", 1)[1])
        except (IndexError, ValueError):
            raise ModelLoadError(f"bad device {requested!r}", hint="use cuda or cuda:N") from None
        if not 0 <= index < torch.cuda.device_count():
            raise ModelLoadError(
                f"device {requested!r}: only {torch.cuda.device_count()} CUDA device(s) visible",
                hint="pick an existing index, or 'cuda' / 'auto'",
            )
        return f"cuda:{index}"
    if req.startswith("mps"):
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ModelLoadError(
                f"device {requested!r} was requested but MPS is not available",
                hint="use device 'auto' or 'cpu'",
            )
        return "mps"
    raise ModelLoadError(
        f"unknown device {requested!r}", hint="use auto, cpu, cuda, cuda:N or mps"
    )


def pick_dtype(requested: str, device: str) -> str:
    """'auto' -> bfloat16 on CUDA (float16 if the GPU lacks bf16), float32 elsewhere."""
    req = (requested or "auto").strip().lower()
    if req == "auto":
        if device.startswith("cuda"):
            import torch

            return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        return "float32"
    if req.startswith("torch."):
        req = req[len("torch."):]
    if req not in _DTYPES:
        raise ModelLoadError(
            f"unknown dtype {requested!r}", hint="use auto, float32, bfloat16 or float16"
        )
    return _DTYPES[req]


@contextlib.contextmanager
def _quiet_progress(enabled: bool = True):
    """Hide transformers' per-load progress bars ("Loading weights") for local loads, which take
    about a second; hub downloads keep theirs."""
    if not enabled:
        yield
        return
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    if was_on:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


# --------------------------------------------------------------------------- backend
class HFBackend:
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
        import transformers

        self.config = config
        self.prefix_sharing = PREFIX_SHARING if prefix_sharing is None else bool(prefix_sharing)
        self._tree_ok: bool | None = None  # prefix sharing verified on this model (None: not yet)
        self.stats = ScoringStats()
        # Validate the cheap options first: resolving may convert a GGUF (~20 s, once).
        self.device = pick_device(config.device)
        self.dtype_name = pick_dtype(config.dtype, self.device)
        self._torch_dtype = getattr(torch, self.dtype_name)
        self._batch_size_setting = self._parse_batch_size(config.batch_size)
        self._auto_bs: dict[str, int] = {}
        self.resolved = resolved if resolved is not None else resolve_model(config)

        with _quiet_progress(self.resolved.kind != "hub"):
            self.model_config = self._load_config()  # first: cheap, fails early on remote code
            self.tokenizer = self._load_tokenizer()
            self.model, self.attn_implementation = self._load_model()

        tok = self.tokenizer
        self.eos_token_id: int | None = tok.eos_token_id
        self.prefix_token_id: int | None = (
            tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        )
        self.pad_token_id: int = next(
            (
                t
                for t in (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id)
                if t is not None
            ),
            0,
        )
        self.max_length = self._detect_max_length()
        params = inspect.signature(self.model.forward).parameters
        self._logits_to_keep_arg = next(
            (n for n in ("logits_to_keep", "num_logits_to_keep") if n in params), None
        )

        fingerprint = self.resolved.fingerprint
        revision = self.resolved.revision
        if self.resolved.kind == "hub" and fingerprint is None:
            commit = getattr(self.model.config, "_commit_hash", None)
            fingerprint = commit
            revision = commit or revision
        self.info = ModelInfo(
            name=config.model,
            device=self.device,
            dtype=self.dtype_name,
            backend=self.backend_name,
            source=self.resolved.source,
            revision=revision,
            fingerprint=fingerprint,
            extra={
                "kind": self.resolved.kind,
                "load_path": self.resolved.load_path,
                "max_length": self.max_length,
                "batch_size": config.batch_size,
                "attn_implementation": self.attn_implementation,
                "trust_remote_code": bool(config.trust_remote_code),
                "prefix_token_id": self.prefix_token_id,
                "tokenizer_fingerprint": self._tokenizer_fingerprint(),
                "transformers_version": transformers.__version__,
                "torch_version": torch.__version__,
                **self.resolved.extra,
            },
        )

    # ------------------------------------------------------------------ loading
    @staticmethod
    def _parse_batch_size(value: int | str) -> int | str:
        if isinstance(value, bool):
            raise ValueError(f"batch_size must be a positive int or 'auto', got {value!r}")
        if isinstance(value, int):
            if value < 1:
                raise ValueError(f"batch_size must be a positive int or 'auto', got {value!r}")
            return value
        text = str(value).strip().lower()
        if text == "auto":
            return "auto"
        if text.isdigit() and int(text) > 0:
            return int(text)
        raise ValueError(f"batch_size must be a positive int or 'auto', got {value!r}")

    def _load_kwargs(self) -> dict:
        kwargs: dict = {"trust_remote_code": bool(self.config.trust_remote_code)}
        if self.resolved.kind == "hub":
            if self.resolved.revision:
                kwargs["revision"] = self.resolved.revision
            kwargs["local_files_only"] = self.resolved.local_files_only
        return kwargs

    def _load_error(self, what: str, exc: BaseException) -> ModelLoadError:
        msg = str(exc)
        if "trust_remote_code" in msg:
            hint = (
                "this model ships its own Python code; if you trust it, pass "
                "--misalign-trust-remote-code (ini: misalign_trust_remote_code = true)"
            )
        elif _is_oom(exc):
            hint = "not enough memory: try dtype bfloat16/float16, another device, or a smaller model"
        elif self.resolved.kind in ("gguf", "embedded"):
            hint = (
                f"the converted cache {self.resolved.load_path} may be damaged: delete it and retry"
            )
        else:
            hint = "check that the directory / repo holds a causal LM in transformers format"
        return ModelLoadError(
            f"could not load the {what} of {self.config.model!r} from {self.resolved.load_path}: "
            f"{type(exc).__name__}: {msg}",
            model=self.config.model,
            hint=hint,
        )

    def _load_config(self):
        from transformers import AutoConfig

        try:
            return AutoConfig.from_pretrained(self.resolved.load_path, **self._load_kwargs())
        except ModelLoadError:
            raise
        except Exception as exc:
            raise self._load_error("config", exc) from exc

    def _load_tokenizer(self):
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(self.resolved.load_path, **self._load_kwargs())
        except ModelLoadError:
            raise
        except Exception as exc:
            raise self._load_error("tokenizer", exc) from exc

    def _load_model(self):
        from transformers import AutoModelForCausalLM

        kwargs = {**self._load_kwargs(), "dtype": self._torch_dtype, "config": self.model_config}
        if self.device != "cpu":
            kwargs["device_map"] = self.device  # load straight onto the accelerator
        path = self.resolved.load_path
        try:
            try:
                model = AutoModelForCausalLM.from_pretrained(
                    path, attn_implementation="sdpa", **kwargs
                )
            except (ValueError, ImportError) as exc:
                if "sdpa" not in str(exc).lower() and "attn" not in str(exc).lower():
                    raise
                log.info("sdpa attention unsupported for %s (%s); using the default", path, exc)
                model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
        except ModelLoadError:
            raise
        except Exception as exc:
            raise self._load_error("model", exc) from exc
        model.eval()
        attn = getattr(model.config, "_attn_implementation", None)
        return model, attn

    def _detect_max_length(self) -> int:
        # Same order as lm-eval's HFLM.max_length.
        for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
            value = getattr(self.model.config, attr, None)
            if isinstance(value, int) and value > 0:
                return value
        tml = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(tml, int) and 0 < tml < 1_000_000_000:
            return tml
        return DEFAULT_MAX_LENGTH

    def _check_open(self) -> None:
        if self.model is None:
            raise RuntimeError("HFBackend is closed")

    def _tokenizer_fingerprint(self) -> str:
        """sha256 of the tokenizer's full definition (vocab, merges, normalizers, special tokens);
        part of the result-cache key, alongside the weights' fingerprint."""
        import hashlib
        import json

        tok = self.tokenizer
        h = hashlib.sha256(type(tok).__name__.encode())
        backend = getattr(tok, "backend_tokenizer", None)
        if backend is not None and hasattr(backend, "to_str"):
            h.update(backend.to_str().encode())
        else:
            h.update(json.dumps(sorted(tok.get_vocab().items())).encode())
        special = {"bos": tok.bos_token_id, "eos": tok.eos_token_id, "pad": tok.pad_token_id,
                   "unk": tok.unk_token_id, "all": list(getattr(tok, "all_special_ids", []))}
        h.update(json.dumps(special, sort_keys=True, default=str).encode())
        return h.hexdigest()

    # ------------------------------------------------------------------ batch sizes
    def _start_batch_size(self, kind: str) -> int:
        if isinstance(self._batch_size_setting, int):
            return self._batch_size_setting
        if kind in self._auto_bs:
            return self._auto_bs[kind]
        if self.device.startswith("cuda"):
            return CUDA_AUTO_BATCH_SIZE[kind]
        return CPU_AUTO_BATCH_SIZE

    def _run_batched(
        self,
        kind: str,
        items: list,
        run: Callable[[list], list],
        on_batch: Callable[[int, int], None] | None,
    ) -> list:
        """Apply `run` to consecutive chunks of `items`; halve the chunk on OOM when 'auto'."""
        import torch

        out: list = []
        bs = self._start_batch_size(kind)
        auto = self._batch_size_setting == "auto"
        start = 0
        while start < len(items):
            chunk = items[start : start + bs]
            oom = False
            try:
                out.extend(run(chunk))
            except Exception as exc:
                if not (auto and _is_oom(exc) and bs > 1):
                    raise
                oom = True
            if oom:  # outside the except block, so the traceback's tensors can be freed
                bs = max(1, bs // 2)
                self._auto_bs[kind] = bs
                log.warning("out of memory at batch size %d; retrying with %d", bs * 2, bs)
                gc.collect()
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            if on_batch is not None:
                on_batch(start, start + len(chunk))
            start += len(chunk)
        return out

    # ------------------------------------------------------------------ tokenization
    def _encode_many(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        encoded = self.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
        return [list(ids) for ids in encoded]

    def encode_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[TokenPair]:
        """lm-eval `_encode_pair` for many (context, continuation) pairs at once."""
        contexts: list[str] = []
        wholes: list[str] = []
        for context, continuation in pairs:
            if context == "":
                contexts.append("")
                wholes.append(continuation)
                continue
            n_spaces = len(context) - len(context.rstrip())
            if n_spaces > 0:
                continuation = context[-n_spaces:] + continuation
                context = context[:-n_spaces]
            contexts.append(context)
            wholes.append(context + continuation)
        nonempty = [i for i, c in enumerate(contexts) if c]
        ctx_enc = dict(zip(nonempty, self._encode_many([contexts[i] for i in nonempty])))
        whole_enc = self._encode_many(wholes)
        out: list[TokenPair] = []
        for i, whole in enumerate(whole_enc):
            ctx = ctx_enc.get(i, [])
            if not ctx:
                if self.prefix_token_id is None:
                    raise ValueError(
                        "empty context but the tokenizer has neither a BOS nor an EOS token"
                    )
                out.append(([self.prefix_token_id], whole))
            else:
                out.append((ctx, whole[len(ctx) :]))
        return out

    # ------------------------------------------------------------------ log-likelihood
    def loglikelihood(
        self, requests: Sequence[LoglikelihoodRequest], progress: Progress | None = None
    ) -> list[LoglikelihoodResult]:
        import torch

        self._check_open()
        requests = list(requests)
        self.stats.requests += len(requests)
        if not requests:
            return []
        encoded = self.encode_pairs([(r.context, r.continuation) for r in requests])

        # Deduplicate on token ids (identical strings, or strings that tokenize identically).
        unique: list[TokenPair] = []
        slot_of: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}
        request_slot: list[int] = []
        for ctx, cont in encoded:
            key = (tuple(ctx), tuple(cont))
            slot = slot_of.get(key)
            if slot is None:
                slot = slot_of[key] = len(unique)
                unique.append((ctx, cont))
            request_slot.append(slot)
        multiplicity = [0] * len(unique)
        for slot in request_slot:
            multiplicity[slot] += 1

        scores: list[tuple[float, bool] | None] = [None] * len(unique)
        to_score: list[int] = []
        for slot, (_, cont) in enumerate(unique):
            if not cont:
                scores[slot] = (0.0, True)
            else:
                to_score.append(slot)
        if progress is not None:
            n_trivial = sum(multiplicity[s] for s in range(len(unique)) if scores[s] is not None)
            if n_trivial:
                progress(n_trivial)

        on_batch = None
        if progress is not None:

            def on_batch(done_slots: list[int]) -> None:
                progress(sum(multiplicity[to_score[i]] for i in done_slots))

        with torch.inference_mode():
            results = self._loglikelihood_tokens([unique[s] for s in to_score], on_batch)
        for i, res in zip(to_score, results):
            scores[i] = res
        return [
            LoglikelihoodResult(
                logprob=scores[slot][0],  # type: ignore[index]
                is_greedy=scores[slot][1],  # type: ignore[index]
                n_tokens=len(unique[slot][1]),
            )
            for slot in request_slot
        ]

    def _loglikelihood_tokens(
        self,
        pairs: list[TokenPair],
        on_batch: Callable[[list[int]], None] | None = None,
    ) -> list[tuple[float, bool]]:
        """Score token pairs (non-empty continuations); returns (logprob, is_greedy) in order.

        `on_batch` gets the indices (into `pairs`) finished by each model call. Prefix sharing when
        enabled and verified on this model; pairs longer than a sliding attention window (which a
        custom mask would override) go the plain way.
        """
        for ctx, cont in pairs:
            if len(cont) > self.max_length:
                raise ValueError(
                    f"continuation of {len(cont)} tokens exceeds the model's maximum length "
                    f"{self.max_length}"
                )
        self.stats.scored += len(pairs)
        self.stats.plain_tokens += sum(len(self._model_input(ctx, cont)) for ctx, cont in pairs)
        if not pairs:
            return []
        if not (self.prefix_sharing and self._prefix_sharing_ok()):
            self.stats.strategy = "plain"
            return self._loglikelihood_plain(pairs, on_batch)
        self.stats.strategy = "prefix"
        window = self._sliding_window()
        tree = [i for i, (ctx, cont) in enumerate(pairs)
                if window is None or len(self._model_input(ctx, cont)) <= window]
        out: list[tuple[float, bool]] = [(0.0, True)] * len(pairs)
        for part, scorer in ((tree, self._loglikelihood_tree),
                             (sorted(set(range(len(pairs))) - set(tree)), self._loglikelihood_plain)):
            if not part:
                continue
            sub_cb = None
            if on_batch is not None:

                def sub_cb(done: list[int], part=part) -> None:
                    on_batch([part[i] for i in done])

            for i, score in zip(part, scorer([pairs[i] for i in part], sub_cb)):
                out[i] = score
        return out

    def _model_input(self, ctx: list[int], cont: list[int]) -> list[int]:
        """lm-eval's model input for a pair: the last max_length + 1 tokens, minus the last."""
        return (ctx + cont)[-(self.max_length + 1) :][:-1]

    def _loglikelihood_plain(
        self,
        pairs: list[TokenPair],
        on_batch: Callable[[list[int]], None] | None = None,
    ) -> list[tuple[float, bool]]:
        """lm-eval's way: one full forward per pair.

        Sorted by total length, longest first (lm-eval's order: OOMs surface at once and each
        batch's first row fixes its padded length), batched, results put back in input order.
        """
        order = sorted(
            range(len(pairs)),
            key=lambda i: (-(len(pairs[i][0]) + len(pairs[i][1])), tuple(pairs[i][0] + pairs[i][1])),
        )
        callback = None
        if on_batch is not None:

            def callback(lo: int, hi: int) -> None:
                on_batch(order[lo:hi])

        sorted_scores = self._run_batched(
            "loglikelihood", [pairs[i] for i in order], self._score_batch, callback
        )
        out: list[tuple[float, bool]] = [(0.0, True)] * len(pairs)
        for i, score in zip(order, sorted_scores):
            out[i] = score
        return out

    def _score_batch(self, batch: list[TokenPair]) -> list[tuple[float, bool]]:
        """One right-padded forward for `batch`; log-softmax only where continuations sit.

        No attention mask is needed: with right padding and a causal model, real positions never
        attend to the pads after them, and position ids 0..n-1 are already right (lm-eval does the
        same).
        """
        import torch

        inputs = [self._model_input(ctx, cont) for ctx, cont in batch]
        width = max(len(x) for x in inputs)
        self.stats.forward_calls += 1
        self.stats.tokens_forwarded += sum(len(x) for x in inputs)
        self.stats.padded_tokens += width * len(inputs)
        self.stats.logit_positions += sum(len(cont) for _, cont in batch)
        ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
        for row, inp in enumerate(inputs):
            ids[row, : len(inp)] = torch.tensor(inp, dtype=torch.long)
        # Continuation tokens of row r are predicted at positions [len(inp) - len(cont), len(inp)).
        starts = [len(inp) - len(cont) for inp, (_, cont) in zip(inputs, batch)]
        first = min(starts)
        logits = self._forward(ids.to(self.device), keep=width - first)  # positions [first, width)

        logprobs, greedy = [], []
        for row, (inp, (_, cont)) in enumerate(zip(inputs, batch)):
            rows = logits[row, starts[row] - first : len(inp) - first].float()
            target = torch.tensor(cont, dtype=torch.long, device=rows.device)
            lp = torch.log_softmax(rows, dim=-1)
            logprobs.append(lp.gather(-1, target.unsqueeze(-1)).sum())
            greedy.append((rows.argmax(dim=-1) == target).all())
        return list(
            zip(
                (float(x) for x in torch.stack(logprobs).tolist()),
                (bool(x) for x in torch.stack(greedy).tolist()),
            )
        )

    # ------------------------------------------------------------------ prefix sharing
    def _sliding_window(self) -> int | None:
        """The model's sliding attention window, when it has one in use (Mistral, Gemma 2/3...)."""
        cfg = self.model.config
        window = getattr(cfg, "sliding_window", None)
        if getattr(cfg, "use_sliding_window", True) is False:
            return None
        return window if isinstance(window, int) and window > 0 else None

    def _tree_budget(self) -> tuple[int, int | None, int | None]:
        """(row_tokens, forward_tokens, max_requests) for packing."""
        cuda = self.device.startswith("cuda")
        row = CUDA_ROW_TOKENS if cuda else CPU_ROW_TOKENS
        if isinstance(self._batch_size_setting, int):
            return row, None, self._batch_size_setting
        budget = self._auto_bs.get("tree_tokens", CUDA_FORWARD_TOKENS if cuda else CPU_FORWARD_TOKENS)
        return min(row, budget), budget, None

    def _loglikelihood_tree(
        self,
        pairs: list[TokenPair],
        on_batch: Callable[[list[int]], None] | None = None,
    ) -> list[tuple[float, bool]]:
        """Every distinct input prefix of `pairs` once (see `prefix.py`), packed into model calls;
        on OOM with batch size "auto", the token budget halves and the rest is re-planned."""
        import torch

        from .prefix import build_trie, plan

        inputs = [self._model_input(ctx, cont) for ctx, cont in pairs]
        conts = [cont for _, cont in pairs]
        trie, paths = build_trie(inputs)
        self.stats.trie_tokens += len(trie)
        out: list[tuple[float, bool] | None] = [None] * len(pairs)
        remaining = list(range(len(pairs)))
        auto = self._batch_size_setting == "auto"
        longest = max(len(x) for x in inputs)
        while remaining:
            row_tokens, forward_tokens, max_requests = self._tree_budget()
            p = plan([inputs[i] for i in remaining], row_tokens=row_tokens,
                     forward_tokens=forward_tokens, max_requests=max_requests,
                     trie=trie, paths=[paths[i] for i in remaining])
            oom = False
            for fwd in p.forwards:
                done = [remaining[i] for i in fwd.requests]
                try:
                    scores = self._tree_forward(trie, fwd.rows, [[remaining[i] for i in r.requests]
                                                                 for r in fwd.rows], paths, conts)
                except Exception as exc:
                    if not (auto and _is_oom(exc) and forward_tokens is not None and forward_tokens > longest):
                        raise
                    oom = True
                    break
                for i, score in zip(done, scores):
                    out[i] = score
                if on_batch is not None:
                    on_batch(done)
            if oom:  # outside the except block, so the traceback's tensors can be freed
                smaller = max(longest, forward_tokens // 2)
                self._auto_bs["tree_tokens"] = smaller
                log.warning("out of memory at %d tokens per call; retrying with %d", forward_tokens, smaller)
                gc.collect()
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            remaining = [i for i in remaining if out[i] is None]
        return out  # type: ignore[return-value]

    def _tree_forward(self, trie, rows, row_requests, paths, conts) -> list[tuple[float, bool]]:
        """One model call over packed rows; (logprob, is_greedy) per request, row by row.

        Each row is a set of trie nodes in ancestor-first order; a node attends to exactly its
        ancestors and itself (4D mask) at position id = its depth. Pads (right) attend only to
        themselves and are never read. Logits are computed only at nodes that predict a
        continuation token, once per node however many requests need them.
        """
        import numpy as np
        import torch

        from .prefix import row_arrays

        n_rows, width = len(rows), max(len(r) for r in rows)
        ids = np.full((n_rows, width), self.pad_token_id, dtype=np.int64)
        pos = np.zeros((n_rows, width), dtype=np.int64)
        allowed = np.zeros((n_rows, 1, width, width), dtype=bool)
        allowed[:, 0, np.arange(width), np.arange(width)] = True  # pads see themselves (no NaN)
        need: dict[tuple[int, int], int] = {}
        owner: list[int] = []
        which: list[int] = []
        target: list[int] = []
        n_req = 0
        for r, (row, reqs) in enumerate(zip(rows, row_requests)):
            tok, depth, mask, col = row_arrays(trie, row)
            n = len(tok)
            ids[r, :n], pos[r, :n], allowed[r, 0, :n, :n] = tok, depth, mask
            for i in reqs:
                path, cont = paths[i], conts[i]
                first = len(path) - len(cont)  # the node predicting cont[0]
                for j, t in enumerate(cont):
                    key = (r, col[path[first + j]])
                    k = need.get(key)
                    if k is None:
                        k = need[key] = len(need)
                    owner.append(n_req)
                    which.append(k)
                    target.append(t)
                n_req += 1

        dev = self.device
        if self.attn_implementation == "sdpa":
            mask_t = torch.from_numpy(allowed).to(dev)
        else:  # eager & co. add the mask to the scores
            mask_t = torch.zeros(allowed.shape, dtype=self._torch_dtype)
            mask_t.masked_fill_(torch.from_numpy(~allowed), torch.finfo(self._torch_dtype).min)
            mask_t = mask_t.to(dev)
        hidden = self._decoder_hidden(
            torch.from_numpy(ids).to(dev), mask_t, torch.from_numpy(pos).to(dev)
        )
        keys = list(need)
        rows_idx = torch.tensor([k[0] for k in keys], dtype=torch.long, device=hidden.device)
        cols_idx = torch.tensor([k[1] for k in keys], dtype=torch.long, device=hidden.device)
        states = hidden[rows_idx, cols_idx]  # [K, hidden]: only the positions that predict
        del hidden
        head = self._head_logits
        which_t = torch.tensor(which, dtype=torch.long, device=states.device)
        target_t = torch.tensor(target, dtype=torch.long, device=states.device)
        owner_t = torch.tensor(owner, dtype=torch.long, device=states.device)
        # The vocabulary-wide logits are the largest tensor here: make them LOGIT_CHUNK rows at a
        # time and keep only, per position, log-sum-exp, argmax and the targets' logits.
        picked = torch.empty(len(which), dtype=torch.float32, device=states.device)
        lse = torch.empty(len(keys), dtype=torch.float32, device=states.device)
        best = torch.empty(len(keys), dtype=torch.long, device=states.device)
        for lo in range(0, len(keys), LOGIT_CHUNK):
            logits = head(states[lo : lo + LOGIT_CHUNK]).float()
            lse[lo : lo + LOGIT_CHUNK] = torch.logsumexp(logits, dim=-1)
            best[lo : lo + LOGIT_CHUNK] = logits.argmax(dim=-1)
            sel = (which_t >= lo) & (which_t < lo + LOGIT_CHUNK)
            picked[sel] = logits[which_t[sel] - lo, target_t[sel]]
            del logits
        values = (picked - lse[which_t]).double()
        sums = torch.zeros(n_req, dtype=torch.float64, device=states.device).index_add_(0, owner_t, values)
        misses = torch.zeros(n_req, dtype=torch.long, device=states.device).index_add_(
            0, owner_t, (best[which_t] != target_t).long()
        )
        self.stats.forward_calls += 1
        self.stats.tokens_forwarded += sum(len(r) for r in rows)
        self.stats.padded_tokens += n_rows * width
        self.stats.logit_positions += len(keys)
        return list(zip((float(x) for x in sums.tolist()), (m == 0 for m in misses.tolist())))

    def _head_logits(self, states):
        """The model's logits from final hidden states: the output embedding, plus the final
        soft-capping (Gemma 2/3) or logit scale (Cohere) that the full model would apply."""
        import torch

        logits = self.model.get_output_embeddings()(states)
        cfg = self.model.config
        scale = getattr(cfg, "logit_scale", None)
        if isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale != 1:
            logits = logits * scale
        cap = getattr(cfg, "final_logit_softcapping", None)
        if isinstance(cap, (int, float)) and not isinstance(cap, bool) and cap > 0:
            logits = torch.tanh(logits / cap) * cap
        return logits

    def _decoder_hidden(self, input_ids, attention_mask, position_ids):
        """Last hidden states of the decoder stack (final norm included): [rows, width, hidden]."""
        out = self.model.get_decoder()(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
            use_cache=False,
        )
        return out[0]

    def _prefix_sharing_ok(self) -> bool:
        """Verify once, on a small probe, that packed tree attention reproduces the plain scores
        (custom 4D masks and position ids honoured, decoder + output head = the model's logits).
        Models that fail (or raise) are scored the plain way, with a log message saying why."""
        if self._tree_ok is not None:
            return self._tree_ok
        import torch

        from .prefix import plan

        vocab = int(self.model.get_output_embeddings().weight.shape[0]) if (
            self.model.get_output_embeddings() is not None) else 0
        ok, why = False, "the model has no output embeddings"
        if vocab > 16:
            toks = [(37 * k + 11) % vocab for k in range(12)]
            a = toks[:7]
            b = toks[:3] + toks[7:10]
            c = toks[10:12] + toks[:2]
            pairs = [(seq[:k], [seq[k]]) for seq in (a, b, c) for k in range(1, len(seq))]
            pairs = [(x, y) for x, y in pairs if len(x) + 1 <= self.max_length]
            inputs = [self._model_input(x, y) for x, y in pairs]
            p = plan(inputs, row_tokens=10)  # a and b share a row (8 nodes), c gets a padded one
            saved = self.stats.as_dict()
            try:
                with torch.inference_mode():
                    plain = HFBackend._score_batch(self, pairs)  # not an instance-level spy
                    tree: list = [None] * len(pairs)
                    trie, paths = p.trie, p.paths
                    for fwd in p.forwards:
                        got = self._tree_forward(trie, fwd.rows, [r.requests for r in fwd.rows],
                                                 paths, [y for _, y in pairs])
                        for i, score in zip(fwd.requests, got):
                            tree[i] = score
                err = max(abs(x[0] - y[0]) for x, y in zip(plain, tree))
                tol = PROBE_TOLERANCE.get(self.dtype_name, 0.15)
                ok = err <= tol
                why = f"tree attention differs from the plain forward by {err:.3g} (> {tol})"
            except Exception as exc:  # noqa: BLE001 - any failure means "not supported here"
                ok, why = False, f"{type(exc).__name__}: {exc}"
            finally:
                for key, value in saved.items():
                    setattr(self.stats, key, value)
        if not ok:
            log.warning("prefix sharing disabled for %s (%s); scoring one sequence per request",
                        self.config.model, why)
        self._tree_ok = ok
        return ok

    def _forward(self, input_ids, keep: int):
        """Logits for the last `keep` positions of each row: [batch, keep, vocab]."""
        width = input_ids.shape[1]
        kwargs = {}
        if self._logits_to_keep_arg is not None and keep < width:
            kwargs[self._logits_to_keep_arg] = keep
        logits = self.model(input_ids=input_ids, use_cache=False, **kwargs).logits
        if logits.shape[1] != keep:
            logits = logits[:, -keep:]
        return logits

    # ------------------------------------------------------------------ generation
    def generate(
        self, requests: Sequence[GenerationRequest], progress: Progress | None = None
    ) -> list[str]:
        import torch

        self._check_open()
        requests = list(requests)
        if not requests:
            return []
        prompts = self._encode_many([r.prompt for r in requests])

        unique: list[tuple[list[int], int, tuple[str, ...]]] = []
        slot_of: dict = {}
        request_slot: list[int] = []
        for req, ids in zip(requests, prompts):
            if not ids:
                if self.prefix_token_id is None:
                    raise ValueError("empty prompt but the tokenizer has neither BOS nor EOS")
                ids = [self.prefix_token_id]
            max_new = max(0, int(req.max_tokens))
            budget = max(1, self.max_length - max_new)
            ids = ids[-budget:]  # lm-eval: keep the prompt's end when it does not fit
            stops = tuple(s for s in req.stop if s)
            key = (tuple(ids), max_new, stops)
            slot = slot_of.get(key)
            if slot is None:
                slot = slot_of[key] = len(unique)
                unique.append((ids, max_new, stops))
            request_slot.append(slot)
        multiplicity = [0] * len(unique)
        for slot in request_slot:
            multiplicity[slot] += 1

        texts: list[str | None] = [None] * len(unique)
        work = []
        for slot, (_, max_new, _) in enumerate(unique):
            if max_new == 0:
                texts[slot] = ""
            else:
                work.append(slot)
        if progress is not None:
            n_trivial = sum(multiplicity[s] for s in range(len(unique)) if texts[s] is not None)
            if n_trivial:
                progress(n_trivial)

        order = sorted(work, key=lambda s: (-len(unique[s][0]), tuple(unique[s][0])))
        callback = None
        if progress is not None:

            def callback(lo: int, hi: int) -> None:
                progress(sum(multiplicity[s] for s in order[lo:hi]))

        with torch.inference_mode():
            outs = self._run_batched(
                "generate", [unique[s] for s in order], self._generate_batch, callback
            )
        for slot, text in zip(order, outs):
            texts[slot] = text
        return [texts[slot] for slot in request_slot]  # type: ignore[misc]

    def _eos_ids(self) -> list[int]:
        ids: list[int] = []
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for value in (gen_eos, self.eos_token_id):
            for t in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(t, int) and t not in ids:
                    ids.append(t)
        return ids

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _generate_batch(self, batch: list[tuple[list[int], int, tuple[str, ...]]]) -> list[str]:
        """Greedy decoding for one batch, left-padded; each row stops at its own max_tokens,
        first stop string, or EOS; the whole batch stops when every row has."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        width = max(len(ids) for ids, _, _ in batch)
        input_ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (ids, _, _) in enumerate(batch):
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids) :] = 1
        max_new = max(m for _, m, _ in batch)
        limits = [m for _, m, _ in batch]
        stops = [s for _, _, s in batch]
        decode = self._decode

        class _RowStop(StoppingCriteria):
            def __call__(self, seqs, scores, **kwargs):
                done = torch.zeros(seqs.shape[0], dtype=torch.bool, device=seqs.device)
                n_new = seqs.shape[1] - width
                for r in range(seqs.shape[0]):
                    if n_new >= limits[r]:
                        done[r] = True
                    elif stops[r]:
                        text = decode(seqs[r, width:].tolist())
                        done[r] = any(s in text for s in stops[r])
                return done

        eos_ids = self._eos_ids()
        out = self.model.generate(
            input_ids=input_ids.to(self.device),
            attention_mask=attention.to(self.device),
            max_new_tokens=max_new,
            do_sample=False,
            num_beams=1,
            temperature=None,
            top_p=None,
            top_k=None,
            stopping_criteria=StoppingCriteriaList([_RowStop()]),
            pad_token_id=self.pad_token_id,
            eos_token_id=eos_ids or None,
        )
        texts = []
        for row, (_, limit, row_stops) in enumerate(batch):
            new = out[row, width:].tolist()[:limit]
            for i, t in enumerate(new):
                if t in eos_ids:
                    new = new[:i]
                    break
            texts.append(truncate_at_stop(self._decode(new), row_stops))
        return texts

    def chat_prompt(self, user_message: str) -> str:
        """`user_message` as one user turn in the tokenizer's chat template, ready for the
        assistant's reply (`add_generation_prompt`). Special tokens stay text; encoding without
        `add_special_tokens` maps them back to their ids."""
        self._check_open()
        if not getattr(self.tokenizer, "chat_template", None):
            raise ModelLoadError(
                f"model {self.info.name!r} has no chat template, but a task sets `chat: true`",
                model=self.info.name, hint="remove `chat: true` from the task, or use an instruction-tuned model",
            )
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": user_message}], tokenize=False, add_generation_prompt=True
        )

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

    def __enter__(self) -> "HFBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HFBackend({self.info.name!r}, device={self.info.device}, dtype={self.info.dtype})"


def truncate_at_stop(text: str, stops: Sequence[str]) -> str:
    """Cut `text` at the earliest occurrence of any (non-empty) stop string."""
    cut = len(text)
    for s in stops:
        if s:
            i = text.find(s)
            if 0 <= i < cut:
                cut = i
    return text[:cut]
