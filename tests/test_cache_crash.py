"""kill -9 in the middle of a task: a rerun scores only what was not committed, and the work lost is
about one chunk (~2 s of scoring), not the whole task.

The child process wraps a slow deterministic backend (10 ms a request) in `CachedBackend` and
scores one task-sized request list (300 items x 3 choices = 900 requests: under the old
1,024-request commit, a kill kept nothing). The backend appends every request it finishes to a
log file (flushed), so the test knows, independently of the cache, how much scoring was done
before the kill.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from pytest_misalign.backends import LoglikelihoodRequest, LoglikelihoodResult, ModelInfo
from pytest_misalign.backends.cache import COMMIT_SECONDS, CachedBackend

DELAY = 0.01  # seconds per request in the child
N_ITEMS, N_CHOICES = 300, 3
INFO = dict(name="slow", device="cpu", dtype="float32", backend="slow", source="mem",
            fingerprint="slow-model-1", tokenizer_fingerprint="tok", max_length=64)

CHILD = textwrap.dedent("""
    import sys, time
    from pytest_misalign.backends import LoglikelihoodRequest, LoglikelihoodResult, ModelInfo
    from pytest_misalign.backends.cache import CachedBackend

    db, log_path, delay, n_items, n_choices, info = sys.argv[1], sys.argv[2], float(sys.argv[3]), \\
        int(sys.argv[4]), int(sys.argv[5]), eval(sys.argv[6])

    class Slow:
        info = ModelInfo(**info)
        def loglikelihood(self, requests, progress=None):
            out = []
            with open(log_path, "a") as log:
                for r in requests:
                    time.sleep(delay)
                    out.append(LoglikelihoodResult(-len(r.continuation) - len(r.context) / 100, False, 1))
                    log.write(repr((r.context, r.continuation)) + "\\n")
                    log.flush()
            return out
        def generate(self, requests, progress=None):
            raise NotImplementedError
        def close(self):
            pass

    requests = [LoglikelihoodRequest(f"Item {i}: pick one\\nAnswer:", f" choice {c}")
                for i in range(n_items) for c in range(n_choices)]
    CachedBackend(Slow(), db).loglikelihood(requests)
    print("finished")
""")


def task_requests():
    return [LoglikelihoodRequest(f"Item {i}: pick one\nAnswer:", f" choice {c}")
            for i in range(N_ITEMS) for c in range(N_CHOICES)]


def reference(r: LoglikelihoodRequest) -> LoglikelihoodResult:
    return LoglikelihoodResult(-len(r.continuation) - len(r.context) / 100, False, 1)


class Recording:
    info = ModelInfo(**INFO)

    def __init__(self):
        self.requests = []

    def loglikelihood(self, requests, progress=None):
        self.requests += list(requests)
        return [reference(r) for r in requests]

    def generate(self, requests, progress=None):
        raise NotImplementedError

    def close(self):
        pass


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs kill -9")
def test_kill_9_mid_task_loses_at_most_a_chunk(tmp_path):
    db, log_path = tmp_path / "results.sqlite", tmp_path / "scored.log"
    log_path.write_text("")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(log_path), str(DELAY),
                              str(N_ITEMS), str(N_CHOICES), repr(INFO)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while len(log_path.read_text().splitlines()) < 450:  # about half the task; a hang: the test timeout
            assert child.poll() is None, child.communicate()
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    scored = log_path.read_text().splitlines()
    with sqlite3.connect(db) as conn:
        committed = conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    total = N_ITEMS * N_CHOICES
    assert 0 < committed < total <= 900  # the old 1,024-request commit kept nothing here
    lost = len(scored) - committed
    print(f"scored {len(scored)} before kill -9, committed {committed}, lost {lost} ({lost * DELAY:.2f} s)")
    assert lost >= 0
    assert lost * DELAY <= COMMIT_SECONDS + 1.0, f"{lost} requests ({lost * DELAY:.1f} s of scoring) lost"

    # rerun: only what was not committed reaches the model, and every answer is right
    backend = Recording()
    resumed = CachedBackend(backend, db)
    requests = task_requests()
    assert resumed.loglikelihood(requests) == [reference(r) for r in requests]
    assert len(backend.requests) == total - committed == resumed.misses
    assert resumed.hits == committed and resumed.bad_rows == 0
    assert f"{committed} hits, {total - committed} misses" in resumed.status()
    # what was committed is a prefix of what the child scored (chunks commit in scoring order)
    rescored = {(r.context, r.continuation) for r in backend.requests}
    done = [eval(line) for line in scored]  # noqa: S307 - our own repr() of two strings
    assert not rescored & set(done[:committed])
    assert set(done[committed:]) <= rescored
