"""Perplexity from per-document rolling log-likelihoods, and its stratified (cluster) bootstrap.

Conventions of lm-evaluation-harness (`api/task.py` `process_results` for `loglikelihood_rolling`
tasks, `api/metrics.py` `weighted_perplexity` / `bits_per_byte`): each document contributes its
log-likelihood LL and two counts, words = `len(re.split(r"\\s+", doc))` and bytes =
`len(doc.encode("utf-8"))`; over a set of documents

    word_perplexity = exp(-ΣLL / Σwords)
    byte_perplexity = exp(-ΣLL / Σbytes)
    bits_per_byte   = (-ΣLL / Σbytes) / ln 2

so long documents weigh more (a ratio of sums, not a mean of per-document perplexities).

Bootstrap (`perplexity_bootstrap`): documents -- or the clusters of a `cluster:` field -- are
resampled with replacement within strata (a cluster's stratum is the set of groups it has
documents in, as in `bootstrap.py`), so every group keeps its number of documents (clusters) in
every resample; the sums are recomputed per resample as one matrix product (counts x per-cluster
sums), vectorised and seeded. The interval is the percentile interval of the statistic: one
perplexity (`"value"`), or the worst group's over the best group's (`"ratio"`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from .validation import check_confidence
from .bootstrap import encode, signature_strata, stratified_count_chunks

Unit = Literal["word", "byte", "bits_per_byte"]
UNITS: tuple[str, ...] = ("word", "byte", "bits_per_byte")
UNIT_KEYS = {"word": "word_perplexity", "byte": "byte_perplexity", "bits_per_byte": "bits_per_byte"}


def unit_value(ll_sum, count_sum, unit: str):
    """Perplexity (word, byte) or bits per byte from summed log-likelihoods and counts (arrays ok)."""
    nll = -np.asarray(ll_sum, dtype=np.float64) / np.asarray(count_sum, dtype=np.float64)
    if unit == "bits_per_byte":
        return nll / math.log(2)
    if unit in ("word", "byte"):
        return np.exp(nll)
    raise ValueError(f"unknown perplexity unit {unit!r} (one of {', '.join(UNITS)})")


def summary(ll: Sequence[float], words: Sequence[int], bytes_: Sequence[int]) -> dict[str, float]:
    """`{"n", "word_perplexity", "byte_perplexity", "bits_per_byte"}` of a set of documents."""
    ll_sum = float(np.sum(ll, dtype=np.float64))
    w, b = int(np.sum(words)), int(np.sum(bytes_))
    nan = float("nan")
    return {"n": len(ll),
            "word_perplexity": float(unit_value(ll_sum, w, "word")) if w else nan,
            "byte_perplexity": float(unit_value(ll_sum, b, "byte")) if b else nan,
            "bits_per_byte": float(unit_value(ll_sum, b, "bits_per_byte")) if b else nan}


@dataclass(frozen=True)
class PerplexityBootstrap:
    """`estimate` on the full data with its percentile interval `(lo, hi)`. `groups` and `values`:
    each group's full-data value (`"ratio"`: worst = largest first); `n_clusters` resampled units."""

    estimate: float
    lo: float
    hi: float
    statistic: str
    unit: str
    confidence: float
    n_resamples: int
    n_clusters: int
    groups: tuple[str, ...] = ()
    values: tuple[float, ...] = ()
    note: str = ""


def cluster_sums(ll: np.ndarray, counts: np.ndarray, g: np.ndarray, cl: np.ndarray, k: int, n_clusters: int):
    """(C, k) sums of LL and of counts, and (C, k) presence, per cluster and group."""
    s_ll = np.zeros((n_clusters, k))
    s_cnt = np.zeros((n_clusters, k))
    np.add.at(s_ll, (cl, g), ll)
    np.add.at(s_cnt, (cl, g), counts)
    present = np.zeros((n_clusters, k), dtype=bool)
    present[cl, g] = True
    return s_ll, s_cnt, present


def resampled_statistic(weights: np.ndarray, s_ll: np.ndarray, s_cnt: np.ndarray, unit: str,
                        statistic: str) -> np.ndarray:
    """The statistic of each resample; `weights` (r, C) counts how often each cluster is drawn."""
    if statistic == "value":  # over all documents, whatever the strata
        return unit_value(weights @ s_ll.sum(axis=1), weights @ s_cnt.sum(axis=1), unit)
    values = unit_value(weights @ s_ll, weights @ s_cnt, unit)  # (r, k)
    return values.max(axis=1) / values.min(axis=1)


def perplexity_bootstrap(
    ll: Sequence[float],
    counts: Sequence[int],
    groups: Sequence | None = None,
    clusters: Sequence | None = None,
    *,
    unit: str = "word",
    statistic: Literal["value", "ratio"] = "value",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> PerplexityBootstrap:
    """Percentile bootstrap of a perplexity (`"value"`) or of the worst-over-best group ratio
    (`"ratio"`, at least two groups), resampling documents (or `clusters`) within strata."""
    conf = check_confidence(confidence)
    ll_arr = np.asarray(ll, dtype=np.float64)
    cnt = np.asarray(counts, dtype=np.float64)
    n = ll_arr.shape[0]
    if n == 0 or cnt.shape != ll_arr.shape:
        raise ValueError(f"need one count per document (got {n} log-likelihoods, {cnt.shape[0]} counts)")
    g_labels, g = encode(np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups, dtype=object),
                          "groups", n)
    k = len(g_labels)
    if statistic not in ("value", "ratio"):
        raise ValueError(f"unknown statistic {statistic!r} (value or ratio)")
    if statistic == "ratio" and k < 2:
        raise ValueError("a perplexity ratio needs at least two groups")
    _, cl = encode(np.arange(n) if clusters is None else np.asarray(clusters, dtype=object), "clusters", n)
    n_clusters = int(cl.max()) + 1
    s_ll, s_cnt, present = cluster_sums(ll_arr, cnt, g, cl, k, n_clusters)
    if np.any(s_cnt.sum(axis=0) <= 0):
        raise ValueError("a group has no words/bytes: its perplexity is undefined")
    full = unit_value(s_ll.sum(axis=0), s_cnt.sum(axis=0), unit)
    estimate = (float(unit_value(s_ll.sum(), s_cnt.sum(), unit)) if statistic == "value"
                else float(full.max() / full.min()))
    strata = signature_strata(present)
    rng = np.random.default_rng(seed)
    out = np.concatenate([resampled_statistic(w.astype(np.float64), s_ll, s_cnt, unit, statistic)
                          for w in stratified_count_chunks(strata, n_resamples, rng)])
    alpha = 1.0 - conf
    lo, hi = np.quantile(out, [alpha / 2.0, 1.0 - alpha / 2.0])
    order = np.argsort(-full, kind="stable")
    fewest = int(present.sum(axis=0).min())
    note = ""
    if fewest < 10:
        note = (f"a group has only {fewest} {'clusters' if clusters is not None else 'documents'}: "
                "percentile bootstrap intervals tend to be too narrow with so few")
    return PerplexityBootstrap(estimate, float(lo), float(hi), statistic, unit, conf, int(n_resamples), n_clusters,
                               tuple(str(g_labels[i]) for i in order), tuple(float(full[i]) for i in order), note)
