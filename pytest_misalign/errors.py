"""User-facing errors. Each names where the problem is (file, line, task, key) and how to fix it."""

from __future__ import annotations

from pathlib import Path


class MisalignError(Exception):
    """Base class: pytest shows `str(error)` without a traceback."""


class SuiteError(MisalignError):
    """A suite file (or the data it names) is malformed. Raised at collection, before any model loads."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        task: str | None = None,
        key: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.task = task
        self.key = key
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = self.path + (f":{self.line}" if self.line else "") + ": "
        parts = [where]
        if self.task:
            parts.append(f"task '{self.task}': ")
        if self.key:
            parts.append(f"'{self.key}': ")
        parts.append(self.message)
        if self.fix:
            parts.append(f"\n  fix: {self.fix}")
        return "".join(parts)


class DataError(SuiteError):
    """The data a task names cannot be loaded or does not fit the task."""


class DataUnavailable(DataError):
    """A hub dataset could not be fetched (offline, say): its checks are skipped, with this reason."""
