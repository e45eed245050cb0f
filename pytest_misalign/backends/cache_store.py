"""sqlite I/O of the result cache: one table of (key, kind, value, checksum) rows.

What this layer guarantees (`cache.py` builds on it):

* **Per-user files.** A cache directory this code creates is 0700, the database 0600 (sqlite gives
  its `-wal`/`-shm` files the database's mode). An existing database of ours that is readable by
  others is narrowed to 0600.
* **Integrity per row.** Every row carries `sha256(key NUL kind NUL value)`; `lookup` returns only
  rows whose checksum matches and reports the others (hand-edited or damaged values) as bad, so
  they are rescored rather than believed.
* **Schema.** `SCHEMA` is stored in `PRAGMA user_version`; a table from an older layout is dropped
  and rebuilt (old keys carry the old schema number, so they could never be hit anyway).
* **Corruption.** sqlite's SQLITE_CORRUPT ("database disk image is malformed": e.g. a truncated
  file) and SQLITE_NOTADB ("file is not a database": garbage) are caught wherever they surface:
  the file (and its WAL) is renamed to `<file>.corrupt-YYYYmmddHHMMSS`, a warning names both
  paths, a fresh database is built in its place and the operation is retried once. Later runs
  therefore use the rebuilt cache. Other errors (read-only directory, full disk, locked) are raised
  for the caller to turn the cache off.
* **Crash safety.** WAL mode with synchronous=NORMAL: a committed chunk survives kill -9 of the
  process (not necessarily a power cut, which only loses recent results, never corrupts them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("pytest_misalign.cache")

SCHEMA = 2  # 1: no checksum column. Bump when the meaning or layout of a row changes.
_CORRUPTION_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB (primary codes)

_CREATE = ("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, kind TEXT NOT NULL, "
           "value TEXT NOT NULL, checksum TEXT NOT NULL, created REAL DEFAULT (julianday('now')))")


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_checksum(key: str, kind: str, value_text: str) -> str:
    return hashlib.sha256(f"{key}\0{kind}\0{value_text}".encode("utf-8")).hexdigest()


def is_corruption(exc: BaseException) -> bool:
    """True for 'malformed' / 'not a database' errors: the file itself is broken."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _CORRUPTION_CODES:
        return True
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


def _private_dir(path: Path) -> None:
    """mkdir -p; directories created here are 0700 (only for the last level: ~/.cache exists)."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _private_file(path: Path) -> None:
    """Create `path` 0600 if absent; narrow an existing file of ours that others can read."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        return
    except FileExistsError:
        pass
    try:
        st = path.stat()
        if st.st_uid == os.geteuid() and st.st_mode & 0o077:
            os.chmod(path, 0o600)
    except (OSError, AttributeError):  # AttributeError: no geteuid (Windows)
        pass


class ResultStore:
    """The sqlite file behind `CachedBackend`. Thread-safe; opened lazily."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.moved: list[tuple[Path, Path]] = []  # (corrupt file, where it went)
        self._conn: sqlite3.Connection | None = None
        self._inode: int | None = None
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ opening
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            _private_dir(self.path.parent)
            _private_file(self.path)
            conn = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                self._prepare(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
            try:
                self._inode = self.path.stat().st_ino
            except OSError:
                self._inode = None
        return self._conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        columns = [row[1] for row in conn.execute("PRAGMA table_info(results)")]
        if version == SCHEMA and "checksum" in columns:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            columns = [row[1] for row in conn.execute("PRAGMA table_info(results)")]
            if columns and "checksum" not in columns:
                log.info("result cache %s: dropping rows of an older cache format", self.path)
                conn.execute("DROP TABLE results")
            conn.execute(_CREATE)
            conn.execute(f"PRAGMA user_version = {int(SCHEMA)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ corruption
    def _run(self, operation: Callable[[sqlite3.Connection], Any]) -> Any:
        """`operation(conn)`; a corrupt file is moved aside, rebuilt, and the operation retried once."""
        with self._lock:
            try:
                return operation(self._db())
            except sqlite3.DatabaseError as exc:
                if not is_corruption(exc):
                    raise
                self._move_aside(exc)
            return operation(self._db())

    def _move_aside(self, exc: BaseException) -> None:
        opened_inode = self._inode
        self.close()
        try:
            current = self.path.stat().st_ino
        except FileNotFoundError:
            current = None
        if current is None or (opened_inode is not None and current != opened_inode):
            return  # another process already moved it aside and rebuilt it: just reopen
        stamp = time.strftime("%Y%m%d%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            n += 1
        os.rename(self.path, target)  # an OSError here (read-only dir) turns the cache off
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.exists():  # never replay the broken file's log into the new database
            try:
                os.rename(wal, target.with_name(target.name + "-wal"))
            except OSError:
                wal.unlink(missing_ok=True)
        self.path.with_name(self.path.name + "-shm").unlink(missing_ok=True)
        self.moved.append((self.path, target))
        log.warning("result cache %s is corrupt (%s): moved it to %s and rebuilt an empty cache in its place",
                    self.path, exc, target)

    # ------------------------------------------------------------------ rows
    def lookup(self, keys: list[str]) -> tuple[dict[str, tuple[str, Any]], dict[str, str]]:
        """(good, bad): good maps key -> (kind, decoded JSON value) for rows whose checksum holds;
        bad maps key -> why the row was rejected (checksum mismatch, not JSON)."""
        unique = list(dict.fromkeys(keys))

        def read(conn: sqlite3.Connection) -> list[tuple]:
            rows: list[tuple] = []
            for start in range(0, len(unique), 500):
                part = unique[start : start + 500]
                marks = ",".join("?" * len(part))
                rows += conn.execute(
                    f"SELECT key, kind, value, checksum FROM results WHERE key IN ({marks})", part
                ).fetchall()
            return rows

        good: dict[str, tuple[str, Any]] = {}
        bad: dict[str, str] = {}
        for key, kind, value, checksum in self._run(read):
            if not isinstance(value, str) or not isinstance(kind, str):
                bad[key] = f"stored value is {type(value).__name__}, not text"
            elif checksum != row_checksum(key, kind, value):
                bad[key] = "checksum mismatch (the value was changed after it was written)"
            else:
                try:
                    good[key] = (kind, json.loads(value))
                except ValueError as exc:
                    bad[key] = f"value is not JSON ({exc})"
        return good, bad

    def store(self, kind: str, entries: list[tuple[str, Any]]) -> None:
        """Write (key, value) rows of one kind in one transaction (one commit)."""
        if not entries:
            return
        rows = []
        for key, value in entries:
            text = canonical(value)
            rows.append((key, kind, text, row_checksum(key, kind, text)))

        def write(conn: sqlite3.Connection) -> None:
            with conn:  # commits, or rolls back on error
                conn.executemany(
                    "INSERT OR REPLACE INTO results (key, kind, value, checksum) VALUES (?, ?, ?, ?)", rows)

        self._run(write)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except sqlite3.Error:
                    pass
                self._conn = None
