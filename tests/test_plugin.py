"""Whole pytest sessions driven by pytester: collection, node ids, outcomes, exit codes, report, JSON."""

import json

import pytest
from statsmodels.stats.proportion import proportion_confint

import fake_backend
from helpers import CAPITALS_SUITE, FAKE_CONFTEST


def test_one_test_per_check_with_readable_ids(session):
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    result = session.runpytest("--collect-only", "-q")
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "heldout_capitals.yaml::capitals::accuracy",
        "heldout_capitals.yaml::capitals::gap[[]region[]]",
        "heldout_capitals.yaml::capitals::group_accuracy[[]region[]]",
        "3 tests collected*",
    ])


def test_outcomes_exit_code_and_failure_message(session):
    # The fake model knows Paris, Rome, Tokyo, Lima: europe 2/2, asia 1/1, americas 1/2, africa 0/1.
    fake_backend.KNOWN.update({"Paris", "Rome", "Tokyo", "Lima"})
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    result = session.runpytest("--misalign-model=fake", "-rA")
    assert result.ret == 1
    result.assert_outcomes(passed=1, failed=2)
    # accuracy 4/6 passes; gap 1.0 (europe 1.0 vs africa 0.0) > 0.3 fails; worst group 0.0 < 0.15 fails.
    result.stdout.fnmatch_lines([
        "*gap[[]region[]] = 1.000 [[]0.000, 1.000[]], required <= 0.3: FAILED (verdict inconclusive, gate point)",
        "*interval: 95% Newcombe hybrid score, Bonferroni-level over 6 group pairs (each at 0.9917)",
        "*africa 0.000 (n=1) vs europe 1.000 (n=2)",
        "*inconclusive: about * items per group would decide it",
        "*note: groups below min_n=10 items, too small to trust: africa (1), americas (2), asia (1), europe (2)",
        "*group_accuracy[[]region[]] = 0.000 [[]0.000, 0.793[]], required >= 0.15: FAILED*",
    ])
    assert "Traceback" not in result.stdout.str()
    assert "plugin.py" not in result.stdout.str()


def test_report_tables(session):
    fake_backend.KNOWN.update({"Paris", "Rome", "Tokyo", "Lima"})
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    result = session.runpytest("--misalign-model=fake", "-v")  # the full report
    result.stdout.fnmatch_lines([
        "*misalign report*",
        "suite heldout-capitals*",
        "task*n*accuracy [[]95% Wilson[]]*check*value*interval*threshold*status*test",
        # 4/6: Wilson 95% interval [0.300, 0.903] (statsmodels proportion_confint(4, 6, method='wilson'))
        "capitals*6*0.667 [[]0.300, 0.903[]]*accuracy*0.667*[[]0.300, 0.903[]]*>= 0.5*inconclusive*PASS",
        "*gap[[]region[]]*1.000*<= 0.3*inconclusive*FAIL",
        "items:",
        "  capitals: 6 of 6 (inline items)",
        "capitals by region:",
        "group*n*accuracy*95% Wilson",
        "africa*1*0.000*[[]0.000, 0.793[]]",
        "americas*2*0.500*[[]0.095, 0.905[]]",
    ])


def test_json_results_file(session):
    fake_backend.KNOWN.update({"Paris", "Rome", "Tokyo", "Lima"})
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    session.runpytest("--misalign-model=fake", "--misalign-json=out/results.json")
    data = json.loads((session.path / "out" / "results.json").read_text())
    assert data["model"]["name"] == "fake"
    assert data["model"]["device"] == "cpu" and data["model"]["dtype"] == "float32"
    (suite,) = data["suites"]
    assert suite["suite"] == "heldout-capitals"
    assert suite["path"].endswith("heldout_capitals.yaml")
    (task,) = suite["tasks"]
    assert task["task"] == "capitals" and task["n"] == 6
    assert task["accuracy"] == pytest.approx(4 / 6, abs=1e-6)
    europe = task["groups"]["region"]["europe"]
    assert {k: europe[k] for k in ("n", "correct", "accuracy")} == {"n": 2, "correct": 2, "accuracy": 1.0}
    # the group's and the task's 95% Wilson intervals, against statsmodels
    assert europe["interval"] == pytest.approx(list(proportion_confint(2, 2, 0.05, method="wilson")), abs=1e-6)
    assert task["accuracy_interval"] == pytest.approx(list(proportion_confint(4, 6, 0.05, method="wilson")), abs=1e-6)
    assert task["groups"]["region"]["americas"]["accuracy"] == 0.5
    gap = next(c for c in task["checks"] if c["check"] == "gap")
    assert gap == {**gap, "by": "region", "value": 1.0, "threshold": 0.3, "verdict": "inconclusive",
                   "point_verdict": "fail", "passed": False, "gate": "point"}
    assert gap["method"].startswith("Newcombe hybrid score")
    first = task["items"][0]
    assert first["index"] == 0 and first["answer"] == 0 and first["prediction"] == 0 and first["correct"]
    # Fake log-likelihoods: known -0.5; unknown -2 - len(" " + choice)/100.
    assert first["scores"] == pytest.approx([-0.5, -2.05, -2.10])
    assert [i["index"] for i in task["items"]] == list(range(6))
    assert not list((session.path / "out").glob(".*tmp")), "temp file left behind"


def test_model_loaded_once_and_tasks_scored_once(session):
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    session.makefile(".yaml", second=CAPITALS_SUITE.replace("heldout-capitals", "second-suite"))
    result = session.runpytest("--misalign-model=fake")
    result.assert_outcomes(failed=6)
    assert fake_backend.CALLS["load"] == 1
    assert fake_backend.CALLS["loglikelihood"] == 2  # one call per task, shared by its three checks
    assert fake_backend.CALLS["requests"] == 2 * 6 * 3


def test_deselected_tasks_are_never_scored_and_model_is_lazy(session):
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    result = session.runpytest("--misalign-model=fake", "-k", "not capitals")
    assert result.ret == 5  # nothing selected
    assert fake_backend.CALLS["load"] == 0
    result = session.runpytest("--misalign-model=fake", "-k", "accuracy and not group")
    result.assert_outcomes(failed=1)
    assert fake_backend.CALLS["load"] == 1 and fake_backend.CALLS["loglikelihood"] == 1


def test_no_model_configured_skips_with_message(session):
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    result = session.runpytest("-rs")
    assert result.ret == 0
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["*no model configured: pass --misalign-model=*"])
    assert fake_backend.CALLS["load"] == 0


def test_ini_options(session):
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    fake_backend.KNOWN.update({"Paris", "Rome", "Tokyo", "Lima", "Nairobi", "Santiago"})
    session.makeini("[pytest]\nmisalign_model = fake-from-ini\nmisalign_json = ini.json\n")
    result = session.runpytest()
    result.assert_outcomes(passed=3)
    data = json.loads((session.path / "ini.json").read_text())
    assert data["model"]["name"] == "fake-from-ini"


def test_marker_and_last_failed(session):
    fake_backend.KNOWN.update({"Paris", "Rome", "Tokyo", "Lima"})
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    session.runpytest("--misalign-model=fake", "-p", "cacheprovider")
    result = session.runpytest("--misalign-model=fake", "-p", "cacheprovider", "--lf")
    result.assert_outcomes(failed=2)
    result = session.runpytest("--misalign-model=fake", "-m", "misalign", "-x")
    result.assert_outcomes(passed=1, failed=1)


def test_misalign_limit_caps_items_with_seeded_subsample(session):
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    session.runpytest("--misalign-model=fake", "--misalign-limit=3", "--misalign-json=a.json", "-k", "accuracy")
    session.runpytest("--misalign-model=fake", "--misalign-limit=3", "--misalign-json=b.json", "-k", "accuracy")
    a = json.loads((session.path / "a.json").read_text())["suites"][0]["tasks"][0]
    b = json.loads((session.path / "b.json").read_text())["suites"][0]["tasks"][0]
    indices = [i["index"] for i in a["items"]]
    assert a["n"] == 3 and indices == sorted(indices) and len(set(indices)) == 3
    assert indices == [i["index"] for i in b["items"]]  # deterministic


def test_model_load_failure_is_a_setup_error_once_per_test_without_traceback(session):
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    session.makeconftest(FAKE_CONFTEST + """
def pytest_misalign_make_backend(model_config, config):
    raise RuntimeError("weights not found at /nowhere")
""")
    result = session.runpytest("--misalign-model=broken")
    result.assert_outcomes(errors=3)  # ERROR (fix the pipeline), not FAILED (the model regressed)
    assert result.ret == 78
    result.stdout.fnmatch_lines(["*cannot load model 'broken': weights not found at /nowhere*"])
    assert "Traceback" not in result.stdout.str()


def test_fixture_exposes_the_same_loaded_model(session):
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    session.makepyfile(test_custom="""
from pytest_misalign.backends.base import LoglikelihoodRequest

def test_mine(misalign_model):
    (r,) = misalign_model.loglikelihood([LoglikelihoodRequest("Q:", " Paris")])
    assert r.logprob < 0
    assert misalign_model.info.name == "fake"
""")
    result = session.runpytest("--misalign-model=fake")
    result.assert_outcomes(passed=1, failed=3)  # the suite's checks fail: the fake knows no capital
    assert fake_backend.CALLS["load"] == 1


def test_other_yaml_files_are_ignored(session):
    session.makefile(".yaml", ci="jobs:\n  test:\n    runs-on: ubuntu\n")
    session.makefile(".yml", broken_ci="key: [unclosed\n")
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    result = session.runpytest("--collect-only", "-q")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["3 tests collected*"])


def test_free_form_generation_task(session):
    fake_backend.GENERATIONS.update({"2+2=": " 4", "3+3=": "six", "10*10=": "It is 100."})
    session.makefile(".yaml", arith="""\
suite: arith
tasks:
  - name: sums
    data:
      items:
        - {q: "2+2=", a: 4}
        - {q: "3+3=", a: 6}
        - {q: "10*10=", a: 100}
    prompt: "{q}"
    answer: "{a}"
    generate: {max_tokens: 8, stop: ["\\n"]}
    match: number
    checks:
      - accuracy: {min: 0.6}
""")
    result = session.runpytest("--misalign-model=fake", "--misalign-json=r.json")
    result.assert_outcomes(passed=1)
    task = json.loads((session.path / "r.json").read_text())["suites"][0]["tasks"][0]
    assert [i["correct"] for i in task["items"]] == [True, False, True]
    assert task["items"][2]["output"] == "It is 100."


@pytest.mark.parametrize("arg,option", [("dtype=bfloat16", "--misalign-dtype=bfloat16"),
                                        ("device=cuda", "--misalign-device=cuda")])
def test_a_plugin_setting_given_as_an_engine_argument_is_one_usage_error(pytester, arg, option):
    pytester.makefile(".yaml", capitals=CAPITALS_SUITE)
    result = pytester.runpytest("--misalign-model=fake", f"--misalign-model-args={arg}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--misalign-model-args: * is set with {option.split('=')[0]}*(e.g. {option})*"])
