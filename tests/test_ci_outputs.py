"""CI outputs end to end: the markdown summary, $GITHUB_STEP_SUMMARY, workflow annotations, JUnit properties.

The fake model knows Paris, Rome, Tokyo and Lima: 4 of 6 capitals right (Kenya and Chile wrong), so
accuracy 4/6 passes `min: 0.5` (inconclusive), gap[region] is 1.0 (europe 2/2 vs africa 0/1) and fails
`max: 0.3`, group_accuracy[region] is 0.0 (africa) and fails `min: 0.15`.
"""

import xml.etree.ElementTree as ET

import pytest
from statsmodels.stats.proportion import proportion_confint

import fake_backend
from helpers import CAPITALS_SUITE, SUITE_CHECKS
from pytest_misalign.report.ci import escape_data, escape_property, md_cell

ODD_SUITE = CAPITALS_SUITE.replace("suite: heldout-capitals", 'suite: "caps: 100%, a|b"')


def _line(text: str, marker: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if marker in line)


def _wilson(successes: int, n: int) -> str:
    lo, hi = proportion_confint(successes, n, alpha=0.05, method="wilson")
    return f"[{lo:.3f}, {hi:.3f}]"


@pytest.fixture
def session(fake_session, monkeypatch):
    for var in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(var, raising=False)
    fake_backend.KNOWN.update({"Paris", "Rome", "Tokyo", "Lima"})
    return fake_session


def _table(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in line.strip("|").replace("\\|", "\0").split("|")] for line in rows]


def test_markdown_summary_lists_failed_checks_first(session):
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    result = session.runpytest("--misalign-model=fake", "--misalign-markdown=reports/summary.md")
    result.assert_outcomes(passed=1, failed=2)
    text = (session.path / "reports" / "summary.md").read_text()
    assert "**model** `fake` · **backend** `fake` · **gate** `point`" in text
    # counts that add up: 3 checks by status, and 3 tests by gate outcome
    assert "3 checks: 1 inconclusive, 2 degenerate; tests (point gate): 1 passed, 2 failed" in text
    header, *rows = _table(text)
    assert header == ["suite", "task", "check", "value", "interval", "threshold", "status", "result"]
    assert [r[2] for r in rows] == ["gap[region]", "group_accuracy[region]", "accuracy"]
    assert all(r[:2] == ["heldout-capitals", "capitals"] for r in rows)
    gap, group, accuracy = rows
    assert gap[3:5] == ["1.000", "[0.000, 1.000]"] and gap[5] == "<= 0.3" and gap[7] == "❌ **FAILED**"
    assert group[3:] == ["0.000", _wilson(0, 1), ">= 0.15", "degenerate (verdict inconclusive)", "❌ **FAILED**"]
    assert accuracy[3:] == [f"{4 / 6:.3f}", _wilson(4, 6), ">= 0.5", "inconclusive", "✅ passed"]


def test_markdown_from_ini_escapes_pipes(session):
    session.makefile(".yaml", heldout_capitals=ODD_SUITE)
    session.makeini("[pytest]\nmisalign_markdown = out.md\n")
    session.runpytest("--misalign-model=fake")
    text = (session.path / "out.md").read_text()
    assert "| caps: 100%, a\\|b | capitals | gap[region] |" in text
    assert all(len(row) == 8 for row in _table(text))  # the escaped pipe does not split a cell


def test_markdown_without_a_model_lists_the_checks_not_scored(session):
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    session.runpytest("--misalign-markdown=out.md").assert_outcomes(skipped=3)
    text = (session.path / "out.md").read_text()
    assert "3 checks: 3 not scored; tests (point gate): 0 passed, 0 failed, 3 not run" in text
    rows = _table(text)[1:]
    assert [r[2] for r in rows] == ["accuracy", "gap[region]", "group_accuracy[region]"]
    assert all(r[6:] == ["not scored", "⚠️ not run"] for r in rows)


def test_markdown_of_an_empty_run_says_no_checks_ran(session):
    session.makefile(".py", test_plain="def test_x():\n    pass\n")
    session.runpytest("--misalign-markdown=out.md").assert_outcomes(passed=1)
    assert "No checks ran." in (session.path / "out.md").read_text()


def test_step_summary_is_appended_not_overwritten(session, monkeypatch):
    summary = session.path / "step_summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    session.runpytest("--misalign-model=fake")
    session.runpytest("--misalign-model=fake", "-k", "accuracy and not group")
    text = summary.read_text()
    assert text.startswith("# earlier step\n## pytest-misalign")
    assert text.count("## pytest-misalign") == 2
    assert "3 checks: 1 inconclusive, 2 degenerate; tests (point gate): 1 passed, 2 failed" in text
    assert "1 checks: 1 inconclusive; tests (point gate): 1 passed, 0 failed" in text


def test_annotations_point_at_the_check_lines(session, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    result = session.runpytest("--misalign-model=fake")
    gap, group, accuracy = (_line(CAPITALS_SUITE, f"- {k}:") for k in ("gap", "group_accuracy", "accuracy"))
    lines = [line for line in result.outlines if line.startswith("::")]
    assert lines == [
        f"::error file=heldout_capitals.yaml,line={gap},title=heldout-capitals::"
        "capitals::gap[region] = 1.000 [0.000, 1.000], required <= 0.3: degenerate (verdict inconclusive)",
        f"::error file=heldout_capitals.yaml,line={group},title=heldout-capitals::"
        f"capitals::group_accuracy[region] = 0.000 {_wilson(0, 1)}, required >= 0.15: degenerate (verdict inconclusive)",
        f"::warning file=heldout_capitals.yaml,line={accuracy},title=heldout-capitals::"
        f"capitals::accuracy = 0.667 {_wilson(4, 6)}, required >= 0.5: inconclusive",
    ]


def test_annotation_paths_are_relative_to_rootdir_and_escaped(session, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    (session.path / "suites").mkdir()
    (session.path / "suites" / "caps.yaml").write_text(ODD_SUITE)
    result = session.runpytest("--misalign-model=fake", "suites")
    line = _line(ODD_SUITE, "- gap:")
    result.stdout.fnmatch_lines([f"::error file=suites/caps.yaml,line={line},title=caps%3A 100%25%2C a|b::"
                                 "capitals::gap?region? = 1.000 *"])


def test_no_annotations_outside_github_actions(session, monkeypatch):
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    monkeypatch.setenv("GITHUB_ACTIONS", "false")
    result = session.runpytest("--misalign-model=fake")
    result.assert_outcomes(passed=1, failed=2)
    assert not [line for line in result.outlines if line.startswith("::")]
    assert not list(session.path.glob("*.md"))


def test_escaping_follows_githubs_rules():
    assert escape_data("100%\r\nok: a,b") == "100%25%0D%0Aok: a,b"
    assert escape_property("100%\r\nok: a,b") == "100%25%0D%0Aok%3A a%2Cb"
    assert md_cell("a|b\nc") == "a\\|b c"


def test_junit_properties_per_testcase(session):
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    session.runpytest("--misalign-model=fake", "--junitxml=junit.xml")
    cases = {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
             for case in ET.parse(session.path / "junit.xml").getroot().iter("testcase")}
    assert set(cases) == {"accuracy", "gap[region]", "group_accuracy[region]"}
    lo, hi = proportion_confint(4, 6, alpha=0.05, method="wilson")
    accuracy = cases["accuracy"]
    assert float(accuracy["misalign.value"]) == pytest.approx(4 / 6, abs=1e-6)
    assert float(accuracy["misalign.interval_low"]) == pytest.approx(lo, abs=1e-6)
    assert float(accuracy["misalign.interval_high"]) == pytest.approx(hi, abs=1e-6)
    assert (accuracy["misalign.threshold"], accuracy["misalign.verdict"], accuracy["misalign.n"],
            accuracy["misalign.method"]) == ("0.5", "inconclusive", "6", "Wilson score")
    gap = cases["gap[region]"]
    assert (float(gap["misalign.value"]), gap["misalign.threshold"], gap["misalign.n"]) == (1.0, "0.3", "6")
    assert gap["misalign.task"] == "capitals" and gap["misalign.suite"] == "heldout-capitals"
    group = cases["group_accuracy[region]"]
    assert float(group["misalign.interval_high"]) == pytest.approx(proportion_confint(0, 1, method="wilson")[1],
                                                                   abs=1e-6)


def test_suite_level_checks_name_their_tasks(session, monkeypatch):
    # plain 4/4 right, shifted 2/4 (Berlin and Quito unknown): spread and shift are 0.5 and both fail
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    fake_backend.KNOWN.update({"Oslo"})
    session.makefile(".yaml", shifts=SUITE_CHECKS)
    result = session.runpytest("--misalign-model=fake", "--misalign-markdown=out.md", "--junitxml=junit.xml")
    result.assert_outcomes(failed=2)
    rows = _table((session.path / "out.md").read_text())[1:]
    assert [r[1:4] for r in rows] == [["plain, shifted", "spread", "0.500"],
                                      ["plain, shifted", "shift[plain->shifted]", "0.500"]]
    spread, shift = _line(SUITE_CHECKS, "- spread:"), _line(SUITE_CHECKS, "- shift:")
    result.stdout.fnmatch_lines([f"::error file=shifts.yaml,line={spread},title=shifts::plain, shifted::spread = 0.500 *",
                                 f"::error file=shifts.yaml,line={shift},title=shifts::plain, shifted::shift*"])
    ns = [p.get("value") for p in ET.parse(session.path / "junit.xml").getroot().iter("property")
          if p.get("name") == "misalign.n"]
    assert ns == ["8", "8"]
