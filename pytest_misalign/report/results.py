"""The machine-readable results file (`--misalign-json`): the run model's JSON (`model.RunModel.to_json`),
written atomically; and the file a run leaves while it is still going."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .. import __version__
from .model import SCHEMA_VERSION


def mark_incomplete(path: str | Path) -> None:
    """At session start: replace an earlier results file with one that says this run has not finished
    (a crash or kill -9 leaves it so), so a stale file can never be read as this run's results."""
    write_json_atomic(path, {"schema": SCHEMA_VERSION, "plugin": {"name": "pytest-misalign", "version": __version__},
                             "run": {"status": "incomplete",
                                     "note": "the run that writes this file has not finished (or was killed)"},
                             "model": None, "suites": []})


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write to a temp file in the same folder, fsync, then rename: never a half-written file.
    Permissions: an existing file keeps its mode; a new one gets the umask's default (like any file
    the user's tools write). Results hold no credentials (see tests/test_results.py)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mask = os.umask(0o022)
        os.umask(mask)
        mode = 0o666 & ~mask
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def write_json_atomic(path: str | Path, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
