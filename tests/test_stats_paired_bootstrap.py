"""Tests for pytest_misalign.stats.paired_cluster_bootstrap against independent references: a plain
loop with the same draws, the exact bootstrap distribution (convolution), the paired Newcombe
interval for i.i.d. units, and coverage by simulation."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_misalign import stats as S
from pytest_misalign.stats import paired_difference_interval


# ------------------------------------------- paired cluster bootstrap
def _reference_paired_bootstrap(d, clusters, conf, n_resamples, seed):
    """Straightforward loop: the same draws (one rng.integers call, one row per resample)."""
    labels = sorted(set(clusters))
    index = {c: i for i, c in enumerate(labels)}
    k = len(labels)
    sums, sizes = [0.0] * k, [0] * k
    for value, c in zip(d, clusters):
        sums[index[c]] += value
        sizes[index[c]] += 1
    draws = np.random.default_rng(seed).integers(0, np.full(k, k), size=(n_resamples, k))
    means = []
    for row in draws:
        means.append(sum(sums[j] for j in row) / sum(sizes[j] for j in row))
    alpha = 1 - conf
    return np.quantile(means, [alpha / 2, 1 - alpha / 2])


def test_paired_cluster_bootstrap_matches_a_plain_loop():
    rng = np.random.default_rng(21)
    clusters = np.repeat([f"c{i}" for i in range(15)], rng.integers(1, 6, 15))
    d = rng.choice([-1, 0, 0, 1], size=clusters.size)
    for conf in (0.9, 0.95):
        res = S.paired_cluster_bootstrap(d, clusters, conf, n_resamples=3000, seed=4)
        ref = _reference_paired_bootstrap(d.tolist(), clusters.tolist(), conf, 3000, 4)
        assert (res.lo, res.hi) == pytest.approx(tuple(ref), abs=1e-12)
        assert res.estimate == pytest.approx(d.mean()) and res.n_clusters == 15 and res.n_items == d.size
        assert res.statistic == "paired_mean" and not res.degenerate and res.note == ""


def test_paired_cluster_bootstrap_matches_exact_bootstrap_distribution():
    # equal-size clusters: the resampled sum of differences is the C-fold convolution of the
    # empirical distribution of per-cluster sums (shifted to be non-negative).
    rng = np.random.default_rng(22)
    n_clusters, per = 20, 6
    d = rng.choice([-1, 0, 1], p=[0.2, 0.5, 0.3], size=n_clusters * per)
    clusters = np.repeat(np.arange(n_clusters), per)
    cluster_sums = d.reshape(n_clusters, per).sum(axis=1) + per  # in 0..2*per
    emp = np.bincount(cluster_sums, minlength=2 * per + 1) / n_clusters
    pmf = np.array([1.0])
    for _ in range(n_clusters):
        pmf = np.convolve(pmf, emp)
    means = (np.arange(pmf.size) - n_clusters * per) / (n_clusters * per)
    cdf = np.cumsum(pmf)
    res = S.paired_cluster_bootstrap(d, clusters, 0.95, n_resamples=20_000, seed=1)
    q_lo, q_hi = means[np.searchsorted(cdf, 0.025 - 1e-12)], means[np.searchsorted(cdf, 0.975 - 1e-12)]
    assert res.lo == pytest.approx(q_lo, abs=0.012)
    assert res.hi == pytest.approx(q_hi, abs=0.012)


def test_paired_cluster_bootstrap_coverage_by_simulation():
    """Clustered paired data with a known population mean difference: the 90 % interval covers it
    about 90 % of the time (percentile bootstrap with 40 clusters: a little under nominal)."""
    rng = np.random.default_rng(23)
    n_clusters, per, runs = 40, 5, 400
    true = 2 / 8 - (1 - 2 / 8) / 6  # E[p_plus] - E[p_minus] with the Beta draws below
    hits = 0
    for r in range(runs):
        p_plus = rng.beta(2, 6, n_clusters)  # each cluster has its own rates: correlated units
        p_minus = (1 - p_plus) * rng.beta(1, 5, n_clusters)
        u = rng.random((n_clusters, per))
        d = np.where(u < p_plus[:, None], 1, np.where(u < (p_plus + p_minus)[:, None], -1, 0))
        res = S.paired_cluster_bootstrap(d.ravel(), np.repeat(np.arange(n_clusters), per), 0.9,
                                         n_resamples=1000, seed=r)
        hits += res.lo <= true <= res.hi
    assert 0.84 <= hits / runs <= 0.95


def test_paired_cluster_bootstrap_iid_agrees_with_newcombe_paired():
    rng = np.random.default_rng(24)
    first = rng.random(2000) < 0.8
    second = np.where(rng.random(2000) < 0.9, first, ~first)
    d = first.astype(int) - second.astype(int)
    res = S.paired_cluster_bootstrap(d, None, n_resamples=4000, seed=0)
    a = int((first & second).sum())
    b = int((first & ~second).sum())
    c = int((~first & second).sum())
    assert (res.lo, res.hi) == pytest.approx(paired_difference_interval(b, c, 2000, a=a), abs=0.006)
    assert res.n_clusters == 2000


def test_paired_cluster_bootstrap_edges_and_validation():
    d = np.array([1, 0, -1, 1])
    one = np.zeros(4)
    res = S.paired_cluster_bootstrap(d, one)
    assert res.degenerate and (res.lo, res.hi) == (-1.0, 1.0) and "single cluster" in res.note
    res = S.paired_cluster_bootstrap(d, one, on_degenerate="point")
    assert res.lo == res.hi == 0.25
    with pytest.raises(ValueError, match="single cluster"):
        S.paired_cluster_bootstrap(d, one, on_degenerate="raise")
    few = S.paired_cluster_bootstrap(d, [0, 0, 1, 1], n_resamples=100)
    assert "only 2 clusters" in few.note
    a = S.paired_cluster_bootstrap(d, [0, 1, 2, 3], n_resamples=500, seed=3)
    assert a == S.paired_cluster_bootstrap(d, [0, 1, 2, 3], n_resamples=500, seed=3)
    with pytest.raises(ValueError, match="empty"):
        S.paired_cluster_bootstrap([], None)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        S.paired_cluster_bootstrap([0.5, 2.0], None)
    with pytest.raises(ValueError, match="one entry per unit|one entry per item"):
        S.paired_cluster_bootstrap(d, [0, 1])
    with pytest.raises(ValueError, match="confidence"):
        S.paired_cluster_bootstrap(d, None, confidence=1.5)
    with pytest.raises(ValueError, match="n_resamples"):
        S.paired_cluster_bootstrap(d, None, n_resamples=0)
