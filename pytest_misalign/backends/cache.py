"""A persistent result cache in front of any backend.

`CachedBackend(backend, path)` answers log-likelihood and generation requests from an sqlite file
(`<cache root>/results.sqlite` in a session, or `--misalign-results-cache`) and sends only the
misses to the wrapped backend, so a rerun with other thresholds, or after an interruption, costs
no model calls for what was already scored.

The key of a result is the sha256 of a canonical JSON object holding everything the answer
depends on: the model's fingerprint (a hash of its weights and config), the tokenizer's
fingerprint, dtype, device type, backend name, the model's maximum length, the kind of request and
every field of the request. Two models never share an entry — unlike lm-evaluation-harness's
cache, whose key leaves the model out. A backend that cannot fingerprint its model
(`info.fingerprint is None`) is not cached at all (logged once, and shown in `status`).

Crash safety: misses are scored in chunks, each committed as soon as it returns. Chunks are sized
by time, not count: the first is small (64 log-likelihood requests, 8 generations) and each next
one is sized from the measured throughput so that a chunk takes about `COMMIT_SECONDS` (2 s),
capped (`loglikelihood_chunk` / `generate_chunk`) and floored (16 log-likelihood requests, so
that a slow machine keeps its batching). A kill -9 therefore loses about one chunk: a few seconds
of scoring. Misses are sent in context order and a chunk is extended to the end of
the context group it stops in (up to the cap), so requests sharing a prefix stay in one call (the
HF backend scores a shared prefix once per call).

Nothing read from the file is believed blindly (`cache_store.py` does the sqlite side): a row
whose checksum does not match (an edited value), that is not JSON, or whose value has the wrong
shape (wrong length or types, NaN) is dropped and rescored, with one warning per session and a
count in `status()`. A corrupt file is moved aside and rebuilt. Any other failure of the file
(read-only directory, full disk) turns the cache off with one warning; the run goes on uncached.
The file is in WAL mode, so concurrent sessions (e.g. pytest-xdist workers) can share it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .base import Backend, GenerationRequest, LoglikelihoodRequest, LoglikelihoodResult, Progress, as_backend
from .cache_store import SCHEMA, ResultStore, canonical

log = logging.getLogger(__name__)

__all__ = ["CachedBackend", "cache_path", "SCHEMA", "FILENAME", "RESULTS_CACHE_ENV"]

FILENAME = "results.sqlite"
RESULTS_CACHE_ENV = "PYTEST_MISALIGN_RESULTS_CACHE"
COMMIT_SECONDS = 2.0  # target seconds of scoring per chunk (one commit each): what a kill -9 loses
LOGLIKELIHOOD_CHUNK = 4096  # most requests per call to the wrapped backend
GENERATE_CHUNK = 512
FIRST_LOGLIKELIHOOD_CHUNK = 64  # first chunk of a session, before any throughput is known
FIRST_GENERATE_CHUNK = 8
# Fewest requests per chunk, whatever the throughput: on a slow or overloaded CPU 2 s can be a
# handful of requests, and calls that small cost the HF backend its batching (8-request chunks
# measured 15-60% slower than one call on SmolLM2-135M; 32 and up were within noise).
MIN_LOGLIKELIHOOD_CHUNK = 16
MIN_GENERATE_CHUNK = 1
_MAX_GROWTH = 4.0  # a chunk is at most this many times the previous one (noisy first timings)


def cache_path(cache_dir: str | os.PathLike | None = None,
               results_cache: str | os.PathLike | None = None) -> Path:
    """The result cache file: `results_cache` (--misalign-results-cache), else
    $PYTEST_MISALIGN_RESULTS_CACHE, else `<cache root>/results.sqlite` (cache root:
    --misalign-cache-dir, $PYTEST_MISALIGN_CACHE_DIR, or ~/.cache/pytest-misalign)."""
    if results_cache:
        return Path(results_cache).expanduser()
    env = os.environ.get(RESULTS_CACHE_ENV)
    if env:
        return Path(env).expanduser()
    from .resolve import cache_root

    return cache_root(cache_dir) / FILENAME


def _generation_fields(r: GenerationRequest) -> dict:
    fields = {"prompt": r.prompt, "max_tokens": int(r.max_tokens), "stop": list(r.stop)}
    if r.chat:  # only when set, so keys of plain requests stay what they were
        fields["chat"] = True
    return fields


# ---------------------------------------------------------------------- values: encode / validate
def _decode_loglikelihood(value: Any) -> LoglikelihoodResult:
    """A stored [logprob, is_greedy, n_tokens] back to a result; ValueError when malformed."""
    if not isinstance(value, list) or len(value) != 3:
        raise ValueError("expected [logprob, is_greedy, n_tokens]")
    logprob, greedy, n_tokens = value
    if isinstance(logprob, bool) or not isinstance(logprob, (int, float)):
        raise ValueError(f"logprob is {type(logprob).__name__}, not a number")
    if math.isnan(logprob) or logprob == math.inf:
        raise ValueError(f"logprob is {logprob}")
    if not isinstance(greedy, bool):
        raise ValueError(f"is_greedy is {type(greedy).__name__}, not a bool")
    if isinstance(n_tokens, bool) or not isinstance(n_tokens, int) or n_tokens < 0:
        raise ValueError(f"n_tokens is {n_tokens!r}, not a count")
    return LoglikelihoodResult(float(logprob), greedy, n_tokens)


def _encode_loglikelihood(r: LoglikelihoodResult) -> Any:
    return [float(r.logprob), bool(r.is_greedy), int(r.n_tokens)]


def _decode_rolling(value: Any) -> float:
    """A stored rolling log-likelihood (one number, <= 0 up to rounding) back to a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"rolling log-likelihood is {type(value).__name__}, not a number")
    if math.isnan(value) or value == math.inf:
        raise ValueError(f"rolling log-likelihood is {value}")
    return float(value)


def _decode_generate(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"generation is {type(value).__name__}, not text")
    return value


class _ChunkSizer:
    """Requests per chunk so that one chunk takes about `target` seconds (between `floor` and `cap`)."""

    def __init__(self, first: int, cap: int, target: float, floor: int = 1) -> None:
        self.cap = max(1, int(cap))
        self.floor = max(1, min(int(floor), self.cap))
        self.size = max(self.floor, min(int(first), self.cap))
        self.target = float(target)

    def update(self, n: int, seconds: float) -> None:
        if n <= 0:
            return
        ideal = self.cap if seconds <= 0 else n / seconds * self.target
        ideal = min(ideal, max(n, self.size) * _MAX_GROWTH)
        self.size = max(self.floor, min(self.cap, int(ideal)))


class CachedBackend:
    """Wraps a `Backend`; same interface. Other attributes are forwarded to the wrapped backend.

    `loglikelihood_chunk` / `generate_chunk`: the most requests sent in one call (one commit);
    `commit_seconds`: the time a chunk aims at, i.e. at most the scoring a crash loses.
    """

    def __init__(
        self,
        backend: Backend,
        path: str | os.PathLike,
        *,
        loglikelihood_chunk: int = LOGLIKELIHOOD_CHUNK,
        generate_chunk: int = GENERATE_CHUNK,
        commit_seconds: float = COMMIT_SECONDS,
    ) -> None:
        self.backend = as_backend(backend)
        self.info = backend.info
        self.path = Path(path)
        self.loglikelihood_chunk = max(1, int(loglikelihood_chunk))
        self.generate_chunk = max(1, int(generate_chunk))
        self.commit_seconds = float(commit_seconds)
        self._sizers = {
            "loglikelihood": _ChunkSizer(FIRST_LOGLIKELIHOOD_CHUNK, self.loglikelihood_chunk, commit_seconds,
                                         MIN_LOGLIKELIHOOD_CHUNK),
            "generate": _ChunkSizer(FIRST_GENERATE_CHUNK, self.generate_chunk, commit_seconds,
                                    MIN_GENERATE_CHUNK),
            # whole documents, each several model windows: sized like generations
            "loglikelihood_rolling": _ChunkSizer(FIRST_GENERATE_CHUNK, self.generate_chunk, commit_seconds,
                                                 MIN_GENERATE_CHUNK),
        }
        self.hits = 0
        self.misses = 0
        self.bad_rows = 0  # rows dropped on read (checksum, JSON, shape) and rescored
        self.commits = 0
        self._warned_bad = False
        self._store_db = ResultStore(self.path)
        self._model_key = self._model_identity()
        if self._model_key is None:
            self.enabled = False
            self.reason = (f"result cache off: the {self.info.backend} backend gives no fingerprint "
                           f"for model {self.info.name!r}")
            log.warning("%s", self.reason)
        else:
            self.enabled = True
            self.reason = ""

    # ------------------------------------------------------------------ keys
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
        """The cache key of one request of `kind` ('loglikelihood' | 'generate' | 'loglikelihood_rolling')."""
        blob = canonical({**(self._model_key or {}), "kind": kind, "request": fields})
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    @property
    def corrupt_moved(self) -> list[tuple[Path, Path]]:
        """(corrupt file, where it was moved) for each corrupt database moved aside this session."""
        return list(self._store_db.moved)

    # ------------------------------------------------------------------ Backend interface
    def loglikelihood(
        self, requests: Sequence[LoglikelihoodRequest], progress: Progress | None = None
    ) -> list[LoglikelihoodResult]:
        requests = list(requests)
        if not self.enabled:
            return self.backend.loglikelihood(requests, progress=progress)
        keys = [self.key("loglikelihood", {"context": r.context, "continuation": r.continuation})
                for r in requests]
        return self._serve("loglikelihood", requests, keys, _decode_loglikelihood, _encode_loglikelihood,
                           self.backend.loglikelihood, progress,
                           order=lambda r: (r.context, r.continuation), group=lambda r: r.context)

    def generate(
        self, requests: Sequence[GenerationRequest], progress: Progress | None = None
    ) -> list[str]:
        requests = list(requests)
        if not self.enabled:
            return self.backend.generate(requests, progress=progress)
        keys = [self.key("generate", _generation_fields(r)) for r in requests]
        return self._serve("generate", requests, keys, _decode_generate, str, self.backend.generate,
                           progress, order=lambda r: r.prompt, group=lambda r: r.prompt)

    def loglikelihood_rolling(self, texts: Sequence[str], progress: Progress | None = None) -> list[float]:
        texts = list(texts)
        if not self.enabled:
            return self.backend.loglikelihood_rolling(texts, progress=progress)
        keys = [self.key("loglikelihood_rolling", {"text": t}) for t in texts]
        return self._serve("loglikelihood_rolling", texts, keys, _decode_rolling, float,
                           self.backend.loglikelihood_rolling, progress, order=lambda t: t, group=lambda t: t)

    def _give_up(self, exc: BaseException) -> None:
        """An unusable cache file (read-only directory, full disk...) must not fail the run."""
        self.enabled = False
        self.reason = f"result cache off: cannot use {self.path}: {type(exc).__name__}: {exc}"
        log.warning("%s (scoring goes on uncached)", self.reason)
        self._store_db.close()

    def _read(self, kind: str, keys: list[str], decode: Callable[[Any], Any]) -> dict[str, Any]:
        """Valid cached answers by key; invalid rows are counted, warned about once, and left out."""
        good, bad = self._store_db.lookup(keys)
        found: dict[str, Any] = {}
        for key, (stored_kind, value) in good.items():
            try:
                if stored_kind != kind:
                    raise ValueError(f"row is a {stored_kind!r} result, not {kind!r}")
                found[key] = decode(value)
            except (ValueError, TypeError) as exc:
                bad[key] = f"wrong shape: {exc}"
        if bad:
            self.bad_rows += len(bad)
            key, why = next(iter(bad.items()))
            message = (f"result cache {self.path}: {len(bad)} invalid cached value(s) dropped and rescored "
                       f"(e.g. key {key[:12]}…: {why})")
            if self._warned_bad:
                log.debug("%s", message)
            else:
                self._warned_bad = True
                log.warning("%s; later ones are only counted in the cache status", message)
        return found

    def _serve(self, kind, requests, keys, decode, encode, call, progress, order, group):
        try:
            found = self._read(kind, keys, decode)
        except (sqlite3.Error, OSError) as exc:
            self._give_up(exc)
            return call(requests, progress=progress)
        results: list[Any] = [None] * len(requests)
        pending: dict[str, list[int]] = {}  # missing key -> request positions
        for i, key in enumerate(keys):
            if key in found:
                results[i] = found[key]
            else:
                pending.setdefault(key, []).append(i)
        n_miss = sum(len(v) for v in pending.values())
        n_hit = len(requests) - n_miss
        self.hits += n_hit
        self.misses += n_miss
        if progress is not None and n_hit:
            progress(n_hit)
        todo = sorted(pending, key=lambda k: order(requests[pending[k][0]]))
        sizer = self._sizers[kind]
        start = 0
        while start < len(todo):
            end = min(start + sizer.size, len(todo))
            limit = min(start + sizer.cap, len(todo))
            while end < limit and group(requests[pending[todo[end]][0]]) == group(requests[pending[todo[end - 1]][0]]):
                end += 1  # keep a context group in one call (prefix sharing), up to the cap
            part = todo[start:end]
            start = end
            sub_progress = None
            if progress is not None:
                # The wrapped backend counts its (deduplicated) requests; scale to positions.
                scale = sum(len(pending[k]) for k in part) / len(part)
                sent = [0.0]

                def sub_progress(n: int, scale=scale, sent=sent) -> None:
                    before = round(sent[0])
                    sent[0] += n * scale
                    if round(sent[0]) > before:
                        progress(round(sent[0]) - before)

            began = time.monotonic()
            answers = call([requests[pending[k][0]] for k in part], progress=sub_progress)
            sizer.update(len(part), time.monotonic() - began)
            if len(answers) != len(part):
                raise RuntimeError(f"{type(self.backend).__name__} returned {len(answers)} answers "
                                   f"for {len(part)} requests")
            if self.enabled:
                self._write(kind, part, answers, encode, decode)
            for k, a in zip(part, answers):
                for i in pending[k]:
                    results[i] = a
        return results

    def _write(self, kind: str, part: list[str], answers: list, encode, decode) -> None:
        entries = []
        for k, a in zip(part, answers):
            value = encode(a)
            try:
                decode(value)  # never store what would be rejected on read (e.g. a NaN score)
            except (ValueError, TypeError):
                continue
            entries.append((k, value))
        try:
            self._store_db.store(kind, entries)
            self.commits += 1
        except (sqlite3.Error, OSError) as exc:
            self._give_up(exc)

    # ------------------------------------------------------------------ misc
    @property
    def stats(self) -> dict:
        """Cache counters plus the wrapped backend's own stats (when it keeps any)."""
        return {**dict(self.backend.stats), "cache_hits": self.hits, "cache_misses": self.misses,
                "cache_bad_rows": self.bad_rows, "cache_corrupt_moved": len(self._store_db.moved),
                "cache_enabled": self.enabled}

    def status(self) -> str:
        """One line for reports: hits, misses, invalid rows rescored, corrupt files moved aside."""
        if not self.enabled:
            done = f" ({self.hits} hits, {self.misses} misses before that)" if self.hits or self.misses else ""
            return self.reason + done
        total = self.hits + self.misses
        share = f" ({100.0 * self.hits / total:.0f}% from the cache)" if total else ""
        parts = [f"result cache: {self.hits} hits, {self.misses} misses{share}"]
        parts.append(f"{self.bad_rows} invalid rows rescored")
        moved = self._store_db.moved
        parts.append(f"{len(moved)} corrupt files moved aside"
                     + "".join(f" ({old} -> {new})" for old, new in moved))
        return ", ".join(parts) + f" ({self.path})"

    def close(self) -> None:
        self._store_db.close()
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
