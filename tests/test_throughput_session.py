"""Whole sessions: three suites load the model once; the result cache across sessions; progress."""

from __future__ import annotations

import json

import fake_backend  # tests/ is on sys.path
import pytest
from helpers import CAPITALS_SUITE, TESTS_DIR

from pytest_misalign.session.progress import ListSink, TaskProgress, format_bar, format_duration

# A fake backend WITH a fingerprint (the model name), so that the result cache applies to it.
FINGERPRINTED_CONFTEST = f"""
import sys
sys.path.insert(0, {str(TESTS_DIR)!r})
import fake_backend
from pytest_misalign.backends.base import ModelInfo

fake_backend.KNOWN.update({"Paris", "Tokyo", "Rome", "Nairobi", "Lima", "Santiago"})  # every check passes

class Reporting:  # reports progress one request at a time, like a real backend's batches
    def __init__(self, inner, name):
        self.inner = inner
        self.info = ModelInfo(name=name, device="cpu", dtype="float32", backend="fake", source="fake",
                              fingerprint="fp-" + name)

    def loglikelihood(self, requests, progress=None):
        out = self.inner.loglikelihood(requests)
        for _ in requests if progress is not None else ():
            progress(1)
        return out

    def generate(self, requests, progress=None):
        return self.inner.generate(requests, progress)

    def close(self):
        self.inner.close()

def pytest_misalign_make_backend(model_config, config):
    if model_config.model.startswith("fake"):
        return Reporting(fake_backend.make(model_config), model_config.model)
"""


@pytest.fixture(autouse=True)
def _reset():
    fake_backend.KNOWN.clear()
    fake_backend.KNOWN.update({"Paris", "Tokyo", "Rome", "Nairobi", "Lima", "Santiago"})  # every check passes
    for key in fake_backend.CALLS:
        fake_backend.CALLS[key] = 0
    yield


def three_suites(pytester, same_prompts: bool = False) -> None:
    pytester.makeconftest(FINGERPRINTED_CONFTEST)
    for name in ("one", "two", "three"):
        suite = CAPITALS_SUITE.replace("heldout-capitals", f"caps-{name}")
        if not same_prompts:
            suite = suite.replace("Answer:", f"Answer ({name}):")
        pytester.makefile(".yaml", **{f"suite_{name}": suite})


def test_three_suites_load_the_model_once(pytester):
    three_suites(pytester)
    result = pytester.runpytest("--misalign-model=fake-a", "--misalign-no-cache")
    result.assert_outcomes(passed=9, failed=0)
    assert fake_backend.CALLS["load"] == 1
    assert fake_backend.CALLS["loglikelihood"] == 3  # one call per task, shared by its checks
    assert fake_backend.CALLS["requests"] == 3 * 6 * 3


def test_second_session_makes_no_model_calls(pytester, tmp_path):
    three_suites(pytester)
    cache = tmp_path / "cache"
    first = pytester.runpytest("--misalign-model=fake-a", f"--misalign-cache-dir={cache}", "--misalign-json=a.json")
    first.assert_outcomes(passed=9)
    assert fake_backend.CALLS["requests"] == 3 * 6 * 3 and (cache / "results.sqlite").is_file()
    first.stdout.fnmatch_lines(["*result cache: 0 hits, 54 misses*"])

    fake_backend.CALLS.update(load=0, loglikelihood=0, requests=0)
    second = pytester.runpytest("--misalign-model=fake-a", f"--misalign-cache-dir={cache}", "--misalign-json=b.json")
    second.assert_outcomes(passed=9)
    assert fake_backend.CALLS["loglikelihood"] == 0 and fake_backend.CALLS["requests"] == 0
    second.stdout.fnmatch_lines(["*result cache: 54 hits, 0 misses*"])
    items = [[t["items"] for s in json.loads((pytester.path / name).read_text())["suites"] for t in s["tasks"]]
             for name in ("a.json", "b.json")]
    assert items[0] == items[1] and len(items[0]) == 3

    # another model never gets the first one's answers
    other = pytester.runpytest("--misalign-model=fake-b", f"--misalign-cache-dir={cache}")
    other.assert_outcomes(passed=9)
    assert fake_backend.CALLS["requests"] == 54

    # --misalign-no-cache and the ini key bypass it
    fake_backend.CALLS.update(requests=0)
    pytester.runpytest("--misalign-model=fake-a", f"--misalign-cache-dir={cache}", "--misalign-no-cache")
    assert fake_backend.CALLS["requests"] == 54
    pytester.makeini("[pytest]\nmisalign_no_cache = true\n")
    pytester.runpytest("--misalign-model=fake-a", f"--misalign-cache-dir={cache}")
    assert fake_backend.CALLS["requests"] == 108


def test_identical_requests_in_other_suites_hit_within_a_session(pytester, tmp_path):
    three_suites(pytester, same_prompts=True)
    result = pytester.runpytest("--misalign-model=fake-a", f"--misalign-cache-dir={tmp_path}")
    result.assert_outcomes(passed=9)
    assert fake_backend.CALLS["requests"] == 18
    result.stdout.fnmatch_lines(["*result cache: 36 hits, 18 misses*"])


def test_cache_dir_from_environment(pytester, tmp_path, monkeypatch):
    three_suites(pytester)
    monkeypatch.setenv("PYTEST_MISALIGN_CACHE_DIR", str(tmp_path / "env-cache"))
    pytester.runpytest("--misalign-model=fake-a").assert_outcomes(passed=9)
    assert (tmp_path / "env-cache" / "results.sqlite").is_file()


def test_backend_without_fingerprint_is_not_cached(pytester, tmp_path):
    from helpers import FAKE_CONFTEST

    pytester.makeconftest(FAKE_CONFTEST)
    pytester.makefile(".yaml", caps=CAPITALS_SUITE)
    for _ in range(2):
        result = pytester.runpytest("--misalign-model=fake", f"--misalign-cache-dir={tmp_path}")
        result.assert_outcomes(passed=3)
    assert fake_backend.CALLS["loglikelihood"] == 2
    result.stdout.fnmatch_lines(["*result cache off*no fingerprint*"])
    assert not (tmp_path / "results.sqlite").exists()


def test_progress_summary_lines_when_not_a_tty(pytester, monkeypatch):
    monkeypatch.delenv("PYTEST_MISALIGN_PROGRESS", raising=False)
    three_suites(pytester)
    result = pytester.runpytest("--misalign-model=fake-a", "--misalign-no-cache")
    result.stdout.fnmatch_lines(["[[]misalign[]] caps-one::capitals: 6 items (18 requests) in * s*"])
    assert result.stdout.str().count("[misalign] caps-") == 3
    lines = result.stdout.lines
    shown = [i for i, line in enumerate(lines) if "[misalign] caps-" in line]
    assert all(lines[i].startswith("[misalign] caps-") for i in shown)  # each on a line of its own
    assert all(lines[i + 1].startswith("suite_") for i in shown), lines  # the dots go on after a file name
    assert not any(line.strip(".") == "" and line for line in lines)  # never a line of bare dots
    quiet = pytester.runpytest("--misalign-model=fake-a", "--misalign-no-cache", "-qq")
    assert "[misalign] caps-" not in quiet.stdout.str()
    monkeypatch.setenv("PYTEST_MISALIGN_PROGRESS", "off")
    off = pytester.runpytest("--misalign-model=fake-a", "--misalign-no-cache")
    assert "[misalign] caps-" not in off.stdout.str()


def test_progress_live_mode_restores_the_line(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_MISALIGN_PROGRESS", "live")
    three_suites(pytester)
    # a real process: in-process pytester nests capturing, which the live bar suspends
    result = pytester.runpytest_subprocess("--misalign-model=fake-a", "--misalign-no-cache")
    result.assert_outcomes(passed=9)
    out = result.stdout.str()
    assert "] 6/6 items" in out and "items/s ETA 0:00 caps-two::" in out  # the bar was drawn
    assert "\x1b[K" in out  # and erased
    assert "[misalign] caps-" not in out  # no summary lines on a terminal


def test_task_progress_rate_and_eta():
    now = [100.0]
    sink = ListSink("live")
    progress = TaskProgress("s::t", n_items=100, n_requests=300, sink=sink, clock=lambda: now[0], min_interval=0.0)
    now[0] = 110.0
    progress(60)  # 20 items in 10 s
    assert progress.items_done == 20 and progress.rate() == pytest.approx(2.0)
    assert progress.eta() == pytest.approx(40.0)
    assert sink.bars[-1] == "[##........] 20/100 items 2.0 items/s ETA 0:40 s::t"
    now[0] = 150.0
    progress(240)
    assert progress.items_done == 100 and progress.eta() == 0
    line = progress.close(from_cache=3)
    assert line == "[misalign] s::t: 100 items (300 requests) in 50.0 s, 2.0 items/s, 3 from cache"
    assert progress.summary(from_cache=300) == "[misalign] s::t: 100 items (300 requests) all from the result cache"
    now[0] = 100.05  # too short to time: no rate
    assert TaskProgress("q", 6, 18, clock=lambda: now[0]).summary().endswith("in 0.0 s")
    assert sink.lines == []  # live mode: no summary line
    summary = ListSink("summary")
    p2 = TaskProgress("x", 1, 1, summary, clock=lambda: now[0])
    p2(1)
    p2.close()
    p2.close()
    assert len(summary.lines) == 1 and summary.bars == []


def test_formatting():
    assert format_duration(0) == "0:00" and format_duration(61.4) == "1:01" and format_duration(3725) == "1:02:05"
    assert format_bar("t", 0, 0, None, None, width=4) == "[....] 0/0 items t"
