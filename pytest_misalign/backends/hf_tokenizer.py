"""Hugging Face tokenizers, shared by every engine that tokenizes locally (HF, vLLM, and the
OpenAI backend with a local `tokenizer=`): encoding, the prefix token, the chat template and the
tokenizer fingerprint are computed the same way everywhere, so engines agree token for token."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .errors import ModelLoadError


def encode(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    """Token ids of each text, without special tokens (lm-eval's `tok_encode`)."""
    if not texts:
        return []
    encoded = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    return [list(ids) for ids in encoded]


def prefix_token_id(tokenizer: Any) -> int | None:
    """What an empty context becomes: BOS, or EOS when there is no BOS (lm-eval)."""
    return tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id


def chat_prompt(tokenizer: Any, model_name: str, user_message: str) -> str:
    """`user_message` as one user turn in the tokenizer's chat template, ready for the assistant's
    reply (`add_generation_prompt`). Special tokens stay text; encoding without
    `add_special_tokens` maps them back to their ids."""
    if not getattr(tokenizer, "chat_template", None):
        raise ModelLoadError(
            f"model {model_name!r} has no chat template, but a task sets `chat: true`",
            model=model_name,
            hint="remove `chat: true` from the task, or use an instruction-tuned model",
        )
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": user_message}], tokenize=False, add_generation_prompt=True
    )


def fingerprint(tokenizer: Any) -> str:
    """sha256 of the tokenizer's full definition (vocab, merges, normalizers, special tokens);
    part of the result-cache key, alongside the weights' fingerprint."""
    tok = tokenizer
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


def load_tokenizer(path: str, model_name: str, **kwargs: Any) -> Any:
    """`AutoTokenizer.from_pretrained(path, **kwargs)`, failures as a `ModelLoadError`."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any failure is the user's path or files
        raise ModelLoadError(
            f"could not load the tokenizer of {model_name!r} from {path}: {type(exc).__name__}: {exc}",
            model=model_name,
            hint="check that the directory / repo holds a tokenizer in transformers format",
        ) from exc
