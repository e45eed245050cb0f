"""What the OpenAI backend learns about a server once, when it loads: the served model, whether it
tokenizes (`/tokenize`, vLLM), its context length, its prefix token, whether it returns prompt
logprobs, and fingerprints of its tokenizer and of its weights' behaviour.

Every probe uses fixed texts, so two sessions against the same server learn the same things.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..errors import ModelLoadError
from . import payload
from .client import Client, ServerError
from .payload import ResponseError

PROBE_TEXT = ("The quick brown fox jumps over the lazy dog. Numbers: 3.14159, 2024-06-01;\n"
              "  indented café naïve — “quotes” 東京 🙂 <tag> end")
"""Tokenized by server and local tokenizer to check they agree; scored for the fingerprint."""
TOKENIZER_PROBES = (PROBE_TEXT, " leading space", "Hello\n\nworld\t!", "x" * 33)
AUTH_HINT = ("set the key in $OPENAI_API_KEY, or name the variable holding it with "
             "--misalign-model-args=api_key_env=VAR")


def load_error(client: Client, exc: Exception, what: str, model: str) -> ModelLoadError:
    """A failure while loading, as a user-facing error naming the URL and the likely fix."""
    status = getattr(exc, "status", None)
    text = str(exc)
    if status in (401, 403):
        hint = AUTH_HINT
    elif status == 404:
        hint = f"--misalign-model should be the server's API base URL, ending in /v1 (got {client.display})"
    elif "connection failed" in text or "no answer within" in text:
        hint = (f"start the server, or fix host/port in --misalign-model (now {client.display}); "
                "e.g. python -m vllm.entrypoints.openai.api_server --model M --port 8000 -> http://127.0.0.1:8000/v1")
    else:
        hint = "check the server's log; the backend needs an OpenAI-compatible API (vLLM, SGLang, TGI, ...)"
    return ModelLoadError(f"OpenAI-compatible server {client.display}: {what}: {text}", model=model, hint=hint)


def served_model(client: Client, wanted: str | None, model: str) -> tuple[str, dict]:
    """The served model id (and its `/v1/models` entry): `wanted`, else the only one listed."""
    try:
        entries = client.request("GET", "models", parse=lambda r: payload.models(r, client.url("models")))
    except (ServerError, ResponseError) as exc:
        raise load_error(client, exc, "cannot list the served models (GET /v1/models)", model) from None
    ids = [e["id"] for e in entries]
    if wanted is None:
        if len(ids) > 1:
            raise ModelLoadError(f"the server at {client.display} serves several models: {', '.join(ids)}",
                                 model=model, hint="choose one with --misalign-model-args=model=NAME")
        return ids[0], entries[0]
    for entry in entries:
        if entry["id"] == wanted:
            return wanted, entry
    raise ModelLoadError(f"the server at {client.display} does not serve {wanted!r}; it serves: {', '.join(ids)}",
                         model=model, hint="fix --misalign-model-args=model=NAME (or leave it out when "
                         "the server serves one model)")


def optional(client: Client, method: str, path: str, body: Any = None, *, root: bool = False,
             parse=None) -> Any:
    """A call to an endpoint some servers lack: None when it is absent or refuses (4xx), and
    no retries (it is a probe). Connection failures still raise."""
    try:
        return client.request(method, path, body, root=root, parse=parse, retries=0)
    except ServerError as exc:
        if exc.status is not None and 400 <= exc.status < 500:
            return None
        raise
    except ResponseError:
        return None


def server_tokenize(client: Client, served: str, text: str, special: bool = False) -> list[int] | None:
    """The server's tokens of `text` (vLLM `/tokenize`), None when it has no such endpoint."""
    url = client.url("tokenize", root=True)
    return optional(client, "POST", "tokenize", payload.tokenize_payload(served, text, special), root=True,
                    parse=lambda r: payload.tokens(r, url))


def server_max_len(client: Client, served: str, entry: dict) -> int | None:
    got = payload.max_model_len(entry)
    if got is None:
        got = optional(client, "POST", "tokenize", payload.tokenize_payload(served, "x"), root=True,
                       parse=payload.max_model_len)
    return got


def engine_name(client: Client, entry: dict) -> str:
    got = optional(client, "GET", "version", root=True, parse=payload.version)
    if got and entry.get("owned_by") == "vllm":
        return got
    return "openai-compatible"


def check_tokenizers_agree(local_ids: list[int], server_ids: list[int], client: Client, tokenizer: str,
                           model: str) -> None:
    if local_ids != server_ids:
        n = next((i for i, (a, b) in enumerate(zip(local_ids, server_ids)) if a != b),
                 min(len(local_ids), len(server_ids)))
        raise ModelLoadError(
            f"the local tokenizer {tokenizer!r} and the server at {client.display} tokenize a probe text "
            f"differently (first difference at token {n}: local {local_ids[n:n + 4]}, server "
            f"{server_ids[n:n + 4]}); scores would be computed on the wrong tokens",
            model=model, hint="pass the served model's own tokenizer with --misalign-model-args=tokenizer=PATH, "
            "or leave `tokenizer` out to use the server's /tokenize")


def server_prefix_token(client: Client, served: str, plain: list[int]) -> tuple[int | None, str]:
    """The prefix token (BOS, else EOS) from the server alone: `/tokenizer_info` when enabled (vLLM
    `--enable-tokenizer-info-endpoint`), else the token `/tokenize` prepends with
    `add_special_tokens=true`. `plain` is the probe text's tokens without special tokens."""
    info = optional(client, "GET", "tokenizer_info", root=True)
    if isinstance(info, dict):
        for key in ("bos_token", "eos_token"):
            token = info.get(key)
            token = token.get("content") if isinstance(token, dict) else token
            if isinstance(token, str) and token:
                ids = server_tokenize(client, served, token)
                if ids and len(ids) == 1:
                    return ids[0], f"server /tokenizer_info {key}"
    special = server_tokenize(client, served, PROBE_TEXT, special=True) or []
    if len(special) == len(plain) + 1 and special[1:] == plain:
        return special[0], "server /tokenize add_special_tokens (BOS)"
    return None, "none found"


def server_tokenizer_fingerprint(client: Client, served: str) -> str | None:
    """sha256 of the server's tokenizations of fixed texts (and of a chat turn, when it templates)."""
    h = hashlib.sha256(b"server-tokenize-v1")
    for text in TOKENIZER_PROBES:
        for special in (False, True):
            ids = server_tokenize(client, served, text, special)
            if ids is None:
                return None
            h.update(json.dumps(ids).encode())
    chat = optional(client, "POST", "tokenize", payload.tokenize_chat_payload(served, PROBE_TEXT), root=True,
                    parse=lambda r: payload.tokens(r, client.url("tokenize", root=True)))
    h.update(json.dumps(chat).encode())
    return h.hexdigest()


def behaviour(client: Client, served: str, probe: list[int] | str, token_ids: bool) -> tuple[list[str] | None, str | None]:
    """`(rounded prompt logprobs of the probe, None)`, or `(None, why)` when the server returns no
    prompt logprobs (then log-likelihood tasks cannot run on it)."""
    body = payload.loglikelihood_payload(served, [probe], token_ids) if not isinstance(probe, str) else \
        payload.completion_payload(served, [probe], max_tokens=1, echo=True, logprobs=1)
    url = client.url("completions")
    try:
        values = client.request("POST", "completions", body,
                                parse=lambda r: payload.prompt_logprobs(payload.choices(r, url, 1)[0], url))
    except ResponseError as exc:
        return None, str(exc)
    except ServerError as exc:
        if exc.status is not None and 400 <= exc.status < 500:
            return None, f"{exc} (echo+logprobs refused)"
        raise
    return [_round(v) for v in values], None


def generated_behaviour(client: Client, served: str) -> list[str] | None:
    """A greedy reply to the probe (chat, else completion): the fingerprint of a server without
    prompt logprobs; None when neither endpoint answers."""
    url = client.url("chat/completions")
    text = optional(client, "POST", "chat/completions", payload.chat_payload(served, PROBE_TEXT, max_tokens=8),
                    parse=lambda r: payload.chat_text(payload.choices(r, url, 1)[0], url))
    if text is None:
        url = client.url("completions")
        text = optional(client, "POST", "completions",
                        payload.completion_payload(served, [PROBE_TEXT], max_tokens=8),
                        parse=lambda r: payload.completion_text(payload.choices(r, url, 1)[0], url))
    return None if text is None else ["text", text]


def fingerprint(served: str, probe: list[str]) -> str:
    """sha256 of the served model id and its answers to the probe: weights swapped under the same
    name change the answers, so their results miss the result cache."""
    return hashlib.sha256(json.dumps({"served_model": served, "probe": probe}).encode()).hexdigest()


def _round(value: float) -> str:
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text
