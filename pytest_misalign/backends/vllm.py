"""The `vllm` backend: vLLM's offline engine (`vllm.LLM`) in this process.

Tokenization is the HF tokenizer's (`hf_tokenizer`), exactly as in the HF backend, and the shared
`TokenizedBackend` layer splits, deduplicates and fits every request; vLLM only ever sees token
ids:

* log-likelihood: each pair's window `(ctx + cont)[-(max_length + 1):]` is sent as a token prompt
  with `SamplingParams(prompt_logprobs=0, max_tokens=1, temperature=0)`; vLLM returns, for every
  prompt position, the log-probability and vocabulary rank of the actual token. The
  continuation's positions are summed, and `is_greedy` holds when every rank is 1
  (lm-evaluation-harness's `VLLM._parse_logprobs`, with ranks instead of a top-1 lookup).
* generation: greedy `SamplingParams(temperature=0, max_tokens, stop)` on the fitted prompt ids;
  the new ids are cut at EOS and decoded with the HF tokenizer (as the HF backend does), so the
  text is identical; vLLM's stop strings only end generation early.

`max_length` is the engine's `max_model_len - 1`, so a full window plus the one token vLLM must
be allowed to generate fits. Model args (`--misalign-model-args`) go to `vllm.LLM` unchanged:
tensor_parallel_size, pipeline_parallel_size, distributed_executor_backend=ray,
gpu_memory_utilization, max_model_len, enforce_eager, ... The backend's defaults, each overridden
by a model arg of the same name: dtype (from --misalign-dtype: float32 on CPU, bfloat16 on GPU),
seed=0, enable_prefix_caching=True, and on CPU enforce_eager=True. See `vllm_engine.py` for the
CPU environment defaults and shutdown.
"""

from __future__ import annotations

import weakref
from typing import Any, Sequence

from . import hf_tokenizer
from .base import ModelConfig, ModelInfo
from .resolve import resolve_model
from .tokenized import GenerationItem, OnDone, TokenizedBackend, TokenPair
from .vllm_engine import (
    SECRET_ARGS,
    check_device,
    check_model_args,
    distributed_initialized,
    engine_kwargs,
    import_vllm,
    platform_device,
    ray_initialized,
    set_env_defaults,
    shutdown_engine,
    start_engine,
)

CHUNK_REQUESTS = 64  # requests per engine call: progress advances after each call
CHUNK_TOKENS = 32768  # ... and at most this many prompt tokens per call


class _Engine:
    """The running `vllm.LLM` and what it takes to stop it; shared with the finalizer, which must
    not hold the backend itself."""

    def __init__(self) -> None:
        self.llm: Any = None
        self.owns_ray = False  # Ray was started by this engine
        self.owns_dist = False  # vLLM's in-process distributed state was set up by this engine

    def shutdown(self) -> None:
        llm, self.llm = self.llm, None
        if llm is not None:
            shutdown_engine(llm, self.owns_ray, self.owns_dist)


class VLLMBackend(TokenizedBackend):
    """`Backend` on a vLLM offline engine; see the module docstring."""

    backend_name = "vllm"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self._engine = _Engine()
        # Runs at close(), when the backend is collected, and at interpreter exit (also after
        # Ctrl-C), whichever comes first.
        self._finalizer = weakref.finalize(self, self._engine.shutdown)
        vllm = import_vllm()
        self.device = platform_device()
        check_device(config, self.device)
        check_model_args(config.model_args, config.model)
        self.resolved = resolve_model(config)
        self.tokenizer = hf_tokenizer.load_tokenizer(
            self.resolved.load_path, config.model, **self._hub_kwargs())
        self.prefix_token_id = hf_tokenizer.prefix_token_id(self.tokenizer)
        self.env = set_env_defaults(self.device)
        self.engine_args = engine_kwargs(config, self.resolved, self.device)
        ray_before, dist_before = ray_initialized(), distributed_initialized()
        try:
            self._engine.llm = start_engine(self.engine_args, config.model_args, config.model)
            self._engine.owns_ray = not ray_before and ray_initialized()
            self._engine.owns_dist = not dist_before
            self.max_length = int(self.llm.llm_engine.model_config.max_model_len) - 1
            self.eos_ids = self._eos_ids()
            self.info = self._describe(vllm.__version__)
        except BaseException:  # a failed start stopped its own engine; Ray may still be ours
            self._engine.owns_ray = not ray_before and ray_initialized()
            if self._engine.llm is None and self._engine.owns_ray:
                shutdown_engine(None, owns_ray=True, owns_dist=False)
            self.close()
            raise

    # ------------------------------------------------------------------ loading
    @property
    def llm(self) -> Any:
        return self._engine.llm

    def _hub_kwargs(self) -> dict:
        kwargs: dict = {"trust_remote_code": bool(self.config.trust_remote_code)}
        if self.resolved.kind == "hub":
            if self.resolved.revision:
                kwargs["revision"] = self.resolved.revision
            kwargs["local_files_only"] = self.resolved.local_files_only
        return kwargs

    def _eos_ids(self) -> list[int]:
        """The tokenizer's EOS plus the generation config's (as the HF backend stops on)."""
        values: list = []
        try:
            from transformers import GenerationConfig

            gen = GenerationConfig.from_pretrained(self.resolved.load_path, **self._hub_kwargs())
            values.append(gen.eos_token_id)
        except Exception:  # noqa: BLE001 - no generation_config.json
            pass
        values.append(self.tokenizer.eos_token_id)
        ids: list[int] = []
        for value in values:
            for t in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(t, int) and t not in ids:
                    ids.append(t)
        return ids

    def _describe(self, version: str) -> ModelInfo:
        vllm_config = self.llm.llm_engine.vllm_config
        model_config, parallel = vllm_config.model_config, vllm_config.parallel_config
        executor = parallel.distributed_executor_backend
        return ModelInfo(
            name=self.config.model,
            device=self.device,
            dtype=str(model_config.dtype).removeprefix("torch."),
            backend=self.backend_name,
            source=self.resolved.source,
            revision=self.resolved.revision,
            fingerprint=self.resolved.fingerprint,
            max_length=self.max_length,
            tokenizer_fingerprint=hf_tokenizer.fingerprint(self.tokenizer),
            engine=f"vllm {version}",
            extra={
                "kind": self.resolved.kind,
                "load_path": self.resolved.load_path,
                "tensor_parallel_size": parallel.tensor_parallel_size,
                "pipeline_parallel_size": parallel.pipeline_parallel_size,
                "data_parallel_size": parallel.data_parallel_size,
                "distributed_executor_backend": getattr(executor, "__name__", executor) if executor
                else None,
                "max_model_len": int(model_config.max_model_len),
                "enforce_eager": bool(model_config.enforce_eager),
                "enable_prefix_caching": bool(vllm_config.cache_config.enable_prefix_caching),
                "trust_remote_code": bool(self.config.trust_remote_code),
                "prefix_token_id": self.prefix_token_id,
                "model_args": {k: "***" if k in SECRET_ARGS else _jsonable(v)
                               for k, v in self.config.model_args.items()},
                "env": dict(self.env),
                **self.resolved.extra,
            },
        )

    # ------------------------------------------------------------------ engine interface
    def tok_encode(self, texts: list[str]) -> list[list[int]]:
        self._check_open()
        return hf_tokenizer.encode(self.tokenizer, texts)

    def chat_prompt(self, user_message: str) -> str:
        self._check_open()
        return hf_tokenizer.chat_prompt(self.tokenizer, self.config.model, user_message)

    def _check_open(self) -> None:
        if self.llm is None:
            raise RuntimeError(f"the vllm backend for {self.config.model!r} is closed")

    def _loglikelihood_tokens(self, pairs: list[TokenPair], on_done: OnDone | None) -> list[tuple[float, bool]]:
        from vllm import SamplingParams

        params = SamplingParams(prompt_logprobs=0, max_tokens=1, temperature=0.0, detokenize=False)
        windows = [self.model_input(ctx, cont) + [cont[-1]] for ctx, cont in pairs]
        self._stats.strategy = "prompt_logprobs"
        scores: list[tuple[float, bool]] = []
        for lo, hi in _chunks([len(w) for w in windows]):
            outputs = self._engine_call(windows[lo:hi], params)
            for (_, cont), window, out in zip(pairs[lo:hi], windows[lo:hi], outputs):
                scores.append(parse_prompt_logprobs(window, len(cont), out.prompt_logprobs))
            self._stats.logit_positions += sum(len(w) - 1 for w in windows[lo:hi])
            if on_done is not None:
                on_done(list(range(lo, hi)))
        return scores

    def _generate_tokens(self, items: list[GenerationItem], on_done: OnDone | None) -> list[str]:
        from vllm import SamplingParams

        params = [SamplingParams(temperature=0.0, max_tokens=item.max_new, stop=list(item.stop) or None,
                                 stop_token_ids=list(self.eos_ids), detokenize=True)
                  for item in items]
        texts: list[str] = []
        for lo, hi in _chunks([len(item.ids) for item in items]):
            outputs = self._engine_call([list(item.ids) for item in items[lo:hi]], params[lo:hi])
            for item, out in zip(items[lo:hi], outputs):
                new = list(out.outputs[0].token_ids)[: item.max_new]
                cut = next((i for i, t in enumerate(new) if t in self.eos_ids), len(new))
                texts.append(self.tokenizer.decode(new[:cut], skip_special_tokens=True))
            if on_done is not None:
                on_done(list(range(lo, hi)))
        return texts

    def _engine_call(self, prompts: list[list[int]], params: Any) -> list:
        """One `llm.generate` on token prompts. An interrupt (Ctrl-C) stops the engine, so nothing
        is left running; any other error drops the requests still in the engine."""
        from vllm import TokensPrompt

        self._check_open()
        try:
            outputs = self.llm.generate([TokensPrompt(prompt_token_ids=p) for p in prompts], params,
                                        use_tqdm=False)
        except Exception:
            self._abort_unfinished()
            raise
        except BaseException:
            self.close()
            raise
        self._stats.forward_calls += 1
        self._stats.tokens_forwarded += sum(len(p) for p in prompts)
        if len(outputs) != len(prompts):
            raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(prompts)} prompts")
        return outputs

    def _abort_unfinished(self) -> None:
        try:
            engine = self.llm.llm_engine
            ids = list(engine.output_processor.request_states)
            if ids:
                engine.abort_request(ids, internal=True)
        except Exception:  # noqa: BLE001 - best effort; the original error is what matters
            pass

    # ------------------------------------------------------------------ lifecycle
    @property
    def stats(self):
        return self._stats

    def close(self) -> None:
        """Stop the engine (worker processes, distributed state, Ray if this backend started it,
        accelerator memory). Idempotent."""
        self._finalizer()

    def __repr__(self) -> str:
        state = "closed" if self.llm is None else f"device={self.device}"
        return f"VLLMBackend({self.config.model!r}, {state})"


def parse_prompt_logprobs(window: Sequence[int], n_cont: int, prompt_logprobs: Sequence) -> tuple[float, bool]:
    """(summed log-probability, every token ranked first) of the window's last `n_cont` tokens,
    from vLLM's per-position `{token_id: Logprob}` (position 0 is None: nothing precedes it)."""
    total, greedy = 0.0, True
    for pos in range(len(window) - n_cont, len(window)):
        entry = prompt_logprobs[pos][window[pos]]
        total += float(entry.logprob)
        greedy = greedy and entry.rank == 1
    return total, greedy


def _chunks(sizes: list[int]) -> list[tuple[int, int]]:
    """[lo, hi) ranges of at most CHUNK_REQUESTS items and CHUNK_TOKENS tokens (at least one)."""
    out, lo, tokens = [], 0, 0
    for i, size in enumerate(sizes):
        if i > lo and (i - lo >= CHUNK_REQUESTS or tokens + size > CHUNK_TOKENS):
            out.append((lo, i))
            lo, tokens = i, 0
        tokens += size
    if lo < len(sizes):
        out.append((lo, len(sizes)))
    return out


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)
