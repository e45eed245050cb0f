"""Loading a transformers model: device and dtype choice, config, weights, maximum length.

Pure functions over a `ModelConfig` and a `ResolvedModel`; `HFBackend` (in `__init__.py`) calls them
in order: config first (cheap, fails early on remote code), then tokenizer, then weights.
"""

from __future__ import annotations

import contextlib
import logging

from ..base import ModelConfig
from ..errors import ModelLoadError
from ..resolve import ResolvedModel

log = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 2048  # lm-eval's fallback when neither config nor tokenizer says

DTYPE_ALIASES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "float64": "float64",  # reference runs (e.g. against lm-eval without float32 rounding); hf only
    "fp64": "float64",
    "double": "float64",
}


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
    if req not in DTYPE_ALIASES:
        raise ModelLoadError(
            f"unknown dtype {requested!r}", hint="use auto, float32, bfloat16, float16 or float64"
        )
    return DTYPE_ALIASES[req]


@contextlib.contextmanager
def quiet_progress(enabled: bool = True):
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


def is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def parse_batch_size(value: int | str) -> int | str:
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


def load_kwargs(config: ModelConfig, resolved: ResolvedModel) -> dict:
    kwargs: dict = {"trust_remote_code": bool(config.trust_remote_code)}
    if resolved.kind == "hub":
        if resolved.revision:
            kwargs["revision"] = resolved.revision
        kwargs["local_files_only"] = resolved.local_files_only
    return kwargs


def load_error(config: ModelConfig, resolved: ResolvedModel, what: str, exc: BaseException) -> ModelLoadError:
    msg = str(exc)
    if "trust_remote_code" in msg:
        hint = (
            "this model ships its own Python code; if you trust it, pass "
            "--misalign-trust-remote-code (ini: misalign_trust_remote_code = true)"
        )
    elif is_oom(exc):
        hint = "not enough memory: try dtype bfloat16/float16, another device, or a smaller model"
    elif resolved.kind in ("gguf", "embedded"):
        hint = f"the converted cache {resolved.load_path} may be damaged: delete it and retry"
    else:
        hint = "check that the directory / repo holds a causal LM in transformers format"
    return ModelLoadError(
        f"could not load the {what} of {config.model!r} from {resolved.load_path}: "
        f"{type(exc).__name__}: {msg}",
        model=config.model,
        hint=hint,
    )


def _from_pretrained(config: ModelConfig, resolved: ResolvedModel, what: str, auto_class):
    try:
        return auto_class.from_pretrained(resolved.load_path, **load_kwargs(config, resolved))
    except ModelLoadError:
        raise
    except Exception as exc:
        raise load_error(config, resolved, what, exc) from exc


def load_config(config: ModelConfig, resolved: ResolvedModel):
    from transformers import AutoConfig

    return _from_pretrained(config, resolved, "config", AutoConfig)


def load_tokenizer(config: ModelConfig, resolved: ResolvedModel):
    from transformers import AutoTokenizer

    return _from_pretrained(config, resolved, "tokenizer", AutoTokenizer)


def load_model(config: ModelConfig, resolved: ResolvedModel, model_config, torch_dtype, device: str,
               attn_implementation: str | None = None):
    """(model in eval mode, attention implementation in use). sdpa unless the model lacks it or
    `attn_implementation` names another."""
    from transformers import AutoModelForCausalLM

    kwargs = {**load_kwargs(config, resolved), "dtype": torch_dtype, "config": model_config}
    if device != "cpu":
        kwargs["device_map"] = device  # load straight onto the accelerator
    path = resolved.load_path
    try:
        try:
            model = AutoModelForCausalLM.from_pretrained(
                path, attn_implementation=attn_implementation or "sdpa", **kwargs
            )
        except (ValueError, ImportError) as exc:
            if attn_implementation or ("sdpa" not in str(exc).lower() and "attn" not in str(exc).lower()):
                raise
            log.info("sdpa attention unsupported for %s (%s); using the default", path, exc)
            model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise load_error(config, resolved, "model", exc) from exc
    model.eval()
    return model, getattr(model.config, "_attn_implementation", None)


def detect_max_length(model, tokenizer) -> int:
    """Same order as lm-eval's HFLM.max_length."""
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(model.config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    tml = getattr(tokenizer, "model_max_length", None)
    if isinstance(tml, int) and 0 < tml < 1_000_000_000:
        return tml
    return DEFAULT_MAX_LENGTH
