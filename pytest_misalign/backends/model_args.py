"""`--misalign-model-args`: `key=value,...` handed to the engine, values typed.

`tensor_parallel_size=4,gpu_memory_utilization=0.85,enforce_eager=true,api_key_env=MY_KEY` ->
`{"tensor_parallel_size": 4, "gpu_memory_utilization": 0.85, "enforce_eager": True,
"api_key_env": "MY_KEY"}`. Integers, floats, booleans (true/false, any case) and `none`/`null` are
typed; anything else stays a string (quotes around a value are removed, so `"1"` stays a string).
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from .errors import ModelLoadError

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class ModelArgsError(ValueError):
    """A malformed `key=value,...` string; the message names the piece and the fix."""


def parse_value(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_model_args(text: str | None) -> dict[str, Any]:
    """Parse `key=value,...`; an empty string gives {}."""
    out: dict[str, Any] = {}
    for piece in (text or "").split(","):
        if not piece.strip():
            continue
        key, sep, value = piece.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise ModelArgsError(f"{piece.strip()!r} is not key=value (keys are identifiers, e.g. "
                                 "tensor_parallel_size=2,max_model_len=4096)")
        if key in out:
            raise ModelArgsError(f"{key!r} is given twice")
        out[key] = parse_value(value)
    return out


def format_model_args(args: Mapping[str, Any], secret_keys: Iterable[str] = ()) -> str:
    """`key=value,...` for reports; values of `secret_keys` are shown as ***."""
    secret = set(secret_keys)
    return ",".join(f"{k}={'***' if k in secret else v}" for k, v in args.items())


def reject_unknown(args: Mapping[str, Any], known: Iterable[str], backend: str, model: str) -> None:
    """A clear error for model args a backend does not take."""
    known = sorted(known)
    unknown = [k for k in args if k not in known]
    if unknown:
        import difflib

        close = {k: difflib.get_close_matches(k, known, n=1) for k in unknown}
        hints = "; ".join(f"{k!r}: did you mean {c[0]!r}?" for k, c in close.items() if c)
        raise ModelLoadError(
            f"--misalign-model-args: the {backend} backend does not take {', '.join(map(repr, unknown))}"
            + (f" ({hints})" if hints else ""),
            model=model,
            hint=f"the {backend} backend takes: {', '.join(known) or 'no model args'}",
        )
