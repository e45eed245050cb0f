"""score / score_gap on free-form tasks and precision / recall / f1 (and their gaps) on multiple-choice
tasks, against sacrebleu, rouge-score, the SQuAD formula and scikit-learn, with bootstrap intervals
checked against a plain resampling loop."""

import dataclasses
import json

import numpy as np
import pytest
import sacrebleu
from sklearn.metrics import f1_score, precision_recall_fscore_support, recall_score

from helpers import parse_suite_file
from pytest_misalign.checks import KINDS
from pytest_misalign import metrics
from pytest_misalign.checks import run_check
from pytest_misalign.checks.result import FAIL, INCONCLUSIVE, PASS
from pytest_misalign.errors import SuiteError
from pytest_misalign.metrics import classification as cls
from pytest_misalign.metrics.bootstrap import bootstrap
from pytest_misalign.scoring.outcome import ItemOutcome, TaskOutcome
from pytest_misalign.tasks.prepare import prepare_task
from helpers import one_task_suite
from test_metrics import HYPS, REFS, _loop_bootstrap, squad_f1_score


def _suite(tmp_path, rows, body, name="s.yaml"):
    return one_task_suite(tmp_path, rows, body, name=name)


def gen_outcome(tmp_path, hyps, refs, metric, extra_fields=None, cluster=None):
    """A free-form task whose item i generated hyps[i] against reference refs[i]."""
    rows = [{"q": f"q{i}", "ref": r, **(extra_fields[i] if extra_fields else {})} for i, r in enumerate(refs)]
    path = _suite(tmp_path, rows, 'prompt: "{q}"\nanswer: "{ref}"\ngenerate: {max_tokens: 8}\n'
                  + (f"cluster: {cluster}\n" if cluster else "") + "checks: [{accuracy: {min: 0.1}}]\n")
    spec = parse_suite_file(path)
    task_spec = dataclasses.replace(spec.tasks[0], metric=metric)
    task = prepare_task(spec, task_spec)
    scores = metrics.generation_scores(metric, hyps, refs)
    items = [ItemOutcome(i.index, i.answer, h, h == r, output=h, score=s)
             for i, h, r, s in zip(task.instances, hyps, refs, scores)]
    return TaskOutcome(task, items)


def check(kind, **params):
    return KINDS.check(kind, params)


# --- score -----------------------------------------------------------------------------------------
def test_score_bleu_is_corpus_bleu_with_a_bootstrap_interval(tmp_path):
    outcome = gen_outcome(tmp_path, HYPS, REFS, "bleu")
    r = run_check(check("score", min=0.2), outcome, "score")
    want = sacrebleu.corpus_bleu(HYPS, [REFS]).score / 100
    assert r.value == pytest.approx(want, abs=1e-12)
    assert r.interval[0] < want < r.interval[1] and r.interval_name == "bootstrap"
    assert r.details["corpus_level"] is True
    assert r.details["mean_item_score"] == pytest.approx(
        np.mean([sacrebleu.sentence_bleu(h, [x]).score / 100 for h, x in zip(HYPS, REFS)]), abs=1e-6)
    assert r.verdict == INCONCLUSIVE  # 8 items cannot decide 0.2 against ~0.3
    assert run_check(check("score", min=0.99), outcome, "score").value_verdict == FAIL


def test_score_token_f1_interval_is_the_plain_loop(tmp_path):
    hyps = ["Paris", "the city of Rome", "Lima, Peru", "", "Oslo", "I think it is Bern", "Madrid", "Quito"] * 3
    refs = ["Paris", "Rome", "Lima", "Cairo", "Oslo", "Bern", "Lisbon", "Quito"] * 3
    outcome = gen_outcome(tmp_path, hyps, refs, "token_f1")
    per_item = np.array([squad_f1_score(h, r) for h, r in zip(hyps, refs)])
    r = run_check(check("score", min=0.3), outcome, "score")
    assert r.value == pytest.approx(per_item.mean())  # 0.5625
    lo, hi = _loop_bootstrap(per_item, lambda idx: per_item[idx].mean(), seed=0, n_resamples=10_000)
    assert r.interval == pytest.approx((lo, hi), abs=1e-12)
    assert r.verdict == PASS and r.interval[0] > 0.3


def test_score_rouge_l_and_chrf(tmp_path):
    from rouge_score.rouge_scorer import RougeScorer

    scorer = RougeScorer(["rougeL"])
    r = run_check(check("score", min=0.1), gen_outcome(tmp_path, HYPS, REFS, "rouge_l"), "score")
    assert r.value == pytest.approx(np.mean([scorer.score(x, h)["rougeL"].fmeasure for h, x in zip(HYPS, REFS)]))
    r = run_check(check("score", max=0.9), gen_outcome(tmp_path, HYPS, REFS, "chrf", None), "score")
    assert r.value == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score / 100)


def test_score_with_clusters_uses_a_cluster_bootstrap(tmp_path):
    fields = [{"doc": d} for d in "aabbccdd"]
    outcome = gen_outcome(tmp_path, HYPS, REFS, "token_f1", fields, cluster="doc")
    r = run_check(check("score", min=0.3), outcome, "score")
    per_item = np.array([squad_f1_score(h, x) for h, x in zip(HYPS, REFS)])
    lo, hi = _loop_bootstrap(per_item, lambda idx: per_item[idx].mean(), seed=0, n_resamples=10_000,
                             clusters=np.array(list("aabbccdd")))
    assert r.interval == pytest.approx((lo, hi), abs=1e-12)
    assert r.interval_name == "cluster bootstrap" and "4 'doc' clusters" in r.method
    assert any("only 4 clusters" in n for n in r.notes)


def test_score_gap_between_groups(tmp_path):
    hyps = HYPS * 3
    refs = REFS * 3
    fields = [{"g": "news" if i % 8 < 4 else "other"} for i in range(24)]
    outcome = gen_outcome(tmp_path, hyps, refs, "chrf", fields)
    r = run_check(check("score_gap", by="g", max=0.5, min_n=5), outcome, "score_gap[g]")
    news = [i for i in range(24) if fields[i]["g"] == "news"]
    other = [i for i in range(24) if fields[i]["g"] == "other"]

    def chrf(idx):
        return sacrebleu.corpus_chrf([hyps[i] for i in idx], [[refs[i] for i in idx]]).score / 100

    assert r.value == pytest.approx(abs(chrf(news) - chrf(other)), abs=1e-12)
    assert r.details["groups"]["news"]["value"] == pytest.approx(chrf(news), abs=1e-6)
    assert r.interval[0] <= r.value <= r.interval[1]
    assert r.verdict == PASS
    small = run_check(check("score_gap", by="g", max=0.5), outcome, "score_gap[g]")  # min_n 10: 12 each, fine
    assert small.verdict == PASS
    tiny = run_check(check("score_gap", by="g", max=0.5, min_n=20), outcome, "score_gap[g]")
    assert tiny.verdict == INCONCLUSIVE and tiny.degenerate


def test_score_check_on_a_task_without_a_generation_metric(tmp_path):
    outcome = gen_outcome(tmp_path, HYPS, REFS, "acc")
    with pytest.raises(SuiteError, match="needs a task whose metric scores every item"):
        run_check(check("score", min=0.5), outcome, "score")


# --- classification ----------------------------------------------------------------------------------
def mc_outcome(tmp_path, gold, pred, groups=None, labels=("neg", "neu", "pos")):
    rows = [{"q": f"q{i}", "y": labels.index(g), **({"grp": groups[i]} if groups else {})} for i, g in enumerate(gold)]
    path = _suite(tmp_path, rows, 'prompt: "{q}"\nchoices: %s\nanswer: "{y}"\nchecks: [{accuracy: {min: 0.1}}]\n'
                  % json.dumps(list(labels)))
    spec = parse_suite_file(path)
    task = prepare_task(spec, spec.tasks[0])
    items = [ItemOutcome(i.index, i.answer, labels.index(p), labels.index(p) == i.answer, (0.0,) * len(labels))
             for i, p in zip(task.instances, pred)]
    return TaskOutcome(task, items)


def _data(n=150, seed=5):
    rng = np.random.default_rng(seed)
    gold = rng.choice(["neg", "neu", "pos"], size=n, p=[0.4, 0.3, 0.3])
    pred = np.where(rng.random(n) < 0.65, gold, rng.choice(["neg", "neu", "pos"], size=n))
    groups = rng.choice(["a", "b"], size=n)
    pred = np.where((groups == "b") & (gold == "pos") & (rng.random(n) < 0.5), "neg", pred)  # b loses pos recall
    return list(gold), list(pred), list(groups)


def test_f1_macro_per_class_and_one_label_match_sklearn(tmp_path):
    gold, pred, _ = _data()
    outcome = mc_outcome(tmp_path, gold, pred)
    r = run_check(check("f1", min=0.3), outcome, "f1")
    assert r.value == pytest.approx(f1_score(gold, pred, average="macro", zero_division=0))
    assert r.interval[0] < r.value < r.interval[1] and r.verdict == PASS
    p, rec, f, s = precision_recall_fscore_support(gold, pred, labels=["neg", "neu", "pos"], zero_division=0)
    assert r.details["classes"]["pos"]["recall"] == pytest.approx(rec[2])
    worst = run_check(check("f1", min=0.3, average="per_class"), outcome, "f1")
    assert worst.value == pytest.approx(f.min())
    one = run_check(check("recall", label="pos", min=0.3), outcome, "recall")
    assert one.value == pytest.approx(rec[2])
    prec = run_check(check("precision", label="neu", min=0.3), outcome, "precision")
    assert prec.value == pytest.approx(p[1])


def test_f1_bootstrap_is_the_plain_loop_over_sklearn():
    """The confusion-matrix resamples give exactly sklearn's macro F1 of each resample."""
    gold, pred, _ = _data(n=60)
    labels = ["neg", "neu", "pos"]
    iv = bootstrap(cls.confusion_stats(gold, pred, labels), lambda s: cls.value_from_stats(s, 3, "f1", "macro", None),
                   n_resamples=300, seed=0)
    g, p = np.array(gold), np.array(pred)
    lo, hi = _loop_bootstrap(g, lambda idx: f1_score(g[idx], p[idx], labels=labels, average="macro", zero_division=0),
                             seed=0, n_resamples=300)
    assert (iv.lo, iv.hi) == pytest.approx((lo, hi), abs=1e-12)


def test_recall_gap_is_the_equal_opportunity_gap(tmp_path):
    gold, pred, groups = _data(n=300)
    outcome = mc_outcome(tmp_path, gold, pred, groups)
    r = run_check(check("recall_gap", by="grp", label="pos", max=0.1), outcome, "recall_gap[grp]")
    g, p, grp = map(np.array, (gold, pred, groups))
    rec = {k: recall_score(g[grp == k] == "pos", p[grp == k] == "pos") for k in ("a", "b")}
    assert r.value == pytest.approx(abs(rec["a"] - rec["b"]))
    assert r.details["groups"]["b"]["n"] == int(((grp == "b") & (g == "pos")).sum())
    assert r.verdict == FAIL and r.interval[0] > 0.1
    f1gap = run_check(check("f1_gap", by="grp", max=0.5), outcome, "f1_gap[grp]")
    macro = {k: f1_score(g[grp == k], p[grp == k], labels=["neg", "neu", "pos"], average="macro", zero_division=0)
             for k in ("a", "b")}
    assert f1gap.value == pytest.approx(abs(macro["a"] - macro["b"]))


def test_class_label_errors(tmp_path):
    gold, pred, _ = _data(n=30)
    outcome = mc_outcome(tmp_path, gold, pred)
    with pytest.raises(SuiteError, match="label 'positive' is not the gold class") as err:
        run_check(check("recall", label="positive", min=0.5), outcome, "recall")
    assert "'neg', 'neu', 'pos'" in str(err.value)
    by_index = run_check(check("recall", label="2", class_of="index", min=0.1), outcome, "recall")
    assert by_index.value == pytest.approx(recall_score(np.array(gold) == "pos", np.array(pred) == "pos"))
    with pytest.raises(SuiteError, match="needs a multiple-choice task"):
        run_check(check("f1", min=0.5), gen_outcome(tmp_path, HYPS, REFS, "bleu"), "f1")
