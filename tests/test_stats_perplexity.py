"""Perplexity aggregation against lm-eval's metric functions, and the vectorised bootstrap against
a plain-loop reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_misalign.stats.perplexity import (
    cluster_sums,
    perplexity_bootstrap,
    resampled_statistic,
    summary,
    unit_value,
)

RNG = np.random.default_rng(7)
N = 36
LL = -RNG.uniform(20, 200, N)
WORDS = RNG.integers(5, 40, N)
BYTES = WORDS * RNG.integers(4, 7, N)
DOMAIN = np.array(["law", "medicine", "finance", "general"] * (N // 4), dtype=object)
DOMAIN_LL = LL * np.where(DOMAIN == "law", 1.3, 1.0)  # law is harder


def test_summary_matches_lm_eval_metrics():
    from lm_eval.api.metrics import bits_per_byte, weighted_perplexity

    got = summary(LL, WORDS, BYTES)
    assert got["n"] == N
    assert got["word_perplexity"] == pytest.approx(weighted_perplexity(list(zip(LL, WORDS))), rel=1e-12)
    assert got["byte_perplexity"] == pytest.approx(weighted_perplexity(list(zip(LL, BYTES))), rel=1e-12)
    assert got["bits_per_byte"] == pytest.approx(bits_per_byte(list(zip(LL, BYTES))), rel=1e-12)


def test_unit_value_by_hand():
    assert unit_value(-10.0, 5, "word") == pytest.approx(math.exp(2.0))
    assert unit_value(-10.0, 5, "bits_per_byte") == pytest.approx(2.0 / math.log(2))
    with pytest.raises(ValueError, match="unknown perplexity unit"):
        unit_value(-1.0, 1, "token")


def _loop_statistic(weights, ll, counts, groups, clusters, unit, statistic):
    """One resample by plain loops: weighted sums per group, then the statistic."""
    sums: dict = {}
    for i in range(len(ll)):
        w = weights[clusters[i]]
        entry = sums.setdefault(groups[i], [0.0, 0.0])
        entry[0] += w * ll[i]
        entry[1] += w * counts[i]
    if statistic == "value":
        return float(unit_value(sum(e[0] for e in sums.values()), sum(e[1] for e in sums.values()), unit))
    values = [float(unit_value(a, b, unit)) for a, b in sums.values()]
    return max(values) / min(values)


@pytest.mark.parametrize("unit", ["word", "byte", "bits_per_byte"])
@pytest.mark.parametrize("statistic", ["value", "ratio"])
def test_vectorised_resample_equals_loop(unit, statistic):
    labels, g = np.unique(DOMAIN, return_inverse=True)
    clusters = np.arange(N) // 3  # 12 clusters of 3 documents
    counts = WORDS if unit == "word" else BYTES
    s_ll, s_cnt, _ = cluster_sums(DOMAIN_LL, counts, g, clusters, len(labels), 12)
    weights = RNG.integers(0, 3, (20, 12)).astype(float)
    weights[:, :4] += 1  # every group drawn at least once
    got = resampled_statistic(weights, s_ll, s_cnt, unit, statistic)
    for row, value in zip(weights, got):
        assert value == pytest.approx(_loop_statistic(row, DOMAIN_LL, counts, g, clusters, unit, statistic), rel=1e-12)


def _loop_bootstrap(ll, counts, groups, n_resamples, seed, statistic, clusters=None):
    """Plain percentile bootstrap: documents (or clusters, each in one group) drawn with
    replacement within each group, Python loops."""
    rng = np.random.default_rng(seed)
    clusters = np.arange(len(ll)) if clusters is None else clusters
    by_group: dict = {}
    for c in dict.fromkeys(clusters):
        by_group.setdefault(groups[clusters == c][0], []).append(c)
    out = []
    for _ in range(n_resamples):
        weights = {}
        for members in by_group.values():
            for j in rng.integers(0, len(members), len(members)):
                weights[members[j]] = weights.get(members[j], 0) + 1
        w = np.array([weights.get(c, 0) for c in range(max(clusters) + 1)], dtype=float)
        out.append(_loop_statistic(w, ll, counts, groups, clusters, "word", statistic))
    return np.quantile(out, [0.025, 0.975])


@pytest.mark.parametrize("clustered", [False, True])
def test_bootstrap_interval_matches_loop_reference(clustered):
    clusters = None if not clustered else np.array([i % 4 + 4 * (i // 8) for i in range(N)])  # pairs per domain
    got = perplexity_bootstrap(DOMAIN_LL, WORDS, DOMAIN, clusters, statistic="ratio", n_resamples=4000, seed=1)
    ref = _loop_bootstrap(DOMAIN_LL, WORDS, DOMAIN, 4000, 2, "ratio", clusters)
    width = ref[1] - ref[0]
    assert got.lo == pytest.approx(ref[0], abs=0.08 * width)
    assert got.hi == pytest.approx(ref[1], abs=0.08 * width)
    table = {g: summary(DOMAIN_LL[DOMAIN == g], WORDS[DOMAIN == g], BYTES[DOMAIN == g])["word_perplexity"]
             for g in ("law", "medicine", "finance", "general")}
    assert got.estimate == pytest.approx(max(table.values()) / min(table.values()), rel=1e-12)
    worst = max(table, key=table.get)
    assert got.groups[0] == worst and got.values[0] == pytest.approx(table[worst])
    assert got.lo <= got.estimate <= got.hi


def test_bootstrap_value_interval_and_seed():
    a = perplexity_bootstrap(LL, WORDS, n_resamples=4000, seed=3)
    b = perplexity_bootstrap(LL, WORDS, n_resamples=4000, seed=3)
    assert (a.lo, a.hi) == (b.lo, b.hi)
    assert a.estimate == pytest.approx(summary(LL, WORDS, BYTES)["word_perplexity"])
    ref = _loop_bootstrap(LL, WORDS, np.zeros(N, dtype=int), 4000, 4, "value")
    width = ref[1] - ref[0]
    assert a.lo == pytest.approx(ref[0], abs=0.08 * width) and a.hi == pytest.approx(ref[1], abs=0.08 * width)


def test_singleton_clusters_equal_no_clusters():
    a = perplexity_bootstrap(DOMAIN_LL, WORDS, DOMAIN, None, statistic="ratio", n_resamples=500)
    b = perplexity_bootstrap(DOMAIN_LL, WORDS, DOMAIN, np.arange(N), statistic="ratio", n_resamples=500)
    assert (a.lo, a.hi) == (b.lo, b.hi)


def test_bootstrap_errors():
    with pytest.raises(ValueError, match="at least two groups"):
        perplexity_bootstrap(LL, WORDS, statistic="ratio")
    with pytest.raises(ValueError, match="one count per document"):
        perplexity_bootstrap(LL, WORDS[:-1])
