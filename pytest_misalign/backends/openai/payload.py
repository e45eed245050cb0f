"""Request bodies and response parsers for OpenAI-compatible servers: pure functions, no I/O.

Log-likelihood follows lm-evaluation-harness's `LocalCompletionsAPI`: the whole scored window is
sent as a token-id prompt with `echo=True, logprobs=1, max_tokens=1, temperature=0`; the server
echoes the prompt with each token's log-probability given what precedes it and the top-1
alternative. The continuation's tokens are the last `n_cont` prompt tokens, so their scores are
`token_logprobs[ctxlen:ctxlen + n_cont]` with `ctxlen = len(window) - n_cont` (the one generated
token after the prompt is ignored). A continuation token is greedy when it is the top-1 at its
position. With vLLM's `return_tokens_as_token_ids` the tokens read `token_id:N`, so the comparison
is by id; otherwise by token string.

Every parser raises `ResponseError` (naming the URL and what was missing) on a response of the
wrong shape; the client treats it like a malformed response.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from ...errors import MisalignError


class ResponseError(MisalignError, RuntimeError):
    """A server answered, but not with what the request needs."""


# --------------------------------------------------------------------------- request bodies
def completion_payload(
    model: str,
    prompts: Sequence[Sequence[int] | str],
    *,
    max_tokens: int,
    stop: Sequence[str] = (),
    echo: bool = False,
    logprobs: int | None = None,
    token_ids: bool = False,
) -> dict:
    """A greedy `/v1/completions` body for a batch of prompts (token-id lists or strings).

    `token_ids=True` asks vLLM for `token_id:N` token strings (`return_tokens_as_token_ids`)."""
    body: dict[str, Any] = {
        "model": model,
        "prompt": [list(p) if not isinstance(p, str) else p for p in prompts],
        "max_tokens": int(max_tokens),
        "temperature": 0,
        "n": 1,
    }
    if echo:
        body["echo"] = True
    if logprobs is not None:
        body["logprobs"] = int(logprobs)
    if stop:
        body["stop"] = list(stop)
    if token_ids:
        body["return_tokens_as_token_ids"] = True
    return body


def loglikelihood_payload(model: str, windows: Sequence[Sequence[int]], token_ids: bool) -> dict:
    """Score whole windows (`model_input + [last token]`): echo the prompt with its logprobs."""
    return completion_payload(model, windows, max_tokens=1, echo=True, logprobs=1, token_ids=token_ids)


def chat_payload(model: str, user_message: str, *, max_tokens: int, stop: Sequence[str] = ()) -> dict:
    """A greedy `/v1/chat/completions` body: `user_message` as the one user turn."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": user_message}],
        "max_tokens": int(max_tokens),
        "temperature": 0,
        "n": 1,
    }
    if stop:
        body["stop"] = list(stop)
    return body


def tokenize_payload(model: str, text: str, add_special_tokens: bool = False) -> dict:
    return {"model": model, "prompt": text, "add_special_tokens": add_special_tokens}


def tokenize_chat_payload(model: str, user_message: str) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": user_message}],
            "add_generation_prompt": True, "add_special_tokens": False}


def detokenize_payload(model: str, tokens: Sequence[int]) -> dict:
    return {"model": model, "tokens": list(tokens)}


# --------------------------------------------------------------------------- parsers
def _need(cond: Any, url: str, what: str) -> None:
    if not cond:
        raise ResponseError(f"{url}: {what}")


def choices(response: Any, url: str, n: int) -> list[dict]:
    """The `n` choices of a response, in prompt order (sorted by `index` when present)."""
    _need(isinstance(response, dict), url, f"expected a JSON object, got {type(response).__name__}")
    got = response.get("choices")
    _need(isinstance(got, list) and len(got) == n, url,
          f"expected {n} choices, got {len(got) if isinstance(got, list) else 'none'}")
    _need(all(isinstance(c, dict) for c in got), url, "a choice is not a JSON object")
    if all(isinstance(c.get("index"), int) for c in got):
        got = sorted(got, key=lambda c: c["index"])
    return got


def _top1(top: Any, url: str, pos: int) -> str:
    _need(isinstance(top, dict) and top, url, f"no top_logprobs at prompt position {pos}")
    return max(top.items(), key=lambda kv: kv[1])[0]


def parse_loglikelihood(choice: dict, n_prompt: int, n_cont: int, url: str) -> tuple[float, bool]:
    """`(sum of the continuation's logprobs, every continuation token is the top-1)` from one echo
    choice whose prompt had `n_prompt` tokens, the last `n_cont` of them the continuation."""
    lp = choice.get("logprobs")
    _need(isinstance(lp, dict) and lp.get("token_logprobs"), url,
          "server returned no prompt logprobs: it does not support echo+logprobs on /v1/completions")
    values, tokens, tops = lp.get("token_logprobs"), lp.get("tokens"), lp.get("top_logprobs")
    _need(isinstance(values, list) and len(values) >= n_prompt, url,
          f"expected logprobs for {n_prompt} echoed prompt tokens, got {len(values)}")
    _need(isinstance(tokens, list) and len(tokens) >= n_prompt, url, "echoed `tokens` missing or short")
    _need(isinstance(tops, list) and len(tops) >= n_prompt, url, "`top_logprobs` missing or short "
          "(the server must return the top-1 alternative for `logprobs: 1`)")
    start = n_prompt - n_cont
    _need(start >= 1, url, "continuation covers the whole prompt (no context token)")
    total, greedy = 0.0, True
    for pos in range(start, n_prompt):
        value = values[pos]
        _need(isinstance(value, (int, float)) and not isinstance(value, bool), url,
              f"no logprob for prompt position {pos}")
        _need(not math.isnan(value), url, f"logprob at prompt position {pos} is NaN")
        total += float(value)
        greedy = greedy and _top1(tops[pos], url, pos) == tokens[pos]
    return total, greedy


def prompt_logprobs(choice: dict, url: str) -> list[float]:
    """Every echoed prompt token's logprob after the first (for the behavioural fingerprint)."""
    lp = choice.get("logprobs")
    _need(isinstance(lp, dict) and isinstance(lp.get("token_logprobs"), list), url,
          "server returned no prompt logprobs: it does not support echo+logprobs on /v1/completions")
    values = lp["token_logprobs"][1:]
    _need(all(isinstance(v, (int, float)) for v in values), url, "a prompt logprob is not a number")
    return [float(v) for v in values]


def completion_text(choice: dict, url: str) -> str:
    text = choice.get("text")
    _need(isinstance(text, str), url, "a completion choice has no `text`")
    return text


def chat_text(choice: dict, url: str) -> str:
    message = choice.get("message")
    _need(isinstance(message, dict), url, "a chat choice has no `message`")
    content = message.get("content")
    _need(content is None or isinstance(content, str), url, "a chat message's `content` is not text")
    return content or ""


def tokens(response: Any, url: str) -> list[int]:
    """The ids of a `/tokenize` response."""
    ids = response.get("tokens") if isinstance(response, dict) else None
    _need(isinstance(ids, list) and all(isinstance(t, int) for t in ids), url,
          "the /tokenize response has no `tokens` list of ids")
    return ids


def detokenized(response: Any, url: str) -> str:
    text = response.get("prompt") if isinstance(response, dict) else None
    _need(isinstance(text, str), url, "the /detokenize response has no `prompt` text")
    return text


def max_model_len(response: Any) -> int | None:
    """`max_model_len` of a `/tokenize` response or a `/v1/models` entry (vLLM), else None."""
    value = response.get("max_model_len") if isinstance(response, dict) else None
    return value if isinstance(value, int) and value > 0 else None


def models(response: Any, url: str) -> list[dict]:
    """The entries of a `/v1/models` response (each has at least an `id`)."""
    data = response.get("data") if isinstance(response, dict) else None
    _need(isinstance(data, list), url, "the /v1/models response has no `data` list")
    entries = [m for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]
    _need(entries, url, "the server lists no models")
    return entries


def version(response: Any) -> str | None:
    """vLLM's `/version` -> "vllm X.Y.Z"; None for anything else."""
    v = response.get("version") if isinstance(response, dict) else None
    return f"vllm {v}" if isinstance(v, str) and v else None
