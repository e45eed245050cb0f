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

Structure (the seam for a later prefix-shared KV-cache scorer): `encode_pairs` (strings ->
token ids), `_loglikelihood_tokens` (dedupe-free list of token pairs -> scores: sorting, batching,
OOM back-off), `_score_batch` (one right-padded forward, per-row log-softmax over only the needed
positions) and `_forward` (the single model call). Replacing `_loglikelihood_tokens` (or just
`_score_batch`) swaps the scoring strategy without touching tokenization or bookkeeping.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import logging
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

    def __init__(self, config: ModelConfig, *, resolved: ResolvedModel | None = None):
        import torch
        import transformers

        self.config = config
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

        Sorted by total length, longest first (lm-eval's order: OOMs surface at once and each
        batch's first row fixes its padded length), batched, results put back in input order.
        `on_batch` gets the indices (into `pairs`) finished by each batch.
        """
        for ctx, cont in pairs:
            if len(cont) > self.max_length:
                raise ValueError(
                    f"continuation of {len(cont)} tokens exceeds the model's maximum length "
                    f"{self.max_length}"
                )
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

        inputs = [(ctx + cont)[-(self.max_length + 1) :][:-1] for ctx, cont in batch]
        width = max(len(x) for x in inputs)
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
