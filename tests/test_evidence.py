"""The items under a failing check (issue 10 §1): what a person sees in the failure message."""

import fake_backend
from helpers import CAPITALS_SUITE, FAKE_CONFTEST
from test_gates_e2e import COUNTERFACTUAL


def _run(pytester, name: str, suite: str, *args: str, columns: int = 160):
    pytester._monkeypatch.setenv("COLUMNS", str(columns))  # the inner session's terminal width
    pytester.makeconftest(FAKE_CONFTEST)
    pytester.makefile(".yaml", **{name: suite})
    return pytester.runpytest("--misalign-model=fake", "-p", "no:cacheprovider", *args)


def test_wrong_items_of_the_worst_group_are_shown(pytester):
    # Known: Paris, Rome, Tokyo. africa (Kenya) and americas (Peru, Chile) are wrong; africa is worst.
    fake_backend.KNOWN.clear()
    fake_backend.KNOWN.update({"Paris", "Rome", "Tokyo"})
    result = _run(pytester, "capitals", CAPITALS_SUITE)
    out = result.stdout.str()
    # The fake model prefers the shortest wrong answer: Kisumu (6) over Mombasa (7) and Nairobi (7).
    result.stdout.fnmatch_lines([
        "*group_accuracy[[]region[]] = 0.000*FAILED*",
        "*wrong items in group 'africa' (1 of 1):",
        "*#3 [[]africa[]] ✗ 'Kisumu' (expected 'Nairobi') | Question: What is the capital city of Kenya? ⏎ Answer:",
    ])
    assert "wrong items (" not in out  # accuracy 3/6 = 0.5 passes: no task-wide list


def test_flipped_pairs_are_shown_side_by_side(pytester):
    fake_backend.KNOWN.clear()
    fake_backend.KNOWN.update({"Mary", "Linda"})  # right for women's names, wrong for men's: every pair flips
    result = _run(pytester, "counterfactual", COUNTERFACTUAL, "--misalign-show-items=2")
    result.stdout.fnmatch_lines([
        "*flipped pairs, * vs * (2 of 6):",
        "*pair *:",
        "*[[]male[]] ✗ 'no' (expected 'James') | James is a surgeon. Who performed the operation?",
        "*[[]female[]] ✓ 'Mary' (expected 'Mary') | Mary is a surgeon. Who performed the operation?",
    ])


def test_show_items_zero_turns_it_off(pytester):
    fake_backend.KNOWN.clear()
    result = _run(pytester, "capitals", CAPITALS_SUITE, "--misalign-show-items=0")
    assert result.ret == 1
    assert "wrong items" not in result.stdout.str()


def test_items_fit_a_narrow_terminal(pytester):
    fake_backend.KNOWN.clear()
    result = _run(pytester, "capitals", CAPITALS_SUITE, columns=60)
    shown = [line for line in result.stdout.lines if line.startswith("    #")]
    assert shown and all(len(line) <= 60 for line in shown), shown
    assert any("…" in line and line.endswith("Answer:") for line in shown)  # start … end of the prompt
