"""Confinement: every local file a suite reads must resolve, symlinks followed, inside an allowed root.

A suite from an untrusted pull request must not pull arbitrary files on the runner into prompts and
the results file. The plugin allows pytest's rootdir, the ini's `misalign_data_roots` and
--misalign-data-dir; `parse_suite_file(data_roots=None)` (library use) confines nothing.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import SuiteError

ROOTS_FIX = ("keep data files under pytest's rootdir, or allow their folder: add it to `misalign_data_roots` "
             "in the ini file (or pass --misalign-data-dir=DIR)")

# `data.hf.path` values that name one of the `datasets` library's packaged builders: their
# `data_files` are local files.
PACKAGED_BUILDERS = frozenset({
    "json", "csv", "parquet", "text", "arrow", "pandas", "xml", "sql", "webdataset", "imagefolder",
    "audiofolder", "videofolder", "pdffolder", "niftifolder", "hdf5", "lance", "eval", "cache",
})


def resolve(value: str | Path, base: Path) -> Path:
    """`value` relative to `base`, absolute, with every symlink followed. ValueError when unusable."""
    text = str(value)
    if "\x00" in text:
        raise ValueError("the path contains a NUL character")
    try:
        return (Path(base) / text).resolve()
    except (OSError, RuntimeError) as exc:  # too long, a symlink loop, ...
        raise ValueError(f"cannot resolve {text!r}: {exc}") from None


def inside(resolved: Path, roots: Sequence[Path]) -> bool:
    return any(resolved == root or resolved.is_relative_to(root) for root in roots)


def outside_message(value: str, resolved: Path, roots: Sequence[Path]) -> str:
    allowed = ", ".join(str(r) for r in roots) or "none"
    return f"{value!r} resolves to {resolved}, outside the allowed data roots ({allowed})"


def confine(value: str, base: Path, roots: Sequence[Path] | None, *, error) -> Path:
    """The resolved path of `value`; `error(message, fix)` builds the exception raised otherwise."""
    try:
        resolved = resolve(value, base)
    except ValueError as exc:
        raise error(f"unusable path: {exc}", "give a relative path to a .jsonl, .json or .csv file") from None
    if roots is not None and not inside(resolved, roots):
        raise error(outside_message(value, resolved, roots), ROOTS_FIX)
    return resolved


def is_local_hf_path(value: str) -> bool:
    """Whether `datasets.load_dataset(value)` reads local files (a folder or file) rather than the hub."""
    parts = Path(value).parts
    return (os.path.isabs(value) or value.startswith((".", "~")) or ".." in parts
            or os.path.exists(value))


def hf_local_files(hf: dict) -> Iterable[str]:
    """The local paths `datasets.load_dataset` would read for this `data.hf` mapping (before globbing)."""
    path = hf.get("path")
    local_path = isinstance(path, str) and is_local_hf_path(path)
    if local_path:
        yield path
    files = hf.get("data_files")
    entries: list = []
    if isinstance(files, (str, list)):
        entries = [files] if isinstance(files, str) else list(files)
    elif isinstance(files, dict):
        for value in files.values():
            entries.extend([value] if isinstance(value, str) else value if isinstance(value, list) else [])
    builder = isinstance(path, str) and path in PACKAGED_BUILDERS
    for entry in entries:
        if not isinstance(entry, str) or "://" in entry:
            continue  # URLs are fetched, not read from this machine
        if local_path or builder or is_local_hf_path(entry):
            yield os.path.join(path, entry) if local_path and not os.path.isabs(entry) else entry


def check_hf(hf: dict, roots: Sequence[Path] | None, *, error) -> None:
    """Every local file a `data.hf` mapping would read (globs expanded) lies inside `roots`."""
    if roots is None:
        return
    for entry in hf_local_files(hf):
        confine(entry, Path.cwd(), roots, error=error)
        if any(c in entry for c in "*?["):
            for match in glob.glob(entry, recursive=True):
                confine(match, Path.cwd(), roots, error=error)


def suite_error_factory(path: Path, line: int | None, task: str | None, key: str, cls=SuiteError):
    def error(message: str, fix: str | None = None) -> SuiteError:
        return cls(message, path=path, line=line, task=task, key=key, fix=fix)

    return error
