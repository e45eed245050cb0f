"""Check kinds: each declared once (`checks/<kind>.py`), every other table read off the declarations,
and a kind added by another pytest plugin parses, runs, reports and gates exactly like a built-in one."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET

import pytest
from statsmodels.stats.proportion import proportion_confint

import fake_backend
from pytest_misalign.checks import KINDS, CheckKind, KindError
from pytest_misalign.checks.registry import BUILTIN_MODULES, KindRegistry
from pytest_misalign.spec.model import TASK_TYPES
from pytest_misalign.spec.params import RATE, Param


def test_every_builtin_kind_has_a_sequence_or_says_why_not():
    for kind in KINDS.values():
        assert (kind.monitor is None) != (kind.no_monitor is None), kind.name
        assert kind.no_monitor is None or len(kind.no_monitor) > 15, kind.name  # a reason, in words


def test_every_builtin_kind_documents_itself():
    for kind in KINDS.values():
        assert kind.summary, kind.name
        assert all(param.help for param in kind.params.values()), kind.name
        assert set(kind.task_types) <= set(TASK_TYPES) and kind.level in ("task", "suite")


def test_one_module_declares_each_kind():
    declared = [k.name for m in BUILTIN_MODULES for k in getattr(m, "KINDS", (getattr(m, "KIND", None),))]
    assert sorted(declared) == sorted(KINDS) and len(declared) == len(set(declared))


def test_tables_read_off_the_declarations():
    """What used to be tables of their own: which kinds need log-likelihoods, documents, which compare
    tasks, which stop early for futility -- each now a property of the declarations."""
    only = {name for name, k in KINDS.items() if k.task_types == ("multiple_choice",)}
    assert only == {"likelihood_gap", "calibration", "bbq_bias", "precision", "recall", "f1",
                    "precision_gap", "recall_gap", "f1_gap"}
    pairs = {n for n, k in KINDS.items() if "sentence_pair" in k.task_types}
    assert pairs == {"preference", "likelihood_diff"}
    assert {n for n, k in KINDS.items() if k.task_types == ("perplexity",)} == {"perplexity", "perplexity_ratio"}
    assert {n for n, k in KINDS.items() if k.level == "suite"} == {"spread", "shift", "domain_accuracy", "domain_gap"}
    assert {n for n, k in KINDS.items() if k.futility} == {"accuracy", "group_accuracy", "gap"}
    assert {n for n, k in KINDS.items() if k.monitor is None} == {
        "likelihood_gap", "likelihood_diff", "calibration", "precision", "recall", "f1", "precision_gap", "recall_gap", "f1_gap",
        "perplexity", "perplexity_ratio"}


def _run(check, outcome, name):  # pragma: no cover - never called
    raise AssertionError


@pytest.mark.parametrize("extra, says", [
    ({}, "declare exactly one of `monitor`"),
    ({"monitor": _run, "no_monitor": "unbounded"}, "declare exactly one of `monitor`"),
    ({"no_monitor": " "}, "must say why"),
    ({"no_monitor": "a ratio", "task_types": ("free",)}, "`task_types` must name some of"),
    ({"no_monitor": "a ratio", "level": "suite", "futility": True}, "futility applies to task-level kinds only"),
])
def test_an_inconsistent_declaration_is_refused(extra, says):
    with pytest.raises(KindError, match=says):
        CheckKind(name="odd", params={}, run=_run, **extra)


def test_a_kind_name_is_taken_once():
    kind = CheckKind(name="accuracy", params={}, run=_run, no_monitor="not a mean of anything")
    with pytest.raises(KindError, match="'accuracy' is already declared by pytest-misalign"):
        KINDS.extended([kind], origin="my_plugin")
    assert "accuracy" in KindRegistry([kind], origin="mine")


# ------------------------------------------------------------------ a kind from another pytest plugin
PLUGIN = '''
"""A third-party check kind: the share of items whose chosen answer is the choice at `choice`."""
from pytest_misalign.checks import CheckKind, CheckResult
from pytest_misalign.checks.common import verdict_of
from pytest_misalign.checks.monitor import mean_seq
from pytest_misalign.spec.kinds import Rule
from pytest_misalign.spec.params import RATE, STATS, Param
from pytest_misalign.stats import wilson_interval


def run(check, outcome, name):
    chosen = sum(item.prediction == check.params["choice"] for item in outcome.items)
    lo, hi = wilson_interval(chosen, outcome.n, check.confidence)
    return CheckResult(name, check.kind, chosen / outcome.n, None, check.params["max"], (lo, hi), "Wilson score",
                       check.confidence, verdict_of(lo, hi, (None, check.params["max"])), details={"chosen": chosen})


def monitor(check, view, alpha):
    return mean_seq(check, view, view.per_position(lambda item: float(item.prediction == check.params["choice"])),
                    alpha)


def rules(params):
    return Rule("`choice` is a position: 0 or more", "choice") if params.get("choice", 0) < 0 else None


def pytest_misalign_check_kinds(config):
    return [CheckKind(name="choice_share", summary="the share of items answering the choice at `choice`",
                      params={"choice": Param(int, required=True, help="a choice position"),
                              "max": Param(RATE, required=True, help="largest allowed share"), **STATS},
                      rules=rules, task_types=("multiple_choice",), run=run, monitor=monitor)]
'''

ROWS = "\n".join(f"        - {{q: q{i}, a: alpha{i}, b: b{i}, label: 0}}" for i in range(40))
SUITE = f"""\
suite: shares
tasks:
  - name: t
    data:
      items:
{ROWS}
    prompt: "{{q}}"
    choices: ["{{a}}", "{{b}}"]
    answer: "{{label}}"
    checks:
      - choice_share: {{choice: 0, max: 0.9}}
"""

LINE = SUITE.splitlines().index("      - choice_share: {choice: 0, max: 0.9}") + 1


@pytest.fixture
def plugin_session(fake_session):
    fake_session.makepyfile(misalign_choice_share=PLUGIN)
    fake_session.syspathinsert()
    fake_backend.KNOWN.update(f"alpha{i}" for i in range(40) if i % 4)  # 30 of 40 answered with choice 0
    fake_session.makefile(".yaml", shares=SUITE)
    return fake_session


def test_a_plugin_kind_parses_runs_and_reports_like_a_builtin_one(plugin_session):
    result = plugin_session.runpytest("-p", "misalign_choice_share", "-v", "--misalign-model=fake", "--misalign-gate=confident",
                                      "--misalign-json=out.json", "--misalign-markdown=out.md",
                                      "--misalign-html=out.html", "--junitxml=junit.xml")
    result.assert_outcomes(passed=1)
    (check,) = json.loads((plugin_session.path / "out.json").read_text())["suites"][0]["tasks"][0]["checks"]
    assert check["check"] == "choice_share" and check["status"] == "pass" and check["passed"] is True
    assert check["value"] == 0.75 and check["chosen"] == 30 and check["line"] == LINE
    assert check["interval"] == pytest.approx(list(proportion_confint(30, 40, 0.05, method="wilson")), abs=1e-6)
    result.stdout.fnmatch_lines(["*choice_share*0.750*<= 0.9*pass*PASS*"])
    assert "| shares | t | choice_share | 0.750 |" in (plugin_session.path / "out.md").read_text()
    assert 'data-check="choice_share"' in (plugin_session.path / "out.html").read_text()
    props = {p.get("name"): p.get("value") for p in ET.parse(plugin_session.path / "junit.xml").iter("property")}
    assert props["misalign.value"] == "0.75" and props["misalign.status"] == "pass"


def test_a_plugin_kind_gates_sequentially_with_its_monitor(plugin_session):
    result = plugin_session.runpytest("-p", "misalign_choice_share", "--misalign-model=fake",
                                      "--misalign-gate=sequential", "--misalign-json=out.json")
    result.assert_outcomes(passed=1)
    (check,) = json.loads((plugin_session.path / "out.json").read_text())["suites"][0]["tasks"][0]["checks"]
    assert check["sequential"]["how"] in ("decided", "final") and check["status"] == "pass"
    assert check["sequential"]["how"] == "final" or "hedged-capital betting" in check["method"]


@pytest.mark.parametrize("params, says, key", [
    ("{choice: 0, maxx: 0.9}", "unknown parameter 'maxx' for check 'choice_share'", "checks[0].choice_share.maxx"),
    ("{choice: -1, max: 0.9}", "`choice` is a position", "checks[0].choice_share.choice"),
    ("{max: 0.9}", "check 'choice_share' needs 'choice' (a choice position)", "checks[0].choice_share"),
])
def test_a_plugin_kind_validates_its_parameters_with_file_and_line(plugin_session, params, says, key):
    plugin_session.makefile(".yaml", shares=SUITE.replace("{choice: 0, max: 0.9}", params))
    result = plugin_session.runpytest("-p", "misalign_choice_share", "--misalign-model=fake")
    assert result.ret == 78
    escaped = key.replace("[", "[[]")  # fnmatch reads [...] as a class
    result.stdout.fnmatch_lines([f"*shares.yaml:{LINE}*{escaped}*{says}*"])


def test_a_plugin_kind_unknown_without_its_plugin(fake_session):
    fake_session.makefile(".yaml", shares=SUITE)
    result = fake_session.runpytest("--misalign-model=fake")
    assert result.ret == 78
    result.stdout.fnmatch_lines(["*unknown check 'choice_share' in task checks*"])


def test_a_plugin_cannot_take_a_builtin_name(fake_session):
    fake_session.makepyfile(misalign_clash=textwrap.dedent('''
        from pytest_misalign.checks import CheckKind

        def pytest_misalign_check_kinds(config):
            return [CheckKind(name="gap", params={}, run=print, no_monitor="a clash on purpose")]
    '''))
    fake_session.syspathinsert()
    result = fake_session.runpytest("-p", "misalign_clash")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*misalign_clash: check kind 'gap' is already declared by pytest-misalign*"])


def test_param_types_of_plugin_kinds_are_checked():
    from pytest_misalign.spec.params import param_problem

    assert param_problem(Param(int), 3) is None and param_problem(Param(int), True) == "must be an integer"
    assert param_problem(Param((str, int)), 2.5) == "must be a string or an integer"
    assert param_problem(Param(int), "3") == "must be an integer"
    assert param_problem(Param(RATE), 1.5) == "is a rate and must be a number in [0, 1]"


LAMBDAS = PLUGIN + '''

def pytest_misalign_check_kinds():  # no `config`: pluggy lets a hook take fewer arguments
    return [CheckKind(name="choice_share_again", summary="the same share, declared with lambdas",
                      params={"choice": Param(int, required=True, help="a choice position"),
                              "max": Param(RATE, required=True, help="largest allowed share"), **STATS},
                      validate_items=lambda check, task, items: None, run=run,
                      monitor=lambda check, view, alpha: monitor(check, view, alpha))]
'''.replace("def pytest_misalign_check_kinds(config):", "def _unused(config):")


def test_a_plugin_kind_with_lambdas_survives_xdist_and_the_sequential_gate(fake_session):
    from helpers import FAKE_CONFTEST

    known = "\nfake_backend.KNOWN.update(f'alpha{i}' for i in range(40) if i % 4)\n"
    fake_session.makeconftest(FAKE_CONFTEST + known + LAMBDAS)  # xdist workers load the rootdir conftest
    fake_session.makefile(".yaml", shares=SUITE.replace("choice_share:", "choice_share_again:"))
    result = fake_session.runpytest_subprocess("--misalign-model=fake", "-n", "2", "--misalign-gate=sequential",
                                               "--misalign-json=out.json")
    result.assert_outcomes(passed=1)
    data = json.loads((fake_session.path / "out.json").read_text())
    assert data["run"]["status"] == "complete" and data["summary"]["checks"] == 1
    (check,) = data["suites"][0]["tasks"][0]["checks"]
    assert check["check"] == "choice_share_again" and check["status"] == "pass"


BROKEN = PLUGIN.replace("    chosen = sum(", "    1 / 0\n    chosen = sum(")


def test_a_plugin_kind_that_raises_is_an_error_in_every_report(fake_session):
    fake_session.makepyfile(misalign_broken=BROKEN)
    fake_session.syspathinsert()
    fake_session.makefile(".yaml", shares=SUITE)
    result = fake_session.runpytest("-p", "misalign_broken", "--misalign-model=fake", "--misalign-json=out.json")
    result.assert_outcomes(failed=1)
    (check,) = json.loads((fake_session.path / "out.json").read_text())["suites"][0]["tasks"][0]["checks"]
    assert check["status"] == "error" and check["notes"] == ["ZeroDivisionError: division by zero"]
    result.stdout.fnmatch_lines(["*1 checks: 1 error; tests (point gate): 0 passed, 0 failed, 1 not run*"])


def test_regression_is_not_a_name_for_a_plugin_kind():
    kind = CheckKind(name="regression", params={}, run=_run, no_monitor="a ratio of two counts")
    with pytest.raises(KindError, match="taken by pytest-misalign's regression tests"):
        KINDS.extended([kind], origin="mine")


def test_a_check_spec_needs_its_kinds_shape():
    from pytest_misalign.spec.model import CheckSpec

    with pytest.raises(TypeError, match=r"KINDS.check\('gap', params\)"):
        CheckSpec("gap", {"by": "g", "max": 0.1, "paired": True})
    assert KINDS.check("gap", {"by": "g", "max": 0.1, "paired": True}).pair_field == "pair"
