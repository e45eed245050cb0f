"""The persistent result cache: hits and misses, keys that never mix models, interrupted runs."""

from __future__ import annotations

import logging
from pathlib import Path
import sqlite3

import pytest

from pytest_misalign.backends import (
    GenerationRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelConfig,
    ModelInfo,
)
from pytest_misalign.backends.cache import CachedBackend, cache_path


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Counting:
    """A deterministic backend whose answers depend on its fingerprint; counts model calls."""

    def __init__(self, fingerprint="model-a", dtype="float32", device="cpu", tokenizer="tok-1", fail_on_call=None):
        self.info = ModelInfo(name="counting", device=device, dtype=dtype, backend="counting", source="mem",
                              fingerprint=fingerprint, tokenizer_fingerprint=tokenizer, max_length=64)
        self.calls = 0
        self.requests: list = []
        self.fail_on_call = fail_on_call
        self.closed = False

    def _score(self, r: LoglikelihoodRequest) -> LoglikelihoodResult:
        base = -float(len(r.continuation)) - len(r.context) / 100
        shift = {"model-a": 0.0}.get(self.info.fingerprint, 0.5)
        return LoglikelihoodResult(base - shift, len(r.continuation) < 3, len(r.continuation.split()))

    def loglikelihood(self, requests, progress=None):
        self.calls += 1
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            raise KeyboardInterrupt
        self.requests += list(requests)
        out = [self._score(r) for r in requests]
        if progress is not None:
            progress(len(requests))
        return out

    def generate(self, requests, progress=None):
        self.calls += 1
        self.requests += list(requests)
        if progress is not None:
            progress(len(requests))
        return [f"{self.info.fingerprint}:{r.prompt[::-1]}:{r.max_tokens}" for r in requests]

    def close(self):
        self.closed = True

    def chat_prompt(self, text):
        return f"<user>{text}</user>"


REQS = [LoglikelihoodRequest(f"Question {i % 7}?\nAnswer:", f" choice {i}") for i in range(30)]
REQS += [REQS[0], LoglikelihoodRequest("", "x"), LoglikelihoodRequest("ctx ", "")]  # duplicate, edge cases


def test_second_run_makes_no_model_calls(tmp_path):
    path = tmp_path / "results.sqlite"
    first_backend = Counting()
    first = CachedBackend(first_backend, path)
    calls: list[int] = []
    got = first.loglikelihood(REQS, progress=calls.append)
    assert got == [first_backend._score(r) for r in REQS]
    assert sum(calls) == len(REQS)
    assert first_backend.calls == 1 and len(first_backend.requests) == len(REQS) - 1  # duplicate sent once
    assert (first.hits, first.misses) == (0, len(REQS))
    first.close()
    assert first_backend.closed

    again_backend = Counting()
    again = CachedBackend(again_backend, path)
    calls.clear()
    assert again.loglikelihood(REQS, progress=calls.append) == got
    assert again_backend.calls == 0 and sum(calls) == len(REQS)
    assert (again.hits, again.misses) == (len(REQS), 0)
    assert "33 hits, 0 misses" in again.status()
    # a partly new request list: only the new ones reach the model, results stay in order
    mixed = [LoglikelihoodRequest("new", " one")] + REQS[:5] + [LoglikelihoodRequest("new", " two")]
    out = again.loglikelihood(mixed)
    assert out == [again_backend._score(r) for r in mixed]
    assert again_backend.requests == [mixed[0], mixed[-1]]


@pytest.mark.parametrize("change", [
    {"fingerprint": "model-b"},
    {"dtype": "bfloat16"},
    {"device": "cuda:0"},
    {"tokenizer": "tok-2"},
])
def test_a_different_model_never_hits(tmp_path, change):
    path = tmp_path / "results.sqlite"
    CachedBackend(Counting(), path).loglikelihood(REQS)
    other_backend = Counting(**change)
    other = CachedBackend(other_backend, path)
    got = other.loglikelihood(REQS)
    assert other.hits == 0 and other_backend.calls == 1
    assert got == [other_backend._score(r) for r in REQS]  # its own answers, never model-a's
    # and the first model's entries are still there for it
    first_again = Counting()
    CachedBackend(first_again, path).loglikelihood(REQS)
    assert first_again.calls == 0


def test_same_device_type_shares_entries(tmp_path):
    path = tmp_path / "results.sqlite"
    CachedBackend(Counting(device="cuda:0"), path).loglikelihood(REQS)
    other = Counting(device="cuda:1")
    CachedBackend(other, path).loglikelihood(REQS)
    assert other.calls == 0


def test_key_covers_every_request_field(tmp_path):
    cached = CachedBackend(Counting(), tmp_path / "r.sqlite")
    keys = {cached.key("loglikelihood", {"context": "a", "continuation": "b"}),
            cached.key("loglikelihood", {"context": "a ", "continuation": "b"}),
            cached.key("loglikelihood", {"context": "a", "continuation": " b"}),
            cached.key("generate", {"context": "a", "continuation": "b"})}
    assert len(keys) == 4
    gen = [GenerationRequest("p", 8), GenerationRequest("p", 9), GenerationRequest("p", 8, ("\n",))]
    backend = cached.backend
    outs = cached.generate(gen)
    assert backend.calls == 1 and len(backend.requests) == 3 and len(set(outs)) == 2
    assert cached.generate(gen) == outs and backend.calls == 1


def test_interrupted_run_keeps_finished_chunks(tmp_path):
    path = tmp_path / "results.sqlite"
    broken = Counting(fail_on_call=3)
    cached = CachedBackend(broken, path, loglikelihood_chunk=10)
    with pytest.raises(KeyboardInterrupt):
        cached.loglikelihood(REQS)
    assert broken.calls == 3 and len(broken.requests) == 20  # two chunks of 10 finished
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 20
    resumed_backend = Counting()
    resumed = CachedBackend(resumed_backend, path, loglikelihood_chunk=10)
    got = resumed.loglikelihood(REQS)
    assert got == [resumed_backend._score(r) for r in REQS]
    assert resumed.hits == 21  # 20 stored + the duplicate of one of them
    assert len(resumed_backend.requests) == len(REQS) - 1 - 20


def test_no_fingerprint_means_no_cache(tmp_path, caplog):
    backend = Counting(fingerprint=None)
    with caplog.at_level(logging.WARNING):
        cached = CachedBackend(backend, tmp_path / "results.sqlite")
    assert not cached.enabled and "no fingerprint" in caplog.text and caplog.text.count("result cache off") == 1
    cached.loglikelihood(REQS)
    cached.loglikelihood(REQS)
    cached.generate([GenerationRequest("p")])
    assert backend.calls == 3 and "no fingerprint" in cached.status()
    assert not (tmp_path / "results.sqlite").exists()


def test_unusable_cache_file_does_not_fail_the_run(tmp_path, caplog):
    (tmp_path / "not-a-dir").write_text("")
    backend = Counting()
    cached = CachedBackend(backend, tmp_path / "not-a-dir" / "results.sqlite")
    with caplog.at_level(logging.WARNING):
        assert cached.loglikelihood(REQS) == [backend._score(r) for r in REQS]
    assert not cached.enabled and "cannot use" in cached.status() and "cannot use" in caplog.text
    assert cached.loglikelihood(REQS[:2]) == [backend._score(r) for r in REQS[:2]]


def test_wrapper_forwards_the_rest(tmp_path):
    cached = CachedBackend(Counting(), tmp_path / "r.sqlite")
    assert cached.chat_prompt("hi") == "<user>hi</user>"  # used by `chat: true` tasks
    assert cached.info.fingerprint == "model-a"
    assert cached.stats["cache_enabled"] is True
    with pytest.raises(AttributeError):
        cached.no_such_attribute


def test_cache_path_follows_the_cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTEST_MISALIGN_CACHE_DIR", str(tmp_path / "env"))
    assert cache_path() == tmp_path / "env" / "results.sqlite"
    assert cache_path(tmp_path / "opt") == tmp_path / "opt" / "results.sqlite"


def test_hf_backend_second_run_zero_forwards_and_models_never_mix(tiny_model_dir, tmp_path):
    """The real backend: a rerun does no forward pass; another model's weights never hit."""
    from reference import ref_loglikelihood  # tests/ is on sys.path
    from tiny_model import build_tiny_model_dir

    from pytest_misalign.backends.hf import HFBackend

    path = tmp_path / "results.sqlite"
    requests = [LoglikelihoodRequest("The quick brown", c) for c in (" fox", " dog", " cat")]
    first = HFBackend(ModelConfig(model=str(tiny_model_dir), cache_dir=str(tmp_path)))
    scores = CachedBackend(first, path).loglikelihood(requests)
    assert first.stats.forward_calls >= 1

    again = HFBackend(ModelConfig(model=str(tiny_model_dir), cache_dir=str(tmp_path)))
    assert again.info.tokenizer_fingerprint == first.info.tokenizer_fingerprint
    assert CachedBackend(again, path).loglikelihood(requests) == scores
    assert again.stats.forward_calls == 0 and again.stats.requests == 0

    other_dir = build_tiny_model_dir(tmp_path / "other-model", seed=1)  # same tokenizer, other weights
    other = HFBackend(ModelConfig(model=str(other_dir), cache_dir=str(tmp_path)))
    assert other.info.fingerprint != first.info.fingerprint
    other_cached = CachedBackend(other, path)
    other_scores = other_cached.loglikelihood(requests)
    assert other_cached.hits == 0 and other.stats.forward_calls >= 1
    ref = [ref_loglikelihood(other.model, other.tokenizer, r.context, r.continuation, other.max_length)[0]
           for r in requests]
    assert [r.logprob for r in other_scores] == pytest.approx(ref, abs=1e-4)
    assert [r.logprob for r in other_scores] != pytest.approx([r.logprob for r in scores], abs=1e-3)
    for b in (first, again, other):
        b.close()


# ==================================================================================================
# A cache that can't lie or crash: every row validated on read, corrupt files rebuilt, private files.
# ==================================================================================================
import json  # noqa: E402
import contextlib  # noqa: E402
import os  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402

from pytest_misalign.backends import cache as cache_module  # noqa: E402
from pytest_misalign.backends.cache_store import SCHEMA, row_checksum  # noqa: E402

MANY = [LoglikelihoodRequest(f"Item {i // 3}: which one?\nAnswer:", f" option {i % 3}") for i in range(1500)]


def expected(requests, fingerprint="model-a"):
    """Independent of the cache: what Counting scores, recomputed from its formula."""
    shift = 0.0 if fingerprint == "model-a" else 0.5
    return [LoglikelihoodResult(-float(len(r.continuation)) - len(r.context) / 100 - shift,
                                len(r.continuation) < 3, len(r.continuation.split())) for r in requests]


def fill(path, requests=REQS):
    cached = CachedBackend(Counting(), path)
    cached.loglikelihood(requests)
    cached.close()


def rows(path):
    with sqlite3.connect(path) as db:
        return {key: (kind, value, checksum) for key, kind, value, checksum
                in db.execute("SELECT key, kind, value, checksum FROM results")}


def set_value(path, key, value_text, fix_checksum):
    with sqlite3.connect(path) as db:
        kind = db.execute("SELECT kind FROM results WHERE key = ?", (key,)).fetchone()[0]
        checksum = row_checksum(key, kind, value_text) if fix_checksum else None
        if fix_checksum:
            db.execute("UPDATE results SET value = ?, checksum = ? WHERE key = ?", (value_text, checksum, key))
        else:
            db.execute("UPDATE results SET value = ? WHERE key = ?", (value_text, key))


def ll_key(cached, r):
    return cached.key("loglikelihood", {"context": r.context, "continuation": r.continuation})


def warnings_about(caplog, text):
    return [r for r in caplog.records if r.levelno >= logging.WARNING and text in r.getMessage()]


@pytest.mark.parametrize("value_text, fix_checksum, why", [
    ("[-0.5, true, 1]", False, "checksum mismatch"),  # the edited value: 0.75 -> 0.50 accuracy in the issue
    ("not json {", False, "checksum mismatch"),
    ("not json {", True, "not JSON"),
    ("[-0.5, true]", True, "wrong shape"),
    ("[-0.5, true, 1, 4]", True, "wrong shape"),
    ('["-0.5", true, 1]', True, "wrong shape"),
    ("[NaN, true, 1]", True, "wrong shape"),
    ("[Infinity, true, 1]", True, "wrong shape"),
    ("[-0.5, 1, 1]", True, "wrong shape"),
    ("[-0.5, true, -1]", True, "wrong shape"),
    ("[-0.5, true, 1.5]", True, "wrong shape"),
    ('{"logprob": -0.5}', True, "wrong shape"),
    ('"generated text"', True, "wrong shape"),
    ("null", True, "wrong shape"),
])
def test_bad_row_is_dropped_rescored_and_warned_once(tmp_path, caplog, value_text, fix_checksum, why):
    path = tmp_path / "results.sqlite"
    fill(path)
    backend = Counting()
    cached = CachedBackend(backend, path)
    victims = [REQS[3], REQS[11]]
    for r in victims:
        set_value(path, ll_key(cached, r), value_text, fix_checksum)
    with caplog.at_level(logging.WARNING):
        got = cached.loglikelihood(REQS)
        assert got == expected(REQS)  # never the edited / broken value
        assert cached.loglikelihood(REQS) == expected(REQS)  # repaired in place: no second warning
    assert backend.requests == victims  # only the bad rows were rescored
    assert cached.bad_rows == 2 and cached.misses == 2 and cached.hits == 2 * len(REQS) - 2
    assert len(warnings_about(caplog, "invalid cached value")) == 1 and why in caplog.text
    assert "Traceback" not in caplog.text
    assert "2 invalid rows rescored" in cached.status()
    # the rescored rows were written back with a valid checksum: a new session hits them all
    again = Counting()
    fresh = CachedBackend(again, path)
    assert fresh.loglikelihood(REQS) == expected(REQS) and again.calls == 0 and fresh.bad_rows == 0


def test_bad_generation_row_and_wrong_kind_are_rescored(tmp_path, caplog):
    path = tmp_path / "results.sqlite"
    gen = [GenerationRequest("p", 8), GenerationRequest("q", 8)]
    first = CachedBackend(Counting(), path)
    outs = first.generate(gen)
    first.close()
    backend = Counting()
    cached = CachedBackend(backend, path)
    key = cached.key("generate", {"prompt": "p", "max_tokens": 8, "stop": []})
    set_value(path, key, "123", fix_checksum=True)
    with sqlite3.connect(path) as db:  # a row that claims to be another kind of result
        other = cached.key("generate", {"prompt": "q", "max_tokens": 8, "stop": []})
        db.execute("UPDATE results SET kind = 'loglikelihood', checksum = ? WHERE key = ?",
                   (row_checksum(other, "loglikelihood", json.dumps(outs[1])), other))
    with caplog.at_level(logging.WARNING):
        assert cached.generate(gen) == ["model-a:p:8", "model-a:q:8"] == outs
    assert backend.calls == 1 and len(backend.requests) == 2 and cached.bad_rows == 2
    assert len(warnings_about(caplog, "invalid cached value")) == 1


def test_values_the_backend_gets_wrong_are_not_stored(tmp_path):
    class NaNBackend(Counting):
        def _score(self, r):
            return LoglikelihoodResult(float("nan"), False, 1)

    path = tmp_path / "results.sqlite"
    cached = CachedBackend(NaNBackend(), path)
    assert all(r.logprob != r.logprob for r in cached.loglikelihood(REQS[:4]))
    assert rows(path) == {}  # not cached, so never read back as a "bad row"


def test_every_row_has_a_checksum_of_key_and_value(tmp_path):
    import hashlib

    path = tmp_path / "results.sqlite"
    fill(path)
    stored = rows(path)
    assert len(stored) == len(REQS) - 1
    for key, (kind, value, checksum) in stored.items():
        assert checksum == hashlib.sha256(f"{key}\0{kind}\0{value}".encode()).hexdigest()
        assert kind == "loglikelihood" and len(json.loads(value)) == 3


def test_rows_of_the_old_schema_are_replaced_cleanly(tmp_path, caplog):
    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as db:  # the schema-1 layout: no checksum column
        db.execute("CREATE TABLE results (key TEXT PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL, "
                   "created REAL DEFAULT (julianday('now')))")
        db.execute("INSERT INTO results (key, kind, value) VALUES ('k', 'loglikelihood', '[0, true, 1]')")
    backend = Counting()
    cached = CachedBackend(backend, path)
    with caplog.at_level(logging.WARNING):
        assert cached.loglikelihood(REQS) == expected(REQS)
    assert not warnings_about(caplog, "")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA == 2
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == len(REQS) - 1
        assert db.execute("SELECT COUNT(*) FROM results WHERE key = 'k'").fetchone()[0] == 0


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path):
    path.write_bytes(b"this is not an sqlite database\n" * 200)


def _zero_header(path):
    data = bytearray(path.read_bytes())
    data[100:4096] = bytes(4096 - 100)  # the first page's b-tree header and cells
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _garbage, _zero_header])
def test_corrupt_database_is_moved_aside_and_rebuilt(tmp_path, caplog, damage):
    path = tmp_path / "results.sqlite"
    fill(path, MANY)
    assert not (tmp_path / "results.sqlite-wal").exists()  # closed cleanly: everything in the file
    damage(path)
    backend = Counting()
    cached = CachedBackend(backend, path)
    with caplog.at_level(logging.WARNING):
        assert cached.loglikelihood(MANY) == expected(MANY)
    moved = sorted(tmp_path.glob("results.sqlite.corrupt-*"))
    assert len(moved) == 1 and moved[0].name.startswith("results.sqlite.corrupt-2")
    assert len(moved[0].name) == len("results.sqlite.corrupt-YYYYmmddHHMMSS")
    [warning] = warnings_about(caplog, "is corrupt")
    assert str(path) in warning.getMessage() and str(moved[0]) in warning.getMessage()
    assert cached.enabled and cached.corrupt_moved == [(path, moved[0])]
    assert cached.stats["cache_corrupt_moved"] == 1 and "1 corrupt files moved aside" in cached.status()
    assert str(moved[0]) in cached.status()
    cached.close()
    # every later run uses the rebuilt cache
    again = Counting()
    later = CachedBackend(again, path)
    with caplog.at_level(logging.WARNING):
        caplog.clear()
        assert later.loglikelihood(MANY) == expected(MANY)
    assert again.calls == 0 and later.hits == len(MANY) and not warnings_about(caplog, "")
    assert len(list(tmp_path.glob("results.sqlite.corrupt-*"))) == 1


def test_cache_files_are_private(tmp_path):
    path = tmp_path / "new" / "cache" / "results.sqlite"
    cached = CachedBackend(Counting(), path)
    cached.loglikelihood(REQS)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for side in ("results.sqlite-wal", "results.sqlite-shm"):  # sqlite copies the database's mode
        if (path.parent / side).exists():
            assert stat.S_IMODE((path.parent / side).stat().st_mode) == 0o600
    cached.close()
    # an existing database readable by others is narrowed
    os.chmod(path, 0o644)
    CachedBackend(Counting(), path).loglikelihood(REQS[:1])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@contextlib.contextmanager
def read_only(path):
    """A directory nobody can write into, root included: mode 0500, and as root (who ignores modes;
    CI runs as root) the immutable attribute as well (chattr +i)."""
    os.chmod(path, 0o500)
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    if root:
        subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
    try:
        yield path
    finally:
        if root:
            subprocess.run(["chattr", "-i", str(path)], check=True, capture_output=True)
        os.chmod(path, 0o700)


@pytest.mark.parametrize("existing", [False, True])
def test_read_only_cache_dir_warns_once_and_runs_uncached(tmp_path, caplog, existing):
    root = tmp_path / "ro"
    root.mkdir()
    if existing:
        fill(root / "results.sqlite")
    with read_only(root):
        backend = Counting()
        cached = CachedBackend(backend, root / "results.sqlite")
        with caplog.at_level(logging.WARNING):
            assert cached.loglikelihood(REQS) == expected(REQS)
            assert cached.loglikelihood(REQS) == expected(REQS)
        assert not cached.enabled and "cannot use" in cached.status()
        assert len(warnings_about(caplog, "result cache off")) == 1


def test_chunks_follow_time_and_keep_context_groups(tmp_path, monkeypatch):
    """Chunk sizes come from measured throughput (a fake clock: 10 ms per request here): 64 first,
    then about 2 s worth; a chunk never splits a context group below the cap."""
    clock = [0.0]
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: clock[0])

    class Timed(Counting):
        def __init__(self, seconds_per_request):
            super().__init__()
            self.per = seconds_per_request
            self.chunks = []

        def loglikelihood(self, requests, progress=None):
            clock[0] += self.per * len(requests)
            self.chunks.append(list(requests))
            return super().loglikelihood(requests, progress)

    fast = Timed(0.01)
    cached = CachedBackend(fast, tmp_path / "r.sqlite")
    calls: list[int] = []
    assert cached.loglikelihood(MANY, progress=calls.append) == expected(MANY)
    assert sum(calls) == len(MANY)
    sizes = [len(c) for c in fast.chunks]
    assert sizes[0] == 66  # 64, extended to the end of its context group (3 options per item)
    assert all(s * 0.01 <= cache_module.COMMIT_SECONDS + 0.03 for s in sizes)  # ~2 s of work each
    assert all(195 <= s <= 203 for s in sizes[1:-1])
    assert cached.commits == len(sizes)
    contexts = [{r.context for r in c} for c in fast.chunks]
    assert all(not (a & b) for a, b in zip(contexts, contexts[1:]))  # no group spans two chunks

    slow = Timed(0.1)  # 66 requests took 6.6 s: shrink to 2 s worth (20), then stay there
    cached = CachedBackend(slow, tmp_path / "s.sqlite")
    cached.loglikelihood(MANY[:150])
    assert [len(c) for c in slow.chunks][:4] == [66, 21, 21, 21]  # 20, to the end of a group

    slower = Timed(1.0)  # 2 s would be 2 requests: kept at the floor of 16 (batching)
    cached = CachedBackend(slower, tmp_path / "t.sqlite")
    cached.loglikelihood(MANY[:120])
    assert [len(c) for c in slower.chunks][:3] == [66, 18, 18]

    capped = Timed(0.0001)  # very fast: grows by at most 4x a step, up to the cap
    cached = CachedBackend(capped, tmp_path / "c.sqlite", loglikelihood_chunk=500)
    cached.loglikelihood(MANY)
    assert [len(c) for c in capped.chunks][:4] == [66, 264, 500, 500]


# ==================================================================================================
# Converted models and results in separately configurable places; an unwritable model cache.
# ==================================================================================================
def test_model_cache_location_precedence(tmp_path, monkeypatch):
    from pytest_misalign.backends.resolve import model_cache_root, models_dir

    monkeypatch.setenv("PYTEST_MISALIGN_CACHE_DIR", str(tmp_path / "root"))
    monkeypatch.delenv("PYTEST_MISALIGN_MODEL_CACHE_DIR", raising=False)
    monkeypatch.delenv("PYTEST_MISALIGN_RESULTS_CACHE", raising=False)
    assert model_cache_root() == tmp_path / "root" and models_dir() == tmp_path / "root" / "models"
    assert model_cache_root(tmp_path / "opt") == tmp_path / "opt"
    monkeypatch.setenv("PYTEST_MISALIGN_MODEL_CACHE_DIR", str(tmp_path / "models-env"))
    assert model_cache_root(tmp_path / "opt") == tmp_path / "models-env"
    assert model_cache_root(tmp_path / "opt", tmp_path / "models-opt") == tmp_path / "models-opt"
    assert cache_path(tmp_path / "opt") == tmp_path / "opt" / "results.sqlite"  # results: unaffected
    monkeypatch.setenv("PYTEST_MISALIGN_RESULTS_CACHE", str(tmp_path / "r-env.sqlite"))
    assert cache_path(tmp_path / "opt") == tmp_path / "r-env.sqlite"
    assert cache_path(tmp_path / "opt", tmp_path / "r.sqlite") == tmp_path / "r.sqlite"


@pytest.fixture(scope="module")
def tiny_gguf(tiny_model_dir, tmp_path_factory):
    from tiny_model import write_tiny_gguf

    return write_tiny_gguf(tiny_model_dir, tmp_path_factory.mktemp("gguf") / "tiny-f32.gguf")


def _unwritable_root(tmp_path):
    """A cache root nobody can create, root included: its parent is a regular file."""
    (tmp_path / "a-file").write_text("")
    return tmp_path / "a-file" / "cache"


def test_unwritable_model_cache_converts_into_a_temporary_dir(tiny_gguf, tmp_path, caplog):
    from pytest_misalign.backends import embedded
    from pytest_misalign.backends.resolve import resolve_model

    root = _unwritable_root(tmp_path)
    with caplog.at_level(logging.WARNING):
        first = resolve_model(ModelConfig(model=str(tiny_gguf), cache_dir=str(root)))
    converted = Path(first.load_path)
    assert (converted / embedded.SOURCE_MARKER).is_file() and (converted / "config.json").is_file()
    assert converted.parent == embedded._process_models_dir() and not str(converted).startswith(str(root))
    [warning] = warnings_about(caplog, "cannot write converted models")
    assert str(root / "models") in warning.getMessage() and str(converted.parent) in warning.getMessage()
    # the same process reuses its temporary conversion
    assert resolve_model(ModelConfig(model=str(tiny_gguf), cache_dir=str(root))).load_path == first.load_path


def test_model_cache_dir_separate_from_an_unusable_cache_root(tiny_gguf, tmp_path, caplog):
    """--misalign-no-cache with an unusable cache root: models go to --misalign-model-cache-dir."""
    from pytest_misalign.backends.resolve import resolve_model

    models = tmp_path / "models-here"
    config = ModelConfig(model=str(tiny_gguf), cache_dir=str(_unwritable_root(tmp_path)),
                         model_cache_dir=str(models))
    with caplog.at_level(logging.WARNING):
        resolved = resolve_model(config)
    assert Path(resolved.load_path).parent == models / "models" and not warnings_about(caplog, "")
