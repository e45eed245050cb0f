"""How sessions end (pytest_misalign/outcomes.py, nodes.py): a broken setup is an ERROR with exit code 6,
a model below its gates is FAILED with exit code 1, strict mode leaves nothing to chance, and every
task is in the results file, scored or not, with why."""

import json
import os
import stat

import pytest

import fake_backend
from helpers import CAPITALS_SUITE, FAKE_CONFTEST
from pytest_misalign.session.outcomes import EXIT_BROKEN_SETUP

OFFLINE_HUB_SUITE = """\
suite: mixed
tasks:
  - name: local
    data: {items: [{q: a, r: Paris}, {q: b, r: Rome}, {q: c, r: Lima}]}
    prompt: "{q}"
    choices: ["{r}", "xx"]
    answer: 0
    checks: [{accuracy: {min: 0.3}}]
  - name: hub
    data:
      hf: {path: oskarvanderwal/bbq, name: Age, split: test, local: bbq/Age.jsonl}
    prompt: "{context}"
    choices: ["{ans0}", "{ans1}", "{ans2}"]
    answer: "{label}"
    checks: [{accuracy: {min: 0.5}}]
"""


def _knows_capitals():
    fake_backend.KNOWN.update({"Paris", "Tokyo", "Rome", "Nairobi", "Lima", "Santiago"})


def test_exit_codes_are_documented_and_distinct():
    assert EXIT_BROKEN_SETUP not in {int(code) for code in pytest.ExitCode}


def test_passing_model_exits_0(fake_session):
    _knows_capitals()
    fake_session.makefile(".yaml", caps=CAPITALS_SUITE)
    result = fake_session.runpytest("--misalign-model=fake")
    result.assert_outcomes(passed=3)
    assert result.ret == 0


def test_model_below_its_gates_is_failed_with_exit_1(fake_session):
    fake_session.makefile(".yaml", caps=CAPITALS_SUITE)  # the fake knows no capital
    result = fake_session.runpytest("--misalign-model=fake", "-k", "accuracy and not group")
    result.assert_outcomes(failed=1)
    assert result.ret == 1


def test_wrong_model_path_is_an_error_with_its_own_exit_code(fake_session, tmp_path):
    fake_session.makefile(".yaml", caps=CAPITALS_SUITE)
    result = fake_session.runpytest(f"--misalign-model={tmp_path / 'no-such-model'}", "--misalign-no-cache")
    result.assert_outcomes(errors=3)
    assert result.ret == EXIT_BROKEN_SETUP
    result.stdout.fnmatch_lines(["*ERROR at setup of capitals::accuracy*", "*misalign: broken setup*",
                                 f"exit code {EXIT_BROKEN_SETUP}: fix the pipeline*"])
    assert "FAILED" not in result.stdout.str()


def test_invalid_suite_is_a_collection_error_with_exit_6(fake_session):
    fake_session.makefile(".yaml", caps=CAPITALS_SUITE.replace("min: 0.5", "min: 5"))
    result = fake_session.runpytest("--misalign-model=fake")
    assert result.ret == EXIT_BROKEN_SETUP
    result.stdout.fnmatch_lines(["*caps.yaml*accuracy.min*rate*"])


def test_missing_model_skips_but_strict_mode_errors(fake_session):
    fake_session.makefile(".yaml", caps=CAPITALS_SUITE)
    lax = fake_session.runpytest("-rs")
    lax.assert_outcomes(skipped=3)
    assert lax.ret == 0
    strict = fake_session.runpytest("--misalign-strict")
    strict.assert_outcomes(errors=3)
    assert strict.ret == EXIT_BROKEN_SETUP
    strict.stdout.fnmatch_lines(["*no model configured*", "*--misalign-strict: a release gate must score a model*"])


def test_strict_mode_from_the_ini_file(fake_session):
    fake_session.makefile(".yaml", caps=CAPITALS_SUITE)
    fake_session.makeini("[pytest]\nmisalign_strict = true\n")
    assert fake_session.runpytest().ret == EXIT_BROKEN_SETUP


def test_skipped_task_is_in_the_results_with_its_reason_and_fails_strict(fake_session, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    fake_session.makeconftest(FAKE_CONFTEST + "\nfake_backend.KNOWN.update({'Paris', 'Rome', 'Lima'})\n")
    fake_session.makefile(".yaml", mixed=OFFLINE_HUB_SUITE)
    # subprocesses: `datasets` registers pyarrow types once per process, and pytester reimports it
    result = fake_session.runpytest_subprocess("--misalign-model=fake", "--misalign-json=out.json")
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == 0
    data = json.loads((fake_session.path / "out.json").read_text())
    (suite,) = data["suites"]
    assert [t["task"] for t in suite["tasks"]] == ["local"]
    (hub,) = suite["unscored"]
    assert hub["task"] == "hub" and hub["status"] == "skipped" and "data unavailable" in hub["reason"]
    summary = data["summary"]
    assert {k: summary[k] for k in ("tasks_scored", "tasks_skipped", "tasks_errored")} == \
        {"tasks_scored": 1, "tasks_skipped": 1, "tasks_errored": 0}
    assert summary["checks"] == 2 and summary["statuses"]["not scored"] == 1 and summary["tests"]["not run"] == 1
    assert [c["status"] for c in hub["checks"]] == ["not scored"]
    assert data["run"]["status"] == "complete" and data["run"]["exit_status"] == 0
    result.stdout.fnmatch_lines(["*tasks not scored (1):*", "*SKIPPED  mixed::hub: task 'hub': data unavailable*"])

    strict = fake_session.runpytest_subprocess("--misalign-model=fake", "--misalign-strict", "--misalign-json=out.json")
    strict.assert_outcomes(passed=1, errors=1)
    assert strict.ret == EXIT_BROKEN_SETUP
    data = json.loads((fake_session.path / "out.json").read_text())
    assert data["run"]["exit_status"] == EXIT_BROKEN_SETUP and data["run"]["broken_setup"]


BACKEND_DIES = FAKE_CONFTEST + """
class Dying(fake_backend.FakeBackend):
    def loglikelihood(self, requests, progress=None):
        if progress is not None:
            progress(2)
        raise ConnectionError("server at http://127.0.0.1:9 went away")

def pytest_misalign_make_backend(model_config, config):
    return Dying(model_config.model)
"""


def test_backend_failure_is_reported_as_the_failure_not_an_interruption(fake_session):
    fake_session.makeconftest(BACKEND_DIES)
    fake_session.makefile(".yaml", caps=CAPITALS_SUITE)
    result = fake_session.runpytest("--misalign-model=fake", "--misalign-no-cache", "--misalign-json=out.json",
                                    "-s")
    result.assert_outcomes(errors=3)
    assert result.ret == EXIT_BROKEN_SETUP
    out = result.stdout.str()
    assert "interrupted" not in out and "items/s" not in out
    result.stdout.fnmatch_lines([
        "*heldout-capitals::capitals: 6 items (18 requests): FAILED after 2 of 18 requests*",
        "*scoring heldout-capitals::capitals failed after 2 of 18 requests: "
        "ConnectionError: server at http://127.0.0.1:9 went away*",
    ])
    data = json.loads((fake_session.path / "out.json").read_text())
    (unscored,) = data["suites"][0]["unscored"]
    assert unscored["status"] == "error" and "went away" in unscored["reason"]


def test_strict_mode_fails_an_inconclusive_verdict(fake_session):
    _knows_capitals()  # 6 of 6 right: a point pass, but 6 items cannot confirm accuracy >= 0.9
    fake_session.makefile(".yaml", caps=CAPITALS_SUITE.replace("min: 0.5}", "min: 0.9}"))
    only = "accuracy and not group"
    assert fake_session.runpytest("--misalign-model=fake", "-k", only).ret == 0
    strict = fake_session.runpytest("--misalign-model=fake", "--misalign-strict", "-k", only)
    strict.assert_outcomes(failed=1)
    assert strict.ret == 1
    strict.stdout.fnmatch_lines(["*--misalign-strict: an inconclusive verdict fails a release gate*"])


def test_suite_markers_are_registered(fake_session):
    fake_session.makefile(".yaml", caps=CAPITALS_SUITE.replace("tasks:\n", "markers: [release, slow_gate]\ntasks:\n", 1))
    result = fake_session.runpytest("--misalign-model=fake", "--strict-markers", "-m", "release",
                                    "-W", "error::pytest.PytestUnknownMarkWarning", "--collect-only", "-q")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["3 tests collected*"])


def test_results_file_is_marked_incomplete_while_the_run_is_going(fake_session):
    fake_session.makeconftest(FAKE_CONFTEST + """
import json

def pytest_misalign_make_backend(model_config, config):
    with open("out.json") as f:
        seen = json.load(f)["run"]["status"]
    with open("seen.txt", "w") as f:
        f.write(seen)
    return fake_backend.make(model_config)
""")
    fake_session.makefile(".yaml", caps=CAPITALS_SUITE)
    (fake_session.path / "out.json").write_text(json.dumps({"run": {"status": "complete"}, "suites": []}))
    fake_session.runpytest("--misalign-model=fake", "--misalign-json=out.json")
    assert (fake_session.path / "seen.txt").read_text() == "incomplete"
    assert json.loads((fake_session.path / "out.json").read_text())["run"]["status"] == "complete"


def test_results_file_follows_the_umask_and_keeps_an_existing_mode(fake_session):
    fake_session.makefile(".yaml", caps=CAPITALS_SUITE)
    old = os.umask(0o027)
    try:
        fake_session.runpytest("--misalign-model=fake", "--misalign-json=new.json")
        assert stat.S_IMODE((fake_session.path / "new.json").stat().st_mode) == 0o640
        kept = fake_session.path / "kept.json"
        kept.write_text("{}")
        kept.chmod(0o644)
        fake_session.runpytest("--misalign-model=fake", "--misalign-json=kept.json")
        assert stat.S_IMODE(kept.stat().st_mode) == 0o644
    finally:
        os.umask(old)


XDIST_SUITES = {
    "caps": CAPITALS_SUITE,
    "shifts": None,  # filled from helpers.SUITE_CHECKS
}

COUNTING_CONFTEST = FAKE_CONFTEST + """
import os

fake_backend.KNOWN.update({"Paris", "Tokyo", "Rome", "Nairobi", "Lima", "Santiago", "Oslo"})

class Counting(fake_backend.FakeBackend):
    def loglikelihood(self, requests, progress=None):
        with open("scored.log", "a") as f:  # one line per request, whichever process scores it
            f.write("".join(f"{os.getpid()} {r.context!r}\\n" for r in requests))
        return super().loglikelihood(requests, progress)

def pytest_misalign_make_backend(model_config, config):
    return Counting(model_config.model)
"""


def test_xdist_scores_each_task_once_and_the_controller_writes_one_complete_file(fake_session):
    from helpers import SUITE_CHECKS

    fake_session.makeconftest(COUNTING_CONFTEST)
    fake_session.makefile(".yaml", caps=CAPITALS_SUITE, shifts=SUITE_CHECKS)
    serial = fake_session.runpytest_subprocess("--misalign-model=fake", "--misalign-no-cache",
                                               "--misalign-json=serial.json")
    serial_requests = (fake_session.path / "scored.log").read_text().splitlines()
    (fake_session.path / "scored.log").unlink()
    result = fake_session.runpytest_subprocess("-n", "2", "--misalign-model=fake", "--misalign-no-cache",
                                               "--misalign-json=out.json")
    assert result.ret == serial.ret
    scored = (fake_session.path / "scored.log").read_text().splitlines()
    assert len(scored) == len(serial_requests)  # no task (nor a suite check's tasks) scored twice
    assert len({line.split()[0] for line in scored}) == 2  # both workers worked
    result.stdout.fnmatch_lines(["*misalign report*", "*suite heldout-capitals*", "*suite shifts*"])
    par, ser = (json.loads((fake_session.path / f).read_text()) for f in ("out.json", "serial.json"))
    assert par["run"]["status"] == "complete" and par["model"]["name"] == "fake"
    strip = lambda d: [(s["suite"], [(t["task"], t["accuracy"], [c["value"] for c in t["checks"]]) for t in s["tasks"]],
                        [c["value"] for c in s["checks"]]) for s in sorted(d["suites"], key=lambda s: s["suite"])]
    assert strip(par) == strip(ser)
