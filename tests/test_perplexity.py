"""`type: perplexity` tasks end to end with the fake backend (tests/fake_backend.py: -0.5 nats per
UTF-8 byte, -1.0 for documents with a HARD word), numbers checked against lm-eval's formulas by
hand; and the suite errors of the task kind and its checks."""

from __future__ import annotations

import json
import math
import re

import fake_backend
import pytest

from helpers import parse_suite_file
from pytest_misalign.errors import SuiteError

from pytest_misalign.tasks.prepare import prepare_task

LAW = [f"The court heard case number {i} and ruled on it{' after a long hearing' * (i % 3)}." for i in range(12)]
GENERAL = [f"Bees visit {i} flowers on a sunny day{' in the garden' * (i % 4)}." for i in range(12)]
DOCS = [{"text": t, "domain": "law", "cl": f"law{i // 2}"} for i, t in enumerate(LAW)] + \
       [{"text": t, "domain": "general", "cl": f"gen{i // 2}"} for i, t in enumerate(GENERAL)]


def _suite(checks: str, extra: str = "") -> str:
    return f"""\
suite: domains
tasks:
  - name: texts
    type: perplexity
    data:
      items: {json.dumps(DOCS)}
    text: "{{text}}"
{extra}    checks:
{checks}"""


def _by_hand(docs: list[dict]) -> dict[str, float]:
    """lm-eval's aggregation on the fake's log-likelihoods, written out."""
    ll = [-len(d["text"].encode()) * (1.0 if "court" in d["text"].split() else 0.5) for d in docs]
    words = sum(len(re.split(r"\s+", d["text"])) for d in docs)
    nbytes = sum(len(d["text"].encode("utf-8")) for d in docs)
    return {"word_perplexity": math.exp(-sum(ll) / words), "byte_perplexity": math.exp(-sum(ll) / nbytes),
            "bits_per_byte": -sum(ll) / nbytes / math.log(2)}


def test_perplexity_session(fake_session):
    fake_backend.HARD.add("court")
    fake_session.makefile(".yaml", domains=_suite(
        "      - perplexity: {max: 3.0, unit: byte}\n      - perplexity_ratio: {by: domain, max: 1.3}\n"))
    result = fake_session.runpytest("--misalign-model=fake", "--misalign-json=out.json", "-p", "no:randomly", "-v")
    result.assert_outcomes(passed=1, failed=1)
    assert fake_backend.CALLS["rolling"] == 1 and fake_backend.CALLS["loglikelihood"] == 0
    doc_ppl = [math.exp(len(t.encode()) / len(re.split(r"\s+", t))) for t in LAW]
    top = max(range(12), key=lambda i: (doc_ppl[i], -i))
    result.stdout.fnmatch_lines(["*highest-perplexity documents in group 'law' (2 of 12):*",
                                 f"*#{top} [[]law[]] word ppl {doc_ppl[top]:.1f} | {LAW[top]}",
                                 "*word ppl*", "*texts by domain*", "*law*12*"])
    (task,) = json.loads((fake_session.path / "out.json").read_text())["suites"][0]["tasks"]
    whole, law = _by_hand(DOCS), _by_hand(DOCS[:12])
    general = _by_hand(DOCS[12:])
    for key, value in whole.items():
        assert task[key] == pytest.approx(value, abs=1e-6)
    assert task["accuracy"] is None and task["metric"] == "perplexity"
    for key in whole:
        assert task["groups"]["domain"]["law"][key] == pytest.approx(law[key], abs=1e-6)
        assert task["groups"]["domain"]["general"][key] == pytest.approx(general[key], abs=1e-6)
    assert task["groups"]["domain"]["law"]["n"] == 12
    assert task["items"][0]["loglikelihood"] == pytest.approx(-len(LAW[0].encode()))
    ppl, ratio = task["checks"]
    assert ppl["check"] == "perplexity" and ppl["verdict"] == "pass" and ppl["interval_name"] == "bootstrap"
    assert ppl["value"] == pytest.approx(whole["byte_perplexity"], abs=1e-6)
    # stratified by nothing but documents: every resample lies between the two groups' byte perplexities
    assert math.exp(0.5) <= ppl["interval"][0] <= ppl["interval"][1] <= math.exp(1.0)
    expected = law["word_perplexity"] / general["word_perplexity"]
    assert ratio["value"] == pytest.approx(expected, abs=1e-6)
    assert ratio["verdict"] == "fail" and ratio["worst_group"] == "law" and ratio["best_group"] == "general"
    assert ratio["interval"][0] <= expected <= ratio["interval"][1]


def test_cluster_bootstrap_on_perplexity(fake_session):
    fake_backend.HARD.add("court")
    fake_session.makefile(".yaml", domains=_suite("      - perplexity_ratio: {by: domain, max: 100, unit: byte}\n",
                                                  extra="    cluster: cl\n"))
    result = fake_session.runpytest("--misalign-model=fake", "--misalign-json=out.json", "-p", "no:randomly")
    result.assert_outcomes(passed=1)
    (check,) = json.loads((fake_session.path / "out.json").read_text())["suites"][0]["tasks"][0]["checks"]
    assert check["method"].startswith("cluster bootstrap over 12 'cl' clusters")
    # byte units: law is exactly 1.0 nat/byte, general 0.5, whatever the resample: exp(0.5)
    assert check["value"] == pytest.approx(math.exp(0.5)) and check["interval"] == pytest.approx([math.exp(0.5)] * 2)


def test_prepared_documents(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(_suite("      - perplexity_ratio: {by: domain, max: 1.3}\n"))
    suite = parse_suite_file(path)
    task = prepare_task(suite, suite.tasks[0])
    assert [i.prompt for i in task.instances] == LAW + GENERAL
    assert task.instances[0].choices == ()


# ---------------------------------------------------------------------- suite errors
def _error(tmp_path, text: str) -> SuiteError:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(SuiteError) as info:
        parse_suite_file(path)
    return info.value


@pytest.mark.parametrize("key, line", [
    ("choices", '    choices: ["a", "b"]\n'), ("answer", '    answer: "{x}"\n'),
    ("generate", "    generate: {max_tokens: 4}\n"), ("prompt", '    prompt: "{text}"\n'),
])
def test_answer_keys_are_errors(tmp_path, key, line):
    err = _error(tmp_path, _suite("      - perplexity: {max: 40}\n", extra=line))
    assert err.key == key and "type: perplexity" in err.message and err.line


def test_missing_text(tmp_path):
    text = _suite("      - perplexity: {max: 40}\n").replace('    text: "{text}"\n', "")
    err = _error(tmp_path, text)
    assert err.key == "text" and "needs `text`" in err.message


@pytest.mark.parametrize("check", ["accuracy: {min: 0.5}", "gap: {by: domain, max: 0.1}",
                                   "group_accuracy: {by: domain, min: 0.5}"])
def test_accuracy_checks_on_documents_are_errors(tmp_path, check):
    err = _error(tmp_path, _suite(f"      - {check}\n"))
    assert err.key == "checks[0]." + check.split(":")[0] and "has none" in err.message and "perplexity_ratio" in err.fix


def test_perplexity_check_on_multiple_choice_task(tmp_path):
    err = _error(tmp_path, """\
suite: s
tasks:
  - name: mc
    data: {items: [{q: a, d: x}, {q: b, d: y}]}
    prompt: "{q}"
    choices: ["1", "2"]
    answer: 0
    checks:
      - perplexity_ratio: {by: d, max: 1.3}
""")
    assert err.key == "checks[0].perplexity_ratio" and "type: perplexity" in err.message


@pytest.mark.parametrize("check, key, words", [
    ("perplexity_ratio: {by: domain, max: 0.9}", "checks[0].perplexity_ratio.max", "at least 1"),
    ("perplexity: {max: 30, unit: token}", "checks[0].perplexity.unit", "must be one of word, byte, bits_per_byte"),
])
def test_bad_parameters(tmp_path, check, key, words):
    err = _error(tmp_path, _suite(f"      - {check}\n"))
    assert err.key == key and words in err.message


def test_unknown_type_and_text_without_type(tmp_path):
    err = _error(tmp_path, _suite("      - perplexity: {max: 40}\n").replace("type: perplexity", "type: ppl"))
    assert err.key == "type" and "perplexity" in err.fix
    err = _error(tmp_path, _suite("      - perplexity: {max: 40}\n").replace("    type: perplexity\n", ""))
    assert err.key == "text"


def test_shift_cannot_name_a_perplexity_task(tmp_path):
    text = _suite("      - perplexity: {max: 40}\n") + """\
  - name: mc
    data: {items: [{q: a}, {q: b}]}
    prompt: "{q}"
    choices: ["1", "2"]
    answer: 0
    checks: [{accuracy: {min: 0.5}}]
checks:
  - shift: {from: mc, to: texts, max_drop: 0.1}
"""
    err = _error(tmp_path, text)
    assert err.key == "checks[0].shift.to" and "accuracies" in err.message
