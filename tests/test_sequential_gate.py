"""`--misalign-gate=sequential` end to end with the fake model: early stopping, what the report and
the results file say, the cache, --misalign-limit, baselines, suite-level checks, xdist."""

import json

import pytest

import fake_backend

N = 200


def _suite(checks: str, n: int = N, known_every: int = 20, name: str = "big") -> str:
    """One task of n two-choice items; the fake model knows the answer of all but every
    `known_every`-th item (0.95 accuracy for 20); group g alternates a/b, pair p joins 2k and 2k+1,
    the gold choice's position alternates by pair."""
    rows = []
    for i in range(n):
        right = f"r{i}" + ("x" if i % known_every == 0 else "")
        y = (i // 2) % 2
        c = [right, "zz"] if y == 0 else ["zz", right]
        rows.append(f'        - {{q: "q{i}", c0: "{c[0]}", c1: "{c[1]}", y: {y}, g: {"ab"[i % 2]}, p: "p{i // 2}"}}')
    fake_backend.KNOWN.update(f"r{i}" for i in range(n))
    return (f"suite: {name}\ntasks:\n  - name: t\n    data:\n      items:\n" + "\n".join(rows) + "\n"
            f'    prompt: "{{q}}"\n    choices: ["{{c0}}", "{{c1}}"]\n    answer: "{{y}}"\n    checks:\n{checks}')


def _task(path):
    return json.loads(path.read_text())["suites"][0]["tasks"][0]


def _run(session, *args):
    return session.runpytest("--misalign-model=fake", "--misalign-gate=sequential", "--misalign-json=r.json",
                             f"--misalign-results-cache={session.path / 'cache.sqlite'}", "-rA", *args)


def test_a_clear_pass_stops_early_and_says_so(session):
    session.makefile(".yaml", big=_suite("      - accuracy: {min: 0.6}\n      - gap: {by: g, max: 0.3}\n"))
    result = _run(session, "-v")  # -v: the data sources block
    result.assert_outcomes(passed=2)
    task = _task(session.path / "r.json")
    assert task["n"] == N and task["n_scored"] < N / 2, task["n_scored"]
    assert fake_backend.CALLS["requests"] == 2 * task["n_scored"]  # only the scored items reached the model
    assert task["sequential"]["items_saved"] == N - task["n_scored"]
    acc = task["checks"][0]
    assert acc["verdict"] == "pass" and acc["sequential"]["how"] == "decided"
    assert acc["interval_name"] == "confidence sequence" and acc["interval"][0] >= 0.6
    result.stdout.fnmatch_lines([f"*t: {task['n_scored']} of {N} (inline*); sequential gate: decided after "
                                 f"{task['n_scored']} of {N} items",
                                 "*gate: sequential*"])


def test_the_cache_keeps_every_scored_item_for_a_later_full_run(session):
    session.makefile(".yaml", big=_suite("      - accuracy: {min: 0.6}\n"))
    _run(session, "--misalign-model=fake-cached").assert_outcomes(passed=1)
    scored = _task(session.path / "r.json")["n_scored"]
    assert fake_backend.CALLS["requests"] == 2 * scored
    fake_backend.CALLS["requests"] = 0
    full = session.runpytest("--misalign-model=fake-cached", "--misalign-gate=confident", "--misalign-json=f.json",
                             f"--misalign-results-cache={session.path / 'cache.sqlite'}")
    full.assert_outcomes(passed=1)
    assert _task(session.path / "f.json")["n_scored"] == N
    assert fake_backend.CALLS["requests"] == 2 * (N - scored)  # the rest came from the cache


def test_data_running_out_falls_back_to_the_fixed_n_interval_at_the_final_share(session):
    """A 40-item task near its floor: no sequence decides; all items are scored and the verdict is the
    Wilson interval at 1 - 0.8 * 0.05 = 0.96 (the sequence had 0.2 of α), which the report says."""
    session.makefile(".yaml", big=_suite("      - accuracy: {min: 0.8}\n", n=40, known_every=5))
    result = _run(session)
    task = _task(session.path / "r.json")
    acc = task["checks"][0]
    assert task["n_scored"] == 40 and acc["sequential"]["how"] in ("final", "futile")
    if acc["sequential"]["how"] == "final":
        from pytest_misalign.stats import wilson_interval

        assert acc["interval"] == pytest.approx(list(wilson_interval(32, 40, 0.96)), abs=1e-6)
        assert acc["confidence"] == pytest.approx(0.96)
        result.stdout.fnmatch_lines(["*the sequence did not decide it in 40 items: fixed-n interval at 0.96 *"])


def test_an_unmonitored_check_decides_at_a_look_with_its_interval_widened_for_the_looks(session):
    """A check without a sequence no longer keeps its task scoring to the end: at half the task its
    fixed-n interval on the items so far, at 1 - alpha/20, may decide it."""
    checks = "      - accuracy: {min: 0.6}\n      - calibration: {max_ece: 0.5}\n"
    session.makefile(".yaml", big=_suite(checks))
    result = _run(session, "-v")  # a passing check's notes are in the full report
    task = _task(session.path / "r.json")
    assert task["n_scored"] < N and task["sequential"]["scored_in_full_because"] == []
    calib = {c["name"]: c for c in task["checks"]}["calibration"]
    assert calib["sequential"]["how"] == "decided" and calib["verdict"] == "pass"
    assert calib["confidence"] == pytest.approx(1 - 0.05 * 0.05)  # its one look, at half the task
    assert task["n_scored"] == N // 2
    result.stdout.fnmatch_lines([f"*calibration: no sequence (expected calibration error is not a mean*): decided "
                                 f"after {N // 2} of {N} items by its fixed-n interval at 0.9975 (its look at half*"])
    session.runpytest("--misalign-model=fake", "--misalign-gate=confident", "--misalign-json=c.json")
    confident = _task(session.path / "c.json")
    assert [c["verdict"] for c in task["checks"]] == [c["verdict"] for c in confident["checks"]]


def test_limit_caps_the_items_available(session):
    session.makefile(".yaml", big=_suite("      - accuracy: {min: 0.6}\n"))
    _run(session, "--misalign-limit=120").assert_outcomes(passed=1)
    task = _task(session.path / "r.json")
    assert task["n"] == 120 and task["n_scored"] < 120


def test_paired_gap_and_regression_against_a_baseline_decide_sequentially(session):
    session.makefile(".yaml", big=_suite("      - gap: {by: g, max: 0.3, paired: true, pair: p}\n"))
    session.runpytest("--misalign-model=fake", "--misalign-json=base.json", "--misalign-no-cache")
    result = _run(session, "--misalign-baseline=base.json", "--misalign-max-drop=0.2")
    result.assert_outcomes(passed=3)  # gap, regression, regression[g]
    task = _task(session.path / "r.json")
    checks = {c["name"]: c for c in task["checks"]}
    assert set(checks) == {"gap[g]", "regression", "regression[g]"}
    assert checks["regression"]["sequential"]["how"] == "decided"
    assert checks["regression"]["interval"][1] <= 0.2 and task["n_scored"] < N


SUITE = """\
suite: shifts
checks:
  - shift: {from: plain, to: hard, max_drop: 0.2}
tasks:
  - name: plain
    data: {items: [%s]}
    prompt: "{q}"
    choices: ["{r}", "zz"]
    answer: 0
    checks:
      - accuracy: {min: 0.5}
  - name: hard
    data: {items: [%s]}
    prompt: "Q: {q}"
    choices: ["{r}", "zz"]
    answer: 0
    checks:
      - accuracy: {min: 0.2}
"""


def test_a_suite_level_check_resumes_the_tasks_it_reads(session):
    """Each task stops on its own accuracy floor; the shift (a 0.5 drop against max 0.2) needs more
    items from both, scored after the tasks had stopped."""
    plain = ", ".join(f'{{q: "a{i}", r: "ok{i}"}}' for i in range(300))
    hard = ", ".join(f'{{q: "b{i}", r: "{"ok" if i % 2 else "no"}{i}"}}' for i in range(300))
    fake_backend.KNOWN.update(f"ok{i}" for i in range(300))
    session.makefile(".yaml", shifts=SUITE % (plain, hard))
    result = _run(session)
    data = json.loads((session.path / "r.json").read_text())["suites"][0]
    shift = data["checks"][0]
    assert shift["verdict"] == "fail" and "decided by anytime-valid sequences" in shift["notes"][0]
    tasks = {t["task"]: t for t in data["tasks"]}
    assert tasks["plain"]["n_scored"] < 300 and tasks["hard"]["n_scored"] < 300
    result.assert_outcomes(passed=2, failed=1)  # both floors pass; the shift fails


def test_xdist_workers_send_their_runs_back(session):
    from helpers import FAKE_CONFTEST

    session.makefile(".yaml", big=_suite("      - accuracy: {min: 0.6}\n      - gap: {by: g, max: 0.3}\n"))
    session.makeconftest(FAKE_CONFTEST + f"\nfake_backend.KNOWN.update({sorted(fake_backend.KNOWN)!r})\n")
    result = session.runpytest_subprocess("-n", "2", "--misalign-model=fake", "--misalign-gate=sequential",
                                          "--misalign-json=r.json", "--misalign-no-cache")
    result.assert_outcomes(passed=2)
    task = _task(session.path / "r.json")
    assert task["n"] == N and task["n_scored"] < N / 2
    assert task["checks"][0]["sequential"]["how"] == "decided"


def test_strict_mode_fails_a_check_the_sequence_left_inconclusive(session):
    session.makefile(".yaml", big=_suite("      - accuracy: {min: 0.9}\n", n=40, known_every=10))
    result = _run(session, "--misalign-strict")
    result.assert_outcomes(failed=1)


def test_bad_chunk_and_seed_are_usage_errors(session):
    session.makefile(".yaml", big=_suite("      - accuracy: {min: 0.6}\n", n=10))
    result = _run(session, "--misalign-chunk=0")
    result.stderr.fnmatch_lines(["*--misalign-chunk*"])
    result = _run(session, "--misalign-seed=x")
    result.stderr.fnmatch_lines(["*--misalign-seed must be an integer*"])
