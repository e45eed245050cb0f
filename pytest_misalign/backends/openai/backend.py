"""`OpenAIBackend`: any OpenAI-compatible server (vLLM, SGLang, TGI, ...) as a `TokenizedBackend`.

`--misalign-model=http://HOST:PORT/v1`; model args (`--misalign-model-args=k=v,...`):

* `model`: the served model name (default: the only one `/v1/models` lists);
* `api_key_env`: the environment variable holding the API key (default `OPENAI_API_KEY`);
* `tokenizer`: a local Hugging Face tokenizer (path or hub id) for servers without `/tokenize`;
* `max_concurrency` (8), `batch_size` (prompts per request, 16), `timeout` (s, 300),
  `max_retries` (5), `max_length` (tokens; default the server's `max_model_len` - 2).

Tokenization is the server's `/tokenize` when it has one (the shared layer's rules then apply to
the server's own tokens), else the local `tokenizer`. When both exist they must tokenize a probe
text identically, or loading fails. Without either, only generation works (string prompts).
The prefix token (what an empty context becomes) is the local tokenizer's BOS/EOS, else the
server's (see `server.server_prefix_token`).

Log-likelihood: `(ctx + cont)[-(max_length + 1):]` as a token-id prompt to `/v1/completions` with
echo + logprobs (see `payload.py`); the server generates one token after it, hence `- 2`.
Generation: token-id prompts to `/v1/completions`; `chat=True` requests go to
`/v1/chat/completions` as one user turn, where the server applies its chat template.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from typing import Any, Sequence

from .. import hf_tokenizer
from ..base import GenerationRequest, ModelConfig, ModelInfo, Progress
from ..errors import ModelLoadError
from ..model_args import reject_unknown
from ..tokenized import (
    GenerationItem,
    OnDone,
    ScoringStats,
    TokenizedBackend,
    TokenPair,
    dedup,
    truncate_at_stop,
)
from . import payload, server
from .client import Client, ServerError, display_url
from .payload import ResponseError

MODEL_ARGS = ("model", "api_key_env", "tokenizer", "max_concurrency", "batch_size", "timeout",
              "max_retries", "max_length")
DEFAULT_MAX_LENGTH = 2048  # when neither the server nor `max_length=` says


@dataclass
class OpenAIStats(ScoringStats):
    http_calls: int = 0  # every HTTP request, probes and /tokenize included (retries too)
    retries: int = 0  # requests repeated after a 429 / 5xx / timeout / dropped connection
    tokens_sent: int = 0  # prompt tokens sent for scoring and generation


def _positive(args: dict, key: str, default: Any, kind: type, model: str, zero_ok: bool = False) -> Any:
    value = args.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or \
            (value == 0 and not zero_ok) or (kind is int and value != int(value)):
        what = "non-negative" if zero_ok else "positive"
        raise ModelLoadError(f"--misalign-model-args: {key}={value!r} is not a {what} {kind.__name__}",
                             model=model, hint=f"e.g. {key}={default}")
    return kind(value)


def _check_url(url: str) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ModelLoadError(f"--misalign-model={display_url(url) if parts else '<unparseable URL>'} is not a "
                             "valid server URL", model=display_url(url) if parts else None,
                             hint="use the server's API base, e.g. http://127.0.0.1:8000/v1")


class OpenAIBackend(TokenizedBackend):
    backend_name = "openai"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self._stats = OpenAIStats()
        self._closed = False
        args = dict(config.model_args or {})
        _check_url(config.model)
        name = display_url(config.model)
        reject_unknown(args, MODEL_ARGS, "openai", name)
        self.client = Client(config.model, api_key=self._api_key(args, name),
                             timeout=_positive(args, "timeout", 300, float, name),
                             max_retries=_positive(args, "max_retries", 5, int, name, zero_ok=True),
                             max_concurrency=_positive(args, "max_concurrency", 8, int, name),
                             counters=self._stats)
        default_batch = config.batch_size if isinstance(config.batch_size, int) and config.batch_size > 0 else 16
        self.batch_size = _positive(args, "batch_size", default_batch, int, name)
        try:
            self._load(config, args, name)
        except (ServerError, ResponseError) as exc:
            self.client.close()
            raise server.load_error(self.client, exc, "probe failed", name) from None
        except BaseException:
            self.client.close()
            raise

    # ------------------------------------------------------------------ loading
    @staticmethod
    def _api_key(args: dict, name: str) -> str | None:
        var = args.get("api_key_env")
        if var is None:
            return os.environ.get("OPENAI_API_KEY") or None
        if not isinstance(var, str) or not os.environ.get(var):
            raise ModelLoadError(f"--misalign-model-args: api_key_env={var!r} names an environment variable "
                                 "that is not set", model=name, hint=f"export {var}=<your key> before pytest")
        return os.environ[var]

    def _load(self, config: ModelConfig, args: dict, name: str) -> None:
        client = self.client
        self.served, entry = server.served_model(client, args.get("model"), name)
        self.token_ids = entry.get("owned_by") == "vllm"  # `return_tokens_as_token_ids` is understood
        self.tokenizer = None
        tok_arg = args.get("tokenizer")
        if tok_arg is not None:
            self.tokenizer = hf_tokenizer.load_tokenizer(str(tok_arg), name,
                                                         trust_remote_code=bool(config.trust_remote_code))
        probe = server.server_tokenize(client, self.served, server.PROBE_TEXT)
        self.server_tokenizes = probe is not None
        if self.tokenizer is not None:
            local = hf_tokenizer.encode(self.tokenizer, [server.PROBE_TEXT])[0]
            if probe is not None:
                server.check_tokenizers_agree(local, probe, client, str(tok_arg), name)
            probe = local
        server_len = server.server_max_len(client, self.served, entry)
        if args.get("max_length") is not None:
            self.max_length = _positive(args, "max_length", 0, int, name)
        else:
            self.max_length = (server_len or DEFAULT_MAX_LENGTH) - 2
        if self.tokenizer is not None:
            self.prefix_token_id, prefix_how = hf_tokenizer.prefix_token_id(self.tokenizer), "local tokenizer"
        elif probe is not None:
            self.prefix_token_id, prefix_how = server.server_prefix_token(client, self.served, probe)
        else:
            self.prefix_token_id, prefix_how = None, "no tokenizer"
        behaviour, self._ll_error = server.behaviour(client, self.served, probe if probe is not None
                                                     else server.PROBE_TEXT, self.token_ids)
        if behaviour is None:
            behaviour = server.generated_behaviour(client, self.served)
        if probe is None:
            self._ll_error = ("the server has no /tokenize endpoint and no local tokenizer was given, so "
                              "contexts and continuations cannot be split into tokens")
        self.info = self._describe(name, entry, behaviour, tok_arg, server_len, prefix_how, args)

    def _describe(self, name: str, entry: dict, behaviour: list[str] | None, tok_arg: Any,
                  server_len: int | None, prefix_how: str, args: dict) -> ModelInfo:
        client = self.client
        if self.tokenizer is not None:
            tok_fp = hf_tokenizer.fingerprint(self.tokenizer)
        else:
            tok_fp = server.server_tokenizer_fingerprint(client, self.served) if self.server_tokenizes else None
        return ModelInfo(
            name=name, device="server", dtype="server", backend=self.backend_name, source=client.display,
            fingerprint=server.fingerprint(self.served, behaviour) if behaviour is not None else None,
            max_length=self.max_length, tokenizer_fingerprint=tok_fp,
            engine=server.engine_name(client, entry),
            extra={"server_url": client.display, "served_model": self.served,
                   "tokenizer": str(tok_arg) if tok_arg is not None else
                   ("server /tokenize" if self.server_tokenizes else None),
                   "tokenization": "server" if self.server_tokenizes else ("local" if self.tokenizer else None),
                   "server_max_model_len": server_len, "prefix_token_id": self.prefix_token_id,
                   "prefix_token_source": prefix_how, "prompt_logprobs": self._ll_error is None,
                   "max_concurrency": client.max_concurrency, "batch_size": self.batch_size,
                   "timeout": client.timeout, "max_retries": client.max_retries,
                   "model_args": dict(args)},
        )

    # ------------------------------------------------------------------ engine interface
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"the openai backend for {self.info.name} has been closed")

    def _prefix(self, what: str) -> int:
        if self.prefix_token_id is None:
            raise ModelLoadError(
                f"an empty {what} needs the model's BOS (or EOS) token, which the server at "
                f"{self.client.display} does not reveal (its /tokenize adds no BOS and it has no /tokenizer_info)",
                model=self.info.name, hint="pass the served model's tokenizer with "
                "--misalign-model-args=tokenizer=PATH_OR_HUB_ID, or start vLLM with --enable-tokenizer-info-endpoint")
        return self.prefix_token_id

    @property
    def can_tokenize(self) -> bool:
        return self.server_tokenizes or self.tokenizer is not None

    def tok_encode(self, texts: list[str]) -> list[list[int]]:
        if not self.server_tokenizes:
            if self.tokenizer is None:
                raise ModelLoadError(f"the server at {self.client.display} cannot tokenize (no /tokenize) and "
                                     "no local tokenizer was given", model=self.info.name,
                                     hint="pass --misalign-model-args=tokenizer=PATH_OR_HUB_ID of the served model")
            return hf_tokenizer.encode(self.tokenizer, texts)
        distinct = list(dict.fromkeys(texts))
        url = self.client.url("tokenize", root=True)
        calls = [lambda t=t: self.client.request("POST", "tokenize", payload.tokenize_payload(self.served, t),
                                                 root=True, parse=lambda r: payload.tokens(r, url))
                 for t in distinct]
        got: dict[str, list[int]] = {}
        for i, ids in self.client.map(calls):
            got[distinct[i]] = ids
        return [list(got[t]) for t in texts]

    def _batches(self, n: int) -> list[list[int]]:
        return [list(range(i, min(n, i + self.batch_size))) for i in range(0, n, self.batch_size)]

    def _loglikelihood_tokens(self, pairs: list[TokenPair], on_done: OnDone | None) -> list[tuple[float, bool]]:
        if self._ll_error is not None:
            raise ModelLoadError(f"log-likelihood tasks cannot run on {self.client.display}: {self._ll_error}",
                                 model=self.info.name, hint="serve the model with vLLM (or another server "
                                 "with echo+logprobs on /v1/completions), or run only generation tasks")
        windows = [(ctx + cont)[-(self.max_length + 1):] for ctx, cont in pairs]
        url = self.client.url("completions")

        def call(batch: list[int]):
            body = payload.loglikelihood_payload(self.served, [windows[i] for i in batch], self.token_ids)
            return self.client.request("POST", "completions", body, parse=lambda r: [
                payload.parse_loglikelihood(ch, len(windows[i]), len(pairs[i][1]), url)
                for i, ch in zip(batch, payload.choices(r, url, len(batch)))])

        sent = sum(len(w) for w in windows)
        self._stats.strategy = "echo_logprobs"
        out = self._run_batches(self._batches(len(pairs)), call, len(pairs), on_done)
        self._stats.tokens_forwarded += sent
        self._stats.tokens_sent += sent
        self._stats.padded_tokens += sent
        self._stats.logit_positions += sent
        return out

    def _generate_tokens(self, items: list[GenerationItem], on_done: OnDone | None) -> list[str]:
        groups: dict[tuple, list[int]] = {}
        for i, item in enumerate(items):
            groups.setdefault((item.max_new, item.stop), []).append(i)
        batches = [idx[j:j + self.batch_size] for idx in groups.values()
                   for j in range(0, len(idx), self.batch_size)]
        url = self.client.url("completions")

        def call(batch: list[int]):
            first = items[batch[0]]
            body = payload.completion_payload(self.served, [items[i].ids for i in batch],
                                              max_tokens=first.max_new, stop=first.stop)
            return self.client.request("POST", "completions", body, parse=lambda r: [
                payload.completion_text(ch, url) for ch in payload.choices(r, url, len(batch))])

        self._stats.tokens_sent += sum(len(item.ids) for item in items)
        return self._run_batches(batches, call, len(items), on_done)

    def _run_batches(self, batches: list[list[int]], call, n: int, on_done: OnDone | None) -> list:
        """`call(batch)` for every batch, `max_concurrency` in flight; answers back in input order,
        `on_done` as each request returns."""
        out: list = [None] * n
        for b, answers in self.client.map([lambda b=b: call(b) for b in batches]):
            for i, answer in zip(batches[b], answers):
                out[i] = answer
            self._stats.forward_calls += 1
            if on_done is not None:
                on_done(batches[b])
        return out

    # ------------------------------------------------------------------ string-level generation
    def generate(self, requests: Sequence[GenerationRequest], progress: Progress | None = None) -> list[str]:
        """Token-id completions through the shared layer; chat turns (and every request when
        nothing can tokenize) as strings, to `/v1/chat/completions` or `/v1/completions`."""
        self._check_open()
        requests = list(requests)
        direct = [i for i, r in enumerate(requests) if r.chat or not self.can_tokenize]
        if not direct:
            return super().generate(requests, progress)
        out = [""] * len(requests)
        chosen = set(direct)
        tokenized = [i for i in range(len(requests)) if i not in chosen]
        if tokenized:
            for i, text in zip(tokenized, super().generate([requests[i] for i in tokenized], progress)):
                out[i] = text
        for i, text in zip(direct, self._generate_strings([requests[i] for i in direct], progress)):
            out[i] = text
        return out

    def _generate_strings(self, requests: list[GenerationRequest], progress: Progress | None) -> list[str]:
        keys = [(r.prompt, max(0, int(r.max_tokens)), tuple(s for s in r.stop if s), r.chat) for r in requests]
        first, slots, weights = dedup(keys)
        unique = [keys[i] for i in first]
        todo = [s for s, key in enumerate(unique) if key[1] > 0]
        if progress is not None and len(todo) < len(unique):
            progress(sum(weights[s] for s, key in enumerate(unique) if key[1] == 0))
        texts = [""] * len(unique)
        self._stats.generations += len(todo)
        for j, text in self.client.map([lambda k=unique[s]: self._one_string(*k) for s in todo]):
            texts[todo[j]] = truncate_at_stop(text, unique[todo[j]][2])
            self._stats.forward_calls += 1
            if progress is not None:
                progress(weights[todo[j]])
        return [texts[s] for s in slots]

    def _one_string(self, prompt: str, max_tokens: int, stop: tuple[str, ...], chat: bool) -> str:
        path = "chat/completions" if chat else "completions"
        url = self.client.url(path)
        if chat:
            body = payload.chat_payload(self.served, prompt, max_tokens=max_tokens, stop=stop)
            return self.client.request("POST", path, body,
                                       parse=lambda r: payload.chat_text(payload.choices(r, url, 1)[0], url))
        body = payload.completion_payload(self.served, [prompt], max_tokens=max_tokens, stop=stop)
        return self.client.request("POST", path, body,
                                   parse=lambda r: payload.completion_text(payload.choices(r, url, 1)[0], url))

    # ------------------------------------------------------------------ the rest of Backend
    def chat_prompt(self, user_message: str) -> str:
        if self.tokenizer is not None:
            return hf_tokenizer.chat_prompt(self.tokenizer, self.info.name, user_message)
        if self.server_tokenizes:
            url = self.client.url("tokenize", root=True)
            ids = server.optional(self.client, "POST", "tokenize",
                                  payload.tokenize_chat_payload(self.served, user_message), root=True,
                                  parse=lambda r: payload.tokens(r, url))
            if ids is not None:
                durl = self.client.url("detokenize", root=True)
                return self.client.request("POST", "detokenize", payload.detokenize_payload(self.served, ids),
                                           root=True, parse=lambda r: payload.detokenized(r, durl))
        return super().chat_prompt(user_message)

    def close(self) -> None:
        self._closed = True
        self.client.close()
