"""A pytest session with the fake backend: a free-form task with `metric:` gets per-item scores in
the results file, a task-level score, and gated `score` / `score_gap` checks; classification checks
on a multiple-choice task."""

import json

import fake_backend
import sacrebleu

SUITE = """\
suite: gen
tasks:
  - name: capitals
    data:
      items:
        - {q: "Capital of France?", a: "Paris", g: europe}
        - {q: "Capital of Italy?", a: "Rome", g: europe}
        - {q: "Capital of Peru?", a: "Lima", g: americas}
        - {q: "Capital of Chile?", a: "Santiago", g: americas}
    prompt: "{q}"
    answer: "{a}"
    generate: {max_tokens: 8, stop: ["\\n"]}
    metric: METRIC
    match: contains
    checks:
      - score: {min: 0.4}
      - score_gap: {by: g, max: 0.2, min_n: 2}
"""
OUTPUTS = {"Capital of France?": "The capital is Paris.", "Capital of Italy?": "Rome",
           "Capital of Peru?": "Lima", "Capital of Chile?": "Valparaiso"}


def _run(session, metric):
    fake_backend.GENERATIONS.update(OUTPUTS)
    session.makefile(".yaml", gen=SUITE.replace("METRIC", metric))
    result = session.runpytest("--misalign-model=fake", "--misalign-json=r.json", "-p", "no:cacheprovider")
    return result, json.loads((session.path / "r.json").read_text())["suites"][0]["tasks"][0]


def test_token_f1_scores_items_and_gates(fake_session):
    result, task = _run(fake_session, "token_f1")
    # SQuAD F1 by hand: "capital is paris" vs "paris": P 1/3, R 1 -> 0.5; Rome 1; Lima 1; Valparaiso 0
    assert [i["score"] for i in task["items"]] == [0.5, 1.0, 1.0, 0.0]
    assert task["score"] == {"metric": "token_f1", "value": 0.625, "corpus_level": False, "mean_item_score": 0.625}
    checks = {c["check"]: c for c in task["checks"]}
    assert checks["score"]["value"] == 0.625 and checks["score"]["interval_name"] == "bootstrap"
    # europe 0.75, americas 0.5: the gap 0.25 fails `max: 0.2` at the point gate
    assert checks["score_gap"]["value"] == 0.25 and checks["score_gap"]["passed"] is False
    assert [i["correct"] for i in task["items"]] == [True, True, True, False]  # match: contains, unchanged
    result.assert_outcomes(passed=1, failed=1)


def test_reports_render_score_checks(fake_session):
    fake_backend.GENERATIONS.update(OUTPUTS)
    fake_session.makefile(".yaml", gen=SUITE.replace("METRIC", "chrf"))
    result = fake_session.runpytest("--misalign-model=fake", "--misalign-html=r.html", "--misalign-markdown=r.md",
                                    "-p", "no:cacheprovider")
    assert result.ret == 1  # chrF: europe 0.636, americas 0.221 -> gap 0.415 > 0.2
    assert "score_gap[g]" in (fake_session.path / "r.html").read_text()
    assert "score_gap[g]" in (fake_session.path / "r.md").read_text()
    result.stdout.fnmatch_lines(["*score_gap[[]g[]] = * required <= 0.2: FAILED*", "*bootstrap over 4 items of chrF*"])


def test_bleu_task_value_is_corpus_bleu(fake_session):
    _, task = _run(fake_session, "bleu")
    hyps, refs = list(OUTPUTS.values()), ["Paris", "Rome", "Lima", "Santiago"]
    assert task["score"]["value"] == round(sacrebleu.corpus_bleu(hyps, [refs]).score / 100, 6)
    assert task["score"]["corpus_level"] is True
    assert [i["score"] for i in task["items"]] == [round(sacrebleu.sentence_bleu(h, [r]).score / 100, 6)
                                                  for h, r in zip(hyps, refs)]


def test_classification_checks_in_a_session(fake_session):
    fake_backend.KNOWN.update({"positive"})
    fake_session.makefile(".yaml", cls="""\
suite: cls
tasks:
  - name: sentiment
    data:
      items:
        - {t: a, y: 1, g: x}
        - {t: b, y: 1, g: y}
        - {t: c, y: 0, g: x}
        - {t: d, y: 0, g: y}
        - {t: e, y: 1, g: x}
        - {t: f, y: 0, g: y}
    prompt: "{t}"
    choices: ["negative", "positive"]
    answer: "{y}"
    checks:
      - f1: {min: 0.5}
      - recall_gap: {by: g, label: positive, max: 0.1, min_n: 1}
""")
    result = fake_session.runpytest("--misalign-model=fake", "--misalign-json=r.json", "-p", "no:cacheprovider")
    task = json.loads((fake_session.path / "r.json").read_text())["suites"][0]["tasks"][0]
    checks = {c["check"]: c for c in task["checks"]}
    # always "positive": F1 positive 2/3, negative 0 -> macro 1/3; recall of positive 1 in both groups
    assert checks["f1"]["value"] == round(1 / 3, 6) and checks["f1"]["classes"]["negative"]["recall"] == 0.0
    assert checks["recall_gap"]["value"] == 0.0 and checks["recall_gap"]["degenerate"]
    result.assert_outcomes(passed=1, failed=1)
