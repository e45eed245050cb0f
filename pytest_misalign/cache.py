"""A persistent result cache in front of any backend.

`CachedBackend(backend, path)` answers log-likelihood and generation requests from an sqlite file
(`<cache root>/results.sqlite` in a session) and sends only the misses to the wrapped backend, so a
rerun with other thresholds, or after an interruption, costs no model calls for what was already
scored.

The key of a result is the sha256 of a canonical JSON object holding everything the answer
depends on: the model's fingerprint (a hash of its weights and config), the tokenizer's
fingerprint, dtype, device type, backend name, the model's maximum length, the kind of request and
every field of the request. Two models never share an entry — unlike lm-evaluation-harness's
cache, whose key leaves the model out. A backend that cannot fingerprint its model
(`info.fingerprint is None`) is not cached at all (logged once, and shown in `status`).

Misses are scored in chunks, each committed as soon as it returns, so an interrupted run keeps
every finished chunk. Misses are sent in context order so that requests sharing a prefix stay in
one chunk (the HF backend scores a shared prefix once per call). The file is in WAL mode, so
concurrent sessions (e.g. pytest-xdist workers) can read and write it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Sequence

from .backends.base import (
    Backend,
    GenerationRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Progress,
    as_backend,
)

log = logging.getLogger(__name__)

SCHEMA = 1  # bump when the meaning of a cached value changes
FILENAME = "results.sqlite"
LOGLIKELIHOOD_CHUNK = 1024  # requests per call to the wrapped backend (one commit each)
GENERATE_CHUNK = 64


def cache_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """`<cache root>/results.sqlite`: --misalign-cache-dir, $PYTEST_MISALIGN_CACHE_DIR, or
    ~/.cache/pytest-misalign."""
    from .backends.resolve import cache_root

    return cache_root(cache_dir) / FILENAME


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _generation_fields(r: GenerationRequest) -> dict:
    fields = {"prompt": r.prompt, "max_tokens": int(r.max_tokens), "stop": list(r.stop)}
    if r.chat:  # only when set, so keys of plain requests stay what they were
        fields["chat"] = True
    return fields


class CachedBackend:
    """Wraps a `Backend`; same interface. Other attributes are forwarded to the wrapped backend."""

    def __init__(
        self,
        backend: Backend,
        path: str | os.PathLike,
        *,
        loglikelihood_chunk: int = LOGLIKELIHOOD_CHUNK,
        generate_chunk: int = GENERATE_CHUNK,
    ) -> None:
        self.backend = as_backend(backend)
        self.info = backend.info
        self.path = Path(path)
        self.loglikelihood_chunk = max(1, int(loglikelihood_chunk))
        self.generate_chunk = max(1, int(generate_chunk))
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._model_key = self._model_identity()
        if self._model_key is None:
            self.enabled = False
            self.reason = (f"result cache off: the {self.info.backend} backend gives no fingerprint "
                           f"for model {self.info.name!r}")
            log.warning("%s", self.reason)
        else:
            self.enabled = True
            self.reason = ""

    # ------------------------------------------------------------------ keys / storage
    def _model_identity(self) -> dict | None:
        info = self.info
        if not info.fingerprint:
            return None
        device_type = str(info.device).split(":", 1)[0]
        return {
            "schema": SCHEMA,
            "model": info.fingerprint,
            "tokenizer": info.tokenizer_fingerprint,
            "dtype": info.dtype,
            "device": device_type,
            "backend": info.backend,
            "max_length": info.max_length,
        }

    def key(self, kind: str, fields: dict) -> str:
        """The cache key of one request of `kind` ('loglikelihood' | 'generate')."""
        blob = _canonical({**(self._model_key or {}), "kind": kind, "request": fields})
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, kind TEXT NOT NULL, "
                "value TEXT NOT NULL, created REAL DEFAULT (julianday('now')))"
            )
            conn.commit()
            self._conn = conn
        return self._conn

    def _lookup(self, keys: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            db = self._db()
            for start in range(0, len(unique), 500):
                part = unique[start : start + 500]
                marks = ",".join("?" * len(part))
                for key, value in db.execute(f"SELECT key, value FROM results WHERE key IN ({marks})", part):
                    found[key] = json.loads(value)
        return found

    def _store(self, kind: str, entries: list[tuple[str, Any]]) -> None:
        if not entries:
            return
        with self._lock:
            db = self._db()
            db.executemany(
                "INSERT OR REPLACE INTO results (key, kind, value) VALUES (?, ?, ?)",
                [(k, kind, json.dumps(v)) for k, v in entries],
            )
            db.commit()

    # ------------------------------------------------------------------ Backend interface
    def loglikelihood(
        self, requests: Sequence[LoglikelihoodRequest], progress: Progress | None = None
    ) -> list[LoglikelihoodResult]:
        requests = list(requests)
        if not self.enabled:
            return self.backend.loglikelihood(requests, progress=progress)
        keys = [self.key("loglikelihood", {"context": r.context, "continuation": r.continuation})
                for r in requests]

        def decode(v: Any) -> LoglikelihoodResult:
            return LoglikelihoodResult(float(v[0]), bool(v[1]), int(v[2]))

        def encode(r: LoglikelihoodResult) -> Any:
            return [r.logprob, r.is_greedy, r.n_tokens]

        return self._serve("loglikelihood", requests, keys, decode, encode,
                           self.backend.loglikelihood, self.loglikelihood_chunk, progress,
                           order=lambda r: (r.context, r.continuation))

    def generate(
        self, requests: Sequence[GenerationRequest], progress: Progress | None = None
    ) -> list[str]:
        requests = list(requests)
        if not self.enabled:
            return self.backend.generate(requests, progress=progress)
        keys = [self.key("generate", _generation_fields(r)) for r in requests]
        return self._serve("generate", requests, keys, str, str, self.backend.generate,
                           self.generate_chunk, progress, order=lambda r: r.prompt)

    def _give_up(self, exc: BaseException) -> None:
        """An unusable cache file (read-only home, full disk...) must not fail the run."""
        self.enabled = False
        self.reason = f"result cache off: cannot use {self.path}: {type(exc).__name__}: {exc}"
        log.warning("%s", self.reason)

    def _serve(self, kind, requests, keys, decode, encode, call, chunk, progress, order):
        try:
            found = self._lookup(keys)
        except (sqlite3.Error, OSError) as exc:
            self._give_up(exc)
            return call(requests, progress=progress)
        results: list[Any] = [None] * len(requests)
        pending: dict[str, list[int]] = {}  # missing key -> request positions
        for i, key in enumerate(keys):
            if key in found:
                results[i] = decode(found[key])
            else:
                pending.setdefault(key, []).append(i)
        n_hit = len(requests) - sum(len(v) for v in pending.values())
        self.hits += n_hit
        self.misses += sum(len(v) for v in pending.values())
        if progress is not None and n_hit:
            progress(n_hit)
        todo = sorted(pending, key=lambda k: order(requests[pending[k][0]]))
        for start in range(0, len(todo), chunk):
            part = todo[start : start + chunk]
            sub_progress = None
            if progress is not None:
                # The wrapped backend counts its (deduplicated) requests; scale to positions.
                weight = {j: len(pending[k]) for j, k in enumerate(part)}
                scale = sum(weight.values()) / len(part)
                sent = [0.0]

                def sub_progress(n: int, scale=scale, sent=sent) -> None:
                    before = round(sent[0])
                    sent[0] += n * scale
                    if round(sent[0]) > before:
                        progress(round(sent[0]) - before)

            answers = call([requests[pending[k][0]] for k in part], progress=sub_progress)
            if self.enabled:
                try:
                    self._store(kind, [(k, encode(a)) for k, a in zip(part, answers)])
                except (sqlite3.Error, OSError) as exc:
                    self._give_up(exc)
            for k, a in zip(part, answers):
                for i in pending[k]:
                    results[i] = a
        return results

    # ------------------------------------------------------------------ misc
    @property
    def stats(self) -> dict:
        """Cache counters plus the wrapped backend's own stats (when it keeps any)."""
        return {**dict(self.backend.stats), "cache_hits": self.hits, "cache_misses": self.misses,
                "cache_enabled": self.enabled}

    def status(self) -> str:
        """One line for reports."""
        if not self.enabled:
            return self.reason
        return f"result cache: {self.hits} hits, {self.misses} misses ({self.path})"

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        self.backend.close()

    def chat_prompt(self, user_message: str) -> str:
        return self.backend.chat_prompt(user_message)

    def __getattr__(self, name: str):
        # Only called for attributes not found normally: tokenizer, model, ...
        if name in ("backend", "__setstate__"):
            raise AttributeError(name)
        return getattr(self.backend, name)

    def __repr__(self) -> str:
        return f"CachedBackend({self.backend!r}, {str(self.path)!r})"
