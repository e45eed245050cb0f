"""Hub ids: where a model on the Hugging Face hub is found (the local cache when offline, else the hub),
with an error that says what to do for every way it can fail (offline, gated, missing, no network)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import ModelLoadError
from .resolved import ResolvedModel


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_offline() -> bool:
    """HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE, read now (huggingface_hub reads it at import)."""
    if _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE"):
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover
        return False


def resolve_hub(given: str, revision: str | None) -> ResolvedModel:
    """A hub id: its config.json from the local cache (offline) or the hub, and the snapshot's commit."""
    try:
        import huggingface_hub  # noqa: F401 - transformers depends on it
    except ImportError as exc:  # pragma: no cover
        raise ModelLoadError(f"{given!r} looks like a hub id but huggingface_hub is not installed", model=given,
                             hint="pip install huggingface_hub") from exc
    offline = hub_offline()
    config_path = _cached_config(given, revision) if offline else _downloaded_config(given, revision)
    commit = _commit_from_snapshot_path(config_path)
    return ResolvedModel(kind="hub", name=given, load_path=given, source=given, revision=commit or revision,
                         fingerprint=commit, local_files_only=offline,
                         extra={"requested_revision": revision} if revision else {})


def _local_dir_hint(given: str) -> str:
    return f"or pass a local directory / .gguf file instead (no local path {given!r} exists)"


def _cached_config(given: str, revision: str | None) -> str:
    import huggingface_hub

    found = huggingface_hub.try_to_load_from_cache(given, "config.json", revision=revision)
    if isinstance(found, str):
        return found
    rev_text = f" at revision {revision!r}" if revision else ""
    raise ModelLoadError(
        f"hub model {given!r}{rev_text} is not in the local Hugging Face cache and the hub "
        "is offline (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE is set)", model=given,
        hint="download it once with network access (`hf download "
             f"{given}`{' --revision ' + revision if revision else ''}), unset HF_HUB_OFFLINE, " + _local_dir_hint(given))


def _downloaded_config(given: str, revision: str | None) -> str:
    import huggingface_hub
    from huggingface_hub import errors as hf_errors

    rev_text = f" at revision {revision!r}" if revision else ""
    try:
        return huggingface_hub.hf_hub_download(given, "config.json", revision=revision)
    except hf_errors.GatedRepoError as exc:
        raise ModelLoadError(f"hub model {given!r} is gated and this machine is not authorised to read it",
                             model=given, hint=f"accept its licence on huggingface.co/{given} and log in "
                                               f"(`hf auth login`), " + _local_dir_hint(given)) from exc
    except hf_errors.RepositoryNotFoundError as exc:
        raise ModelLoadError(f"hub model {given!r} does not exist (or is private)", model=given,
                             hint="check the spelling; for a private repo log in (`hf auth login`); "
                                  + _local_dir_hint(given)) from exc
    except hf_errors.RevisionNotFoundError as exc:
        raise ModelLoadError(f"hub model {given!r} has no revision {revision!r}", model=given,
                             hint="use an existing branch, tag or commit hash as the revision") from exc
    except hf_errors.EntryNotFoundError as exc:
        if isinstance(exc, hf_errors.LocalEntryNotFoundError):
            raise _hub_unreachable(given, rev_text, exc) from exc
        raise ModelLoadError(f"hub repo {given!r}{rev_text} has no config.json, so it is not a transformers model",
                             model=given, hint="pick a transformers-format repo, or download a .gguf from it and "
                                               "pass that file") from exc
    except (OSError, ValueError) as exc:  # ConnectionError, timeouts, HTTP errors, bad ids
        raise _hub_unreachable(given, rev_text, exc) from exc


def _hub_unreachable(given: str, rev_text: str, exc: BaseException) -> ModelLoadError:
    return ModelLoadError(
        f"could not reach the Hugging Face hub for {given!r}{rev_text}: {type(exc).__name__}: {exc}",
        model=given,
        hint="check the network / proxy; if the model is already cached set HF_HUB_OFFLINE=1; "
        f"or pass a local directory / .gguf file instead (no local path {given!r} exists)",
    )


def _commit_from_snapshot_path(path: str) -> str | None:
    p = Path(path)
    if p.parent.parent.name == "snapshots" and re.fullmatch(r"[0-9a-f]{40}", p.parent.name):
        return p.parent.name
    return None
