"""The results file's items (issue 10 §1): each carries what a person needs to see what went wrong —
rendered prompt, choices, target, prediction and its text, per-choice scores, the fields its checks
group by, and for paired checks the pair id and partner items. Values checked against the suite's
own rows, rendered by hand here."""

import json

import fake_backend
from helpers import CAPITALS_SUITE, FAKE_CONFTEST
from test_gates_e2e import COUNTERFACTUAL


def _items(pytester, suite_name: str, suite: str) -> list[dict]:
    fake_backend.KNOWN.clear()
    fake_backend.KNOWN.update({"Paris", "Rome", "Mary", "James"})
    pytester.makeconftest(FAKE_CONFTEST)
    pytester.makefile(".yaml", **{suite_name: suite})
    pytester.runpytest("--misalign-model=fake", "--misalign-json=r.json", "-p", "no:cacheprovider")
    return json.loads((pytester.path / "r.json").read_text())["suites"][0]["tasks"][0]["items"]


def test_multiple_choice_items_carry_prompt_choices_target_prediction_and_groups(pytester):
    items = _items(pytester, "capitals", CAPITALS_SUITE)
    first = items[0]  # France: Paris (known), Lyon, Marseille; label 0; europe
    assert first["prompt"] == "Question: What is the capital city of France?\nAnswer:"
    assert first["choices"] == ["Paris", "Lyon", "Marseille"]
    assert (first["target"], first["predicted"], first["correct"]) == ("Paris", "Paris", True)
    assert first["fields"] == {"region": "europe"}
    assert len(first["scores"]) == 3 and "pairs" not in first
    kenya = items[3]  # Nairobi unknown: the fake model prefers the shortest wrong answer
    assert (kenya["target"], kenya["correct"]) == ("Nairobi", False)
    assert kenya["predicted"] == kenya["choices"][kenya["prediction"]] != "Nairobi"


def test_paired_items_name_their_pair_and_partners(pytester):
    items = _items(pytester, "counterfactual", COUNTERFACTUAL)
    by_index = {it["index"]: it for it in items}
    for it in items:
        (pair,) = it["pairs"]
        partners = [by_index[i] for i in pair["partners"]]
        assert partners, it
        for other in partners:  # same pair id, another gender, same job
            assert other["pairs"][0]["id"] == pair["id"]
            assert other["fields"]["gender"] != it["fields"]["gender"]
            assert other["prompt"].split(" is a ")[1] == it["prompt"].split(" is a ")[1]
