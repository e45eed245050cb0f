"""`pytest-misalign compare OLD.json NEW.json`: two real results files from pytester sessions with the
fake backend (changing `fake_backend.KNOWN` between runs flips items), checked against values computed
here by hand (accuracies, deltas, exact McNemar p from the binomial distribution)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import fake_backend
from helpers import CAPITALS_SUITE, FAKE_CONFTEST
from pytest_misalign import stats
from pytest_misalign.__main__ import main

# The new suite: Chile's choices changed (its item key changes: reported, never compared), a 7th item
# (only in the new run) and a second task (only in the new run).
NEW_SUITE = CAPITALS_SUITE.replace("c: Arica", "c: Iquique").replace(
    "    prompt:", "        - {country: Egypt, a: Cairo, b: Giza, c: Luxor, label: 0, region: africa}\n    prompt:"
) + """\
  - name: rivers
    data:
      items:
        - {q: "Longest river in Egypt?", a: Nile, b: Congo, label: 0}
    prompt: "{q}"
    choices: ["{a}", "{b}"]
    answer: "{label}"
    checks:
      - accuracy: {min: 0.5}
"""
OLD_KNOWN = {"Paris", "Rome", "Tokyo", "Lima"}  # right: 0, 1, 2, 4 (4/6)
NEW_KNOWN = {"Paris", "Nairobi", "Cairo", "Nile", "Milan", "Cusco"}  # right: 0, 3, 6 (3/7)
# An unknown choice scores -2 - len/100, so the shortest wins (Osaka/Tokyo/Kyoto tie: the first, Osaka).
# Shared items: 0-4 (5 changed key, 6 only new). Old right 0,1,2,4; new right 0,3.
# both right {0}, wrong->right {3}, right->wrong {1, 2, 4}, both wrong {}.
_RUNS: dict[str, dict] = {}


def _mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar: 2 * P[Binomial(b + c, 1/2) <= min(b, c)], capped at 1."""
    n = b + c
    return min(1.0, 2 * sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2 ** n) if n else 1.0


def _run(pytester, suite: str, known: set[str], name: str) -> dict:
    fake_backend.KNOWN.clear()
    fake_backend.KNOWN.update(known)
    pytester.makefile(".yaml", heldout_capitals=suite)
    pytester.runpytest("--misalign-model=fake", f"--misalign-json={name}.json", "-p", "no:cacheprovider")
    return json.loads((pytester.path / f"{name}.json").read_text())


@pytest.fixture
def runs(pytester, tmp_path):
    """Paths of old.json / new.json (the two sessions run once per module; their JSON is reused)."""
    if not _RUNS:
        pytester.makeconftest(FAKE_CONFTEST)
        _RUNS["old"] = _run(pytester, CAPITALS_SUITE, OLD_KNOWN, "old")
        _RUNS["new"] = _run(pytester, NEW_SUITE, NEW_KNOWN, "new")
        fake_backend.KNOWN.clear()
    paths = {}
    for name, data in _RUNS.items():
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(data))
    return paths


def _without_labels(path: Path) -> Path:
    """The file as written before items carried their group fields (no item['fields'])."""
    data = json.loads(path.read_text())
    for suite in data["suites"]:
        for task in suite["tasks"]:
            for item in task["items"]:
                item.pop("fields", None)
    out = path.with_name("unlabelled-" + path.name)
    out.write_text(json.dumps(data))
    return out


def _compare(capsys, *args, rule: str = "point") -> tuple[int, str, str]:
    """`compare` with `--rule point` unless another rule is given: these runs have 5 shared items,
    too few for the default (confident) rule to confirm any drop -- test_the_default_rule_... below."""
    code = main(["compare", *map(str, args), "--rule", rule])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_task_deltas_flips_and_unmatched(runs, capsys):
    code, out, _ = _compare(capsys, runs["old"], runs["new"], "--json")
    result = json.loads(out)
    assert code == 1 and result["exit_code"] == 1
    (task,) = result["tasks"]
    assert (task["suite"], task["task"], task["n"]) == ("heldout-capitals", "capitals", 5)
    assert task["old_accuracy"] == pytest.approx(4 / 5) and task["new_accuracy"] == pytest.approx(2 / 5)
    assert task["delta"] == pytest.approx(-2 / 5)
    assert (task["both_right"], task["fixed"], task["broken"], task["both_wrong"]) == (1, 1, 3, 0)
    assert task["mcnemar_p"] == pytest.approx(_mcnemar_exact(1, 3)) == pytest.approx(0.625)
    assert task["interval"] == pytest.approx(list(stats.paired_difference_interval(1, 3, 5, a=1)))
    assert task["interval"][0] < -0.4 < task["interval"][1]
    assert [f["index"] for f in task["right_to_wrong"]] == [1, 2, 4]
    assert task["right_to_wrong"][0] == {"index": 1, "answer": 1, "old_prediction": 1, "new_prediction": 0,
                                       "target": "Tokyo", "old_predicted": "Tokyo", "new_predicted": "Osaka",
                                       "prompt": "Question: What is the capital city of Japan?\nAnswer:"}
    assert task["wrong_to_right"] == [{"index": 3, "answer": 2, "old_prediction": 1, "new_prediction": 2,
                                        "target": "Nairobi", "old_predicted": "Kisumu", "new_predicted": "Nairobi",
                                        "prompt": "Question: What is the capital city of Kenya?\nAnswer:"}]
    assert task["items_key_changed"] == [5] and task["items_only_new"] == [6] and task["items_only_old"] == []
    assert result["tasks_only_new"] == [{"suite": "heldout-capitals", "task": "rivers"}]
    assert result["tasks_only_old"] == []
    # accuracy: old 4/6 >= 0.5 passes; new 3/7 fails.
    acc = next(c for c in task["checks_changed"] if c["check"] == "accuracy")
    assert (acc["old_value"], acc["old_passed"], acc["new_passed"]) == (pytest.approx(4 / 6, abs=1e-6), True, False)
    assert acc["new_value"] == pytest.approx(3 / 7, abs=1e-6)
    assert any("capitals: accuracy 0.800 -> 0.400 (-0.400 on 5 shared items" in r for r in result["regressions"])


def test_the_default_rule_flags_only_a_drop_the_paired_interval_confirms(runs, capsys):
    """The fp32-vs-bf16 case: a point drop beyond --max-drop whose paired interval still holds a drop
    within it is a *possible* regression, listed, exit 0; the same files under --rule point exit 1."""
    code, out, _ = _compare(capsys, runs["old"], runs["new"], "--json", rule="confident")
    result = json.loads(out)
    (task,) = result["tasks"]
    assert task["interval"][1] > -0.02  # [-0.79, +0.04]: the interval does not confirm a drop beyond 0.02
    assert code == 0 and result["regressions"] == [] and task["possible_regression"] and not task["regressed"]
    assert any(r.startswith("heldout-capitals/capitals: accuracy 0.800 -> 0.400") and "McNemar p = 0.62" in r
               for r in result["possible_regressions"])
    code, text, _ = _compare(capsys, runs["old"], runs["new"], rule="confident")
    assert "possible regressions" in text and "no confirmed accuracy drop beyond 0.02" in text
    assert "capital city of Japan? Answer:" in text  # flipped items named by what was asked


def test_every_provenance_difference_is_shown(runs, tmp_path, capsys):
    data = json.loads(runs["new"].read_text())
    data["model"]["dtype"], data["model"]["extra"] = "bfloat16", {"batch_size": 8}
    new = tmp_path / "bf16.json"
    new.write_text(json.dumps(data))
    code, out, _ = _compare(capsys, runs["old"], new, "--json")
    keys = {d["key"]: (d["old"], d["new"]) for d in json.loads(out)["provenance_differences"]}
    assert keys["dtype"] == ("float32", "bfloat16") and keys["extra.batch_size"] == (None, 8)
    _, text, _ = _compare(capsys, runs["old"], new)
    assert "how the runs differ:\n  dtype: float32 -> bfloat16" in text and "bfloat16, backend fake" in text
    _, same, _ = _compare(capsys, runs["old"], runs["old"])
    assert "nothing recorded differs" in same


def test_statsmodels_mcnemar_agrees(runs, capsys):
    import statsmodels.stats.contingency_tables as sm
    _, out, _ = _compare(capsys, runs["old"], runs["new"], "--json")
    (task,) = json.loads(out)["tasks"]
    table = [[task["both_right"], task["broken"]], [task["fixed"], task["both_wrong"]]]
    assert task["mcnemar_p"] == pytest.approx(sm.mcnemar(table, exact=True).pvalue)


def test_paired_groups_from_item_fields(runs, capsys):
    code, out, _ = _compare(capsys, runs["old"], runs["new"], "--json")
    (task,) = json.loads(out)["tasks"]
    groups = {g["group"]: g for g in task["groups"] if g["by"] == "region"}
    # shared 0-4: europe {0: R->R, 2: R->W}, asia {1: R->W}, africa {3: W->R}, americas {4: R->W}
    assert {g: (r["n"], r["old_accuracy"], r["new_accuracy"], r["delta"]) for g, r in groups.items()} == {
        "europe": (2, 1.0, 0.5, -0.5), "asia": (1, 1.0, 0.0, -1.0),
        "africa": (1, 0.0, 1.0, 1.0), "americas": (1, 1.0, 0.0, -1.0)}
    assert groups["europe"]["mcnemar_p"] == pytest.approx(_mcnemar_exact(0, 1)) == 1.0
    assert groups["europe"]["interval"] == pytest.approx(list(stats.paired_difference_interval(0, 1, 2, a=1)))
    assert all(g["paired"] for g in groups.values()) and task["groups_unpaired"] == []
    assert groups["africa"]["regressed"] is False and groups["asia"]["regressed"] is True


def test_group_regression_alone_fails_and_names_it(runs, capsys):
    # Reversed (new -> old): the task improves by 0.4, but africa drops 1.0 -> 0.0.
    code, out, _ = _compare(capsys, runs["new"], runs["old"])
    assert code == 1
    assert "REGRESSED beyond max drop 0.02:" in out
    assert "heldout-capitals/capitals region=africa: accuracy 1.000 -> 0.000 (-1.000 on 1 shared items" in out
    assert "heldout-capitals/capitals: accuracy" not in out.split("REGRESSED beyond")[1]


def test_terminal_table(runs, capsys):
    code, out, _ = _compare(capsys, runs["old"], runs["new"])
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "pytest-misalign compare"
    assert f"old: {runs['old']} (model fake, float32, backend fake, fingerprint -)" in lines
    lo, hi = stats.paired_difference_interval(1, 3, 5, a=1)
    row = next(line for line in lines if line.startswith("heldout-capitals") and "(all)" in line)
    assert row.split() == ["heldout-capitals", "capitals", "(all)", "5", "0.800", "0.400", "-0.400",
                           f"[{lo:+.3f},", f"{hi:+.3f}]", "0.625", "REGRESSED"]
    assert "right -> wrong (3 items):" in out and "wrong -> right (1 items):" in out
    flip = next(line for line in lines if line.split()[2:3] == ["3"] and "capitals" in line)
    assert flip.split()[-6:] == ["2", "(Nairobi)", "1", "(Kisumu)", "2", "(Nairobi)"]
    assert "…ion: What is the capital city of Kenya? Answer:" in flip  # what was asked, its end
    group = next(line for line in lines if "region=asia" in line)
    assert group.split()[3:7] == ["1", "1.000", "0.000", "-1.000"] and group.endswith("REGRESSED")
    assert "checks whose verdict changed:" in out
    assert "  task only in new: heldout-capitals/rivers" in lines
    assert ("  heldout-capitals/capitals: 1 items changed (prompt, choices or answer differ; not compared): "
            "index 5") in lines
    assert "  heldout-capitals/capitals: 1 items only in new (not compared): index 6" in lines
    assert "items carry no group labels" not in out


def test_files_without_item_fields_fall_back_to_group_tables(runs, capsys):
    old, new = _without_labels(runs["old"]), _without_labels(runs["new"])
    # Items differ between the runs (changed key, only-new item): the stored tables are not on the
    # shared items, so no group rows at all; the task row is still paired.
    code, out, _ = _compare(capsys, old, new, "--json")
    (task,) = json.loads(out)["tasks"]
    assert task["groups"] == [] and task["groups_unpaired"] == ["region"] and task["n"] == 5
    code, out, _ = _compare(capsys, old, old)
    assert code == 0 and "items carry no group labels for region" in out
    row = next(line for line in out.splitlines() if "region=europe" in line)
    assert row.split()[3:9] == ["2", "1.000", "1.000", "+0.000", "-", "(unpaired)"]


def test_markdown(runs, capsys):
    code, out, _ = _compare(capsys, runs["old"], runs["new"], "--markdown")
    assert code == 1
    assert out.startswith("## pytest-misalign compare\n")
    assert "### accuracy on shared items (delta = new - old)" in out
    assert "| suite" in out and "|---" in out.replace(":", "-").replace(" ", "")
    assert "- task only in new: heldout-capitals/rivers" in out


def test_same_run_exit_0_and_max_drop(runs, capsys):
    code, out, _ = _compare(capsys, runs["old"], runs["old"])
    assert code == 0
    assert "no accuracy dropped by more than 0.02 on the shared items" in out
    assert "right -> wrong" not in out and "checks whose verdict changed" not in out
    # The largest drop (asia, americas: 1.0 -> 0.0) passes --max-drop 1, fails 0.99; a drop of exactly
    # --max-drop is tolerated.
    assert _compare(capsys, runs["old"], runs["new"], "--max-drop", "1")[0] == 0
    assert _compare(capsys, runs["old"], runs["new"], "--max-drop", "0.99")[0] == 1
    code, out, err = _compare(capsys, runs["old"], runs["new"], "--max-drop", "2")
    assert code == 2 and "must be between 0 and 1" in err


@pytest.mark.parametrize("content, expected", [
    (None, "no such file"),
    ("{not json", "is not JSON"),
    ('{"suites": []}', "is not a pytest-misalign results file (no 'schema' and 'suites')"),
    ('[1, 2]', "is not a pytest-misalign results file"),
    ('{"schema": 99, "suites": []}', "has results schema 99; this pytest-misalign reads schema 1"),
])
def test_bad_files_exit_2(runs, tmp_path, capsys, content, expected):
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    code, out, err = _compare(capsys, runs["old"], bad)
    assert code == 2 and out == ""
    assert err.startswith(f"pytest-misalign compare: error: {bad}: {expected}")
    assert "fix:" in err and "Traceback" not in err


def test_incompatible_suites_exit_2(runs, tmp_path, capsys):
    data = json.loads(runs["new"].read_text())
    for suite in data["suites"]:
        suite["suite"] = "other-suite"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    code, _, err = _compare(capsys, runs["old"], other)
    assert code == 2
    assert "incompatible suites: no task in common" in err
    assert "(heldout-capitals/capitals)" in err and "other-suite/rivers" in err


def test_python_dash_m(runs):
    proc = subprocess.run([sys.executable, "-m", "pytest_misalign", "compare", str(runs["old"]),
                           str(runs["new"]), "--json", "--rule", "point"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["tasks"][0]["delta"] == pytest.approx(-0.4)
    proc = subprocess.run([sys.executable, "-m", "pytest_misalign", "compare", str(runs["old"])],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "NEW.json" in proc.stderr


def test_dropped_items_summary(runs, capsys):
    code, out, _ = _compare(capsys, runs["old"], runs["new"], "--json")
    (task,) = json.loads(out)["tasks"]
    summary = ("1 item changed since the old run (prompt, choices or answer) and 1 item is only in the new run: "
               "compared on 5 shared items")
    assert task["match_summary"] == summary and task["inconclusive"] is False
    _, text, _ = _compare(capsys, runs["old"], runs["new"])
    assert f"  heldout-capitals/capitals: {summary}" in text.splitlines()
    _, text, _ = _compare(capsys, runs["old"], runs["old"])
    assert "compared on" not in text and "INCONCLUSIVE" not in text  # nothing dropped: no line


def test_no_shared_item_is_inconclusive_and_strict_fails(runs, tmp_path, capsys):
    data = json.loads(runs["new"].read_text())
    for item in data["suites"][0]["tasks"][0]["items"]:
        item["key"] = "0" * 16  # every item's prompt changed
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(data))
    code, out, _ = _compare(capsys, runs["old"], changed, "--json")
    result = json.loads(out)
    (task,) = result["tasks"]
    assert code == 0 and task["inconclusive"] is True and task["n"] == 0 and task["groups"] == []
    assert result["inconclusive"] == [
        "heldout-capitals/capitals: no item is shared with the old run: 6 items changed since the old run "
        "(prompt, choices or answer) and 1 item is only in the new run"]
    code, out, _ = _compare(capsys, runs["old"], changed)
    row = next(line for line in out.splitlines() if "(all)" in line)
    assert row.split()[3] == "0" and row.endswith("INCONCLUSIVE")
    assert "INCONCLUSIVE: no shared items:" in out
    code, out, _ = _compare(capsys, runs["old"], changed, "--strict")
    assert code == 1 and "INCONCLUSIVE: no shared items (--strict: exit 1):" in out
    assert _compare(capsys, runs["old"], runs["old"], "--strict")[0] == 0


def test_a_perplexity_task_is_compared_by_its_perplexity_not_an_accuracy(pytester, tmp_path, capsys):
    pytester.makeconftest(FAKE_CONFTEST)
    pytester.makefile(".yaml", texts="""\
        suite: texts
        tasks:
          - name: docs
            type: perplexity
            data: {items: [{text: "a hard word here", d: x}, {text: "plain words only", d: y}]}
            text: "{text}"
            checks: [{perplexity: {max: 100}}]
        """)
    paths = []
    for name, hard in (("a", set()), ("b", {"hard"})):
        fake_backend.HARD.clear()
        fake_backend.HARD.update(hard)
        pytester.runpytest("--misalign-model=fake", f"--misalign-json={name}.json", "-p", "no:cacheprovider")
        paths.append(pytester.path / f"{name}.json")
    fake_backend.HARD.clear()
    capsys.readouterr()  # the sessions' own output
    code, out, err = _compare(capsys, *paths, "--json")
    assert out.startswith("{"), err
    result = json.loads(out)
    assert result["tasks"] == [] and code == 0
    (row,) = result["perplexity_tasks"]
    assert row["task"] == "docs" and row["new_word_perplexity"] > row["old_word_perplexity"]
    _, text, _ = _compare(capsys, *paths)
    assert "perplexity tasks (word perplexity, lower is better)" in text and "0.000 -> 0.000" not in text
