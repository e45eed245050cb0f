"""Hub datasets (`data.hf`): the dataset lm-eval or inspect_evals reads (id, config, split, pinned
revision), or with --misalign-data-dir its upstream files, unchanged, at `DIR/<local>`.

Offline, nothing waits on the hub: with HF_HUB_OFFLINE / HF_DATASETS_OFFLINE set, or when the hub's
host does not answer a TCP connection within `PROBE_SECONDS` (probed once per process), `datasets`
is asked for its local cache only, and a dataset it does not hold is unavailable at once, with the
fix naming the files to put under --misalign-data-dir.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import socket
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlparse

from ..errors import DataError, DataUnavailable
from ..spec.model import DataSpec, TaskSpec
from .items import Item, LoadedData
from .shape import apply_renames

PROBE_SECONDS = 0.8  # a TCP connect to the hub; DNS failures return at once. Under a second in all
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
# Hub datasets found unreachable in this process, by `path`: later tasks naming the same dataset are
# skipped at once with the same reason instead of asking again.
_UNREACHABLE: dict[str, Exception] = {}


def label(hf: dict) -> str:
    if not hf.get("path"):
        local = hf["local"]
        return "upstream files " + (", ".join(local) if isinstance(local, list) else local)
    text = f"hf:{hf['path']}" + (f"[{hf['name']}]" if hf.get("name") else "") + f":{hf.get('split', 'test')}"
    return text + (f"@{hf['revision'][:12]}" if hf.get("revision") else "")


def local_files(hf: dict, data_dir: Path) -> list[Path]:
    """The local stand-ins for a hub dataset: `data_dir/<local>` (one file or a list) when the task names
    them, else `data_dir/<path>/<name or "default">/<split>.jsonl` (also .json or .csv)."""
    local = hf.get("local")
    if local:
        return [(data_dir / p).resolve() for p in ([local] if isinstance(local, str) else local)]
    base = data_dir / hf["path"] / (hf.get("name") or "default") / hf.get("split", "test")
    for suffix in (".jsonl", ".json", ".csv"):
        if is_file(base.with_suffix(suffix)):
            return [base.with_suffix(suffix)]
    return [base.with_suffix(".jsonl")]  # reported as missing, with this expected path


def is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long, a NUL byte...
        return False


def fix_text(hf: dict) -> str:
    local = hf.get("local")
    if local:
        shown = ", ".join(local) if isinstance(local, list) else local
    else:
        shown = f"{hf['path']}/{hf.get('name') or 'default'}/{hf.get('split', 'test')}.jsonl"
    if not hf.get("path"):
        return f"pass --misalign-data-dir=DIR holding {shown} (the upstream files, unchanged)"
    return f"offline, pass --misalign-data-dir=DIR holding {shown} (the upstream files, unchanged)"


def verify_sha256(hf: dict, path: Path, data_dir: Path, error: Callable[..., Exception]) -> None:
    """A local file named in `sha256:` must be the published one, byte for byte."""
    for name, expected in (hf.get("sha256") or {}).items():
        if (data_dir / name).resolve() == path:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != expected:
                raise error(f"{name} is not the published file: sha256 {digest[:16]}..., expected {expected[:16]}...",
                            None, "use the upstream file unchanged (its SOURCE.md names commit and sha256)")


# -- the hub -----------------------------------------------------------------------------------------

def offline_reason() -> str | None:
    """Why the hub is not to be asked now: an offline setting, or no network (None: go ahead)."""
    for var in _OFFLINE_VARS:
        if os.environ.get(var, "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
            return f"{var} is set"
    return _probe(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))


@functools.lru_cache(maxsize=4)
def _probe(endpoint: str) -> str | None:
    url = urlparse(endpoint)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        return f"no network: {host}:{port} does not answer ({type(exc).__name__})"
    return None


@contextlib.contextmanager
def cache_only() -> Iterator[None]:
    """`datasets` and `huggingface_hub` in offline mode for one call (their local cache only)."""
    import datasets.config
    import huggingface_hub.constants

    saved = datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = True
    huggingface_hub.constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        (datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE,
         huggingface_hub.constants.HF_HUB_OFFLINE) = saved


def load_hub(spec: DataSpec, task: TaskSpec, suite_path: Path) -> LoadedData:
    """The dataset from the hub (or, offline, from the `datasets` cache), with `hf.rename` applied."""
    hf = spec.hf
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a dependency
        raise DataError("the `datasets` package is needed for `data.hf`", path=suite_path,
                        line=spec.line, task=task.name, fix="pip install datasets") from None
    if not hf.get("path"):
        raise DataUnavailable(f"no hub dataset holds {label(hf)} as published: they are read from "
                              "--misalign-data-dir only", path=suite_path, line=spec.line, task=task.name,
                              key="data.hf.local", fix=fix_text(hf))
    kwargs = {k: hf[k] for k in ("name", "revision", "data_files") if hf.get(k) is not None}
    offline = offline_reason()
    try:
        if hf["path"] in _UNREACHABLE:  # several tasks from one offline dataset: fail fast after the first
            raise _UNREACHABLE[hf["path"]]
        with cache_only() if offline else contextlib.nullcontext():
            ds = datasets.load_dataset(hf["path"], split=hf.get("split", "test"), **kwargs)
    except Exception as exc:  # network, missing config/split, auth, not in the cache
        _UNREACHABLE[hf["path"]] = exc
        why = f"{offline}, and the `datasets` cache does not hold it" if offline else \
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        raise DataUnavailable(f"cannot load {label(hf)}: {why}", path=suite_path, line=spec.line, task=task.name,
                              key="data.hf", fix=fix_text(hf)) from None
    items = [Item(i, dict(row)) for i, row in enumerate(ds)]
    if not items:
        raise DataError(f"{label(hf)} holds no items", path=suite_path, line=spec.line, task=task.name)
    return LoadedData(apply_renames(items, hf.get("rename")), label(hf), None, len(items))
