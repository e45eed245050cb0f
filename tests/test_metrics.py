"""Generation and classification metrics against the libraries and formulas they come from:
sacrebleu's corpus/sentence BLEU and chrF, rouge-score's RougeScorer, the SQuAD v1.1 script's F1
(written out here as the official script has it), scikit-learn's precision/recall/F1; and the
bootstrap against a plain resampling loop."""

import re
import string
from collections import Counter

import numpy as np
import pytest
import sacrebleu
from rouge_score.rouge_scorer import RougeScorer
from sklearn.metrics import f1_score, precision_recall_fscore_support

from pytest_misalign import metrics
from pytest_misalign.metrics import classification as cls
from pytest_misalign.metrics.bootstrap import bootstrap

# Real sentences: WMT-style news lines with human-written references and system-like outputs.
HYPS = [
    "The president said on Tuesday that the talks would continue next week.",
    "Heavy rain caused flooding in several parts of the city.",
    "the company reported a rise in profits for third quarter",
    "Scientists have discovered a new species of frog in the rainforest.",
    "",
    "He did not answer the question.",
    "Prices of oil fell sharply after the announcement",
    "The museum will be closed for renovation until spring.",
]
REFS = [
    "The president said on Tuesday that negotiations would resume next week.",
    "Heavy rainfall flooded several districts of the city.",
    "The company reported higher profits for the third quarter.",
    "Researchers have found a new frog species in the rain forest.",
    "The match was postponed because of the weather.",
    "He did not answer the question.",
    "Oil prices dropped sharply after the announcement.",
    "The museum is closed for renovations until the spring.",
]


# --- the SQuAD v1.1 official evaluation script, verbatim in substance ---------------------------
def squad_normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def squad_f1_score(prediction, ground_truth):
    prediction_tokens = squad_normalize_answer(prediction).split()
    ground_truth_tokens = squad_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


SQUAD_CASES = [
    ("Denver Broncos", "Denver Broncos"),
    ("the Denver Broncos!", "Denver Broncos"),
    ("The Broncos of Denver", "Denver Broncos"),
    ("An apple a day", "apple"),
    ("Santa Clara, California", "Levi's Stadium in the San Francisco Bay Area at Santa Clara, California."),
    ("", "Paris"),
    ("the", "a"),
    ("positive positive", "positive"),
    ("  It's   NEGATIVE.  ", "negative"),
]


@pytest.mark.parametrize("pred, gold", SQUAD_CASES)
def test_token_f1_is_the_squad_formula(pred, gold):
    assert metrics.item_scores("token_f1", [pred], [gold])[0] == pytest.approx(squad_f1_score(pred, gold), abs=1e-15)


def test_token_f1_by_hand():
    # "the cat sat" vs "a cat sat down": tokens [cat, sat] vs [cat, sat, down]: P 1, R 2/3, F1 0.8
    assert metrics.item_scores("token_f1", ["the cat sat"], ["a cat sat down"])[0] == pytest.approx(0.8)
    assert metrics.task_value("token_f1", ["the cat sat", "x"], ["a cat sat down", "y"]) == pytest.approx(0.4)


def test_bleu_matches_sacrebleu_corpus_and_sentence():
    want = sacrebleu.corpus_bleu(HYPS, [REFS]).score / 100
    assert metrics.task_value("bleu", HYPS, REFS) == pytest.approx(want, abs=1e-12)
    sentence = metrics.item_scores("bleu", HYPS, REFS)
    assert sentence == pytest.approx([sacrebleu.sentence_bleu(h, [r]).score / 100 for h, r in zip(HYPS, REFS)])
    assert sentence[5] == pytest.approx(1.0)  # an exact copy
    # corpus BLEU is not the mean of sentence BLEUs
    assert abs(want - sentence.mean()) > 1e-3


def test_chrf_matches_sacrebleu_corpus_and_sentence():
    want = sacrebleu.corpus_chrf(HYPS, [REFS]).score / 100
    assert metrics.task_value("chrf", HYPS, REFS) == pytest.approx(want, abs=1e-12)
    assert metrics.item_scores("chrf", HYPS, REFS) == pytest.approx(
        [sacrebleu.sentence_chrf(h, [r]).score / 100 for h, r in zip(HYPS, REFS)])


def test_corpus_value_of_a_subset_from_summed_stats():
    """A bootstrap resample is a multiset of items: summed statistics give sacrebleu's corpus score."""
    idx = [0, 0, 3, 5, 7, 7, 7]
    for metric, corpus in (("bleu", sacrebleu.corpus_bleu), ("chrf", sacrebleu.corpus_chrf)):
        rows = metrics.item_stats(metric, HYPS, REFS)
        got = metrics.value_from_stats(metric, rows[idx].sum(axis=0))[0]
        want = corpus([HYPS[i] for i in idx], [[REFS[i] for i in idx]]).score / 100
        assert got == pytest.approx(want, abs=1e-12)


def test_rouge_l_matches_rouge_score():
    scorer = RougeScorer(["rougeL"])
    want = [scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(HYPS, REFS)]
    assert metrics.item_scores("rouge_l", HYPS, REFS) == pytest.approx(want, abs=1e-15)
    assert metrics.task_value("rouge_l", HYPS, REFS) == pytest.approx(np.mean(want))


def test_unknown_metric():
    with pytest.raises(ValueError, match="unknown scored metric 'meteor'"):
        metrics.item_scores("meteor", ["a"], ["a"])
    assert metrics.generation_scores("acc", ["a", "b"], ["a", "b"]) == [None, None]


# --- classification --------------------------------------------------------------------------------
def _labels(seed=3, n=200):
    rng = np.random.default_rng(seed)
    gold = rng.choice(["neg", "neu", "pos"], size=n, p=[0.5, 0.3, 0.2])
    pred = np.where(rng.random(n) < 0.6, gold, rng.choice(["neg", "neu", "pos", "other"], size=n))
    return list(gold), list(pred)


def test_classification_report_and_confusion_path_match_sklearn():
    gold, pred = _labels()
    labels = cls.class_labels(gold, pred)
    assert labels == ["neg", "neu", "pos", "other"]
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    rep = cls.report(gold, pred, labels)
    for i, c in enumerate(labels):
        assert (rep[c]["precision"], rep[c]["recall"], rep[c]["f1"], rep[c]["support"]) == pytest.approx(
            (p[i], r[i], f[i], s[i]))
    summed = cls.confusion_stats(gold, pred, labels).sum(axis=0)
    for measure, ref in (("precision", p), ("recall", r), ("f1", f)):
        assert cls.value_from_stats(summed, 4, measure, "macro", None)[0] == pytest.approx(ref.mean())
        assert cls.value_from_stats(summed, 4, measure, "per_class", None)[0] == pytest.approx(ref.min())
        assert cls.value_from_stats(summed, 4, measure, "macro", 2)[0] == pytest.approx(ref[2])
    assert cls.value_from_stats(summed, 4, "f1", "macro", None)[0] == pytest.approx(
        f1_score(gold, pred, average="macro", zero_division=0))


def test_confusion_path_with_absent_classes_matches_sklearn():
    labels = ["a", "b", "c"]
    gold, pred = ["a", "a", "b"], ["a", "b", "b"]  # class c never occurs: all its values are 0
    p, r, f, _ = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    got = cls.prf_from_confusion(cls.confusion_stats(gold, pred, labels).sum(axis=0).reshape(3, 3))
    assert got["precision"] == pytest.approx(p) and got["recall"] == pytest.approx(r) and got["f1"] == pytest.approx(f)


# --- bootstrap ---------------------------------------------------------------------------------------
def _loop_bootstrap(x, stat, seed, n_resamples, confidence=0.95, clusters=None):
    """The plain loop: draw clusters with replacement, recompute the statistic, take quantiles."""
    rng = np.random.default_rng(seed)
    ids = np.arange(len(x)) if clusters is None else np.unique(clusters, return_inverse=True)[1]
    members = [np.flatnonzero(ids == c) for c in range(ids.max() + 1)]
    out = []
    for _ in range(n_resamples):
        drawn = rng.integers(0, len(members), size=len(members))
        out.append(stat(np.concatenate([members[c] for c in drawn])))
    a = 1 - confidence
    return np.quantile(out, [a / 2, 1 - a / 2])


def test_bootstrap_of_a_mean_equals_the_plain_loop():
    rng = np.random.default_rng(0)
    scores = rng.random(40)
    rows = np.column_stack([scores, np.ones(40)])
    iv = bootstrap(rows, lambda s: s[:, 0] / s[:, 1], n_resamples=2000, seed=7)
    lo, hi = _loop_bootstrap(scores, lambda idx: scores[idx].mean(), seed=7, n_resamples=2000)
    assert (iv.lo, iv.hi) == pytest.approx((lo, hi), abs=1e-12)


def test_cluster_bootstrap_of_corpus_bleu_equals_the_plain_loop():
    clusters = np.array(["a", "a", "b", "b", "c", "d", "d", "e"])
    rows = metrics.item_stats("bleu", HYPS, REFS)
    iv = bootstrap(rows, lambda s: metrics.value_from_stats("bleu", s), clusters=clusters, n_resamples=300, seed=1)

    def corpus(idx):
        return sacrebleu.corpus_bleu([HYPS[i] for i in idx], [[REFS[i] for i in idx]]).score / 100

    lo, hi = _loop_bootstrap(None, corpus, seed=1, n_resamples=300, clusters=clusters)
    assert (iv.lo, iv.hi) == pytest.approx((lo, hi), abs=1e-12)
    assert iv.n_clusters == 5 and "only 5 clusters" in iv.note


def test_bootstrap_gap_resamples_within_groups():
    """Two groups, no clusters: each group is resampled on its own (stratified); the loop does the same."""
    rng = np.random.default_rng(2)
    scores = np.r_[rng.random(30) * 0.5, rng.random(20)]
    groups = np.array(["lo"] * 30 + ["hi"] * 20)
    rows = np.column_stack([scores, np.ones(50)])
    iv = bootstrap(rows, lambda s: s[:, 0] / s[:, 1], groups=groups, order=["lo", "hi"], n_resamples=3000, seed=4)
    draws = []
    # Independent check: the interval covers the point gap and the loop's interval closely.
    gen = np.random.default_rng(11)
    lo_items, hi_items = scores[:30], scores[30:]
    for _ in range(3000):
        draws.append(gen.choice(hi_items, 20).mean() - gen.choice(lo_items, 30).mean())
    ref = np.quantile(draws, [0.025, 0.975])
    assert iv.lo < hi_items.mean() - lo_items.mean() < iv.hi
    assert (iv.lo, iv.hi) == pytest.approx(tuple(ref), abs=0.02)


def test_bootstrap_with_one_cluster_is_uninformative():
    iv = bootstrap(np.array([[0.5, 1.0], [0.7, 1.0]]), lambda s: s[:, 0] / s[:, 1], clusters=["x", "x"])
    assert (iv.lo, iv.hi) == (0.0, 1.0) and "fewer than two clusters" in iv.note
