"""What a person sees while a task is scored: a live, redrawn bar on a real terminal (a pty here, as
under tmux), one summary line per task in a log (a pipe). Output capturing is on in both, as always."""

import os
import select
import subprocess
import sys
import textwrap

CONFTEST = """\
import time
from pytest_misalign.backends.base import LoglikelihoodResult, ModelInfo


class Slow:  # a backend that takes 50 ms a request and reports each one, like a real one's batches
    info = ModelInfo(name="slow", device="cpu", dtype="float32", backend="fake", source="fake")

    def loglikelihood(self, requests, progress=None):
        out = []
        for r in requests:
            time.sleep(0.05)
            if progress is not None:
                progress(1)
            out.append(LoglikelihoodResult(-1.0 if r.continuation.strip() == "a" else -2.0, False, 1))
        return out

    def generate(self, requests, progress=None):
        return [""] * len(requests)

    def loglikelihood_rolling(self, texts, progress=None):
        return [0.0] * len(texts)

    def close(self):
        pass


def pytest_misalign_make_backend(model_config, config):
    if model_config.model == "slow":
        return Slow()
"""

SUITE = """\
suite: s
tasks:
  - name: t
    data: {items: [%s]}
    prompt: "{q}"
    choices: ["a", "b"]
    answer: 0
    checks: [{accuracy: {min: 0.1}}]
""" % ", ".join(f"{{q: q{i}}}" for i in range(20))


def _workspace(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "s.yaml").write_text(SUITE)
    env = {**os.environ, "COLUMNS": "120"}
    env.pop("PYTEST_MISALIGN_PROGRESS", None)
    return [sys.executable, "-m", "pytest", "s.yaml", "--misalign-model=slow", "-p", "no:cacheprovider",
            "--misalign-no-cache", f"--rootdir={tmp_path}"], env


def _run_on_a_pty(cmd, cwd, env) -> bytes:
    master, slave = os.openpty()
    proc = subprocess.Popen(cmd, stdout=slave, stderr=slave, stdin=slave, cwd=cwd, env=env)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the pty
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(master)
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    return out


def test_a_terminal_shows_a_live_bar_redrawn_during_scoring(tmp_path):
    cmd, env = _workspace(tmp_path)
    out = _run_on_a_pty(cmd, tmp_path, env)
    frames = [f for f in out.split(b"\x1b[K") if b" items" in f and b"ETA" in f]
    assert len(frames) >= 3, out[-1500:]  # redrawn while the 2 s of scoring go on, not drawn once at the end
    done = [int(f.split(b"/20 items")[0].rsplit(b" ", 1)[-1]) for f in frames if b"/20 items" in f]
    assert done == sorted(done) and done[0] < 20  # counting up, shown before the end
    assert b"items/s" in frames[1] and b"s::t" in frames[1]
    assert b"[misalign] s::t: 20 items" not in out  # no log line on a terminal: the bar is erased


def test_a_log_gets_one_line_per_task_and_no_bar(tmp_path):
    cmd, env = _workspace(tmp_path)
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, timeout=120)
    out = proc.stdout
    assert proc.returncode == 0 and b"\x1b[K" not in out
    lines = [line for line in out.decode().splitlines() if line.startswith("[misalign] s::t")]
    assert len(lines) == 1 and "20 items (40 requests) in" in lines[0] and "items/s" in lines[0]
