"""The persistent result cache: hits and misses, keys that never mix models, interrupted runs."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from pytest_misalign.backends import (
    GenerationRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelConfig,
    ModelInfo,
)
from pytest_misalign.cache import CachedBackend, cache_path


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
