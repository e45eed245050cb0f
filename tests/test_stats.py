"""Tests for pytest_misalign.stats against independent references.

References: statsmodels (test-only dependency), published worked examples,
closed forms derived independently in this file, and exact / seeded coverage
computations.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import gammaln
from scipy.stats import norm

import statsmodels.stats.proportion as sm_prop  # noqa: E402  (a test dependency: never skipped)
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar  # noqa: E402
from statsmodels.stats.multitest import multipletests  # noqa: E402

from pytest_misalign import stats as S  # noqa: E402
from pytest_misalign.stats import (
    cluster_bootstrap,
    holm,
    max_gap_bounds,
    max_gap_intervals,
    mcnemar_pvalue,
    newcombe_interval,
    paired_difference_interval,
    required_n,
    required_n_gap,
    verdict,
    wilson_interval,
)

CONFS = (0.90, 0.95, 0.99)


def _grid_counts(n: int) -> list[int]:
    return sorted({0, 1, n // 3, n // 2, n - 1, n} & set(range(n + 1)))


# ----------------------------------------------------------------- Wilson
WILSON_CASES = [
    (x, n, conf)
    for n in (1, 2, 3, 5, 10, 17, 50, 100, 1000)
    for x in _grid_counts(n)
    for conf in CONFS
]


@pytest.mark.parametrize("x,n,conf", WILSON_CASES)
def test_wilson_matches_statsmodels(x, n, conf):
    ref = sm_prop.proportion_confint(x, n, alpha=1 - conf, method="wilson")
    got = wilson_interval(x, n, conf)
    assert got == pytest.approx(ref, abs=1e-10)


def test_wilson_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and 0 < hi < 1
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and 0 < lo < 1
    # interval always contains the estimate and narrows with n
    assert wilson_interval(80, 100)[1] - wilson_interval(80, 100)[0] > (
        wilson_interval(800, 1000)[1] - wilson_interval(800, 1000)[0]
    )
    with pytest.raises(ValueError, match="exceed"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError):
        wilson_interval(-1, 10)
    with pytest.raises(ValueError):
        wilson_interval(1, 0)


# --------------------------------------------------------------- Newcombe
NEWCOMBE_CASES = [
    (x1, n1, x2, n2, conf)
    for n1 in (1, 5, 37, 100)
    for n2 in (1, 10, 80)
    for x1 in _grid_counts(n1)
    for x2 in _grid_counts(n2)
    for conf in (0.9, 0.99)
]


@pytest.mark.parametrize("x1,n1,x2,n2,conf", NEWCOMBE_CASES)
def test_newcombe_matches_statsmodels(x1, n1, x2, n2, conf):
    ref = sm_prop.confint_proportions_2indep(
        x1, n1, x2, n2, method="newcomb", compare="diff", alpha=1 - conf
    )
    assert newcombe_interval(x1, n1, x2, n2, conf) == pytest.approx(ref, abs=1e-10)


# Newcombe (1998a) worked examples, method 10, 95 %.  The published 4-decimal
# values agree with statsmodels except example (c) 6/7 vs 2/7: the value quoted
# in the design brief, (0.0531, 0.8257), does not match method 10; statsmodels
# and an independent hand computation give (0.0582, 0.8062), which is used.
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
]


@pytest.mark.parametrize("counts,expected", NEWCOMBE_TABLE_II)
def test_newcombe_published_examples(counts, expected):
    got = newcombe_interval(*counts)
    assert got == pytest.approx(expected, abs=5e-5)
    ref = sm_prop.confint_proportions_2indep(*counts, method="newcomb", compare="diff")
    assert got == pytest.approx(ref, abs=1e-10)


def test_newcombe_hand_computation_6_of_7():
    # Independent hand computation for the disputed example (c).
    z = norm.ppf(0.975)

    def wil(x, n):
        p = x / n
        c = (p + z * z / (2 * n)) / (1 + z * z / n)
        h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return c - h, c + h

    (l1, u1), (l2, u2) = wil(6, 7), wil(2, 7)
    d = 6 / 7 - 2 / 7
    lo = d - math.hypot(6 / 7 - l1, u2 - 2 / 7)
    hi = d + math.hypot(u1 - 6 / 7, 2 / 7 - l2)
    assert newcombe_interval(6, 7, 2, 7) == pytest.approx((lo, hi), abs=1e-12)
    assert (round(lo, 4), round(hi, 4)) == (0.0582, 0.8062)


def test_newcombe_edges():
    assert newcombe_interval(0, 0, 3, 10) == (-1.0, 1.0)
    assert newcombe_interval(3, 10, 0, 0) == (-1.0, 1.0)
    lo, hi = newcombe_interval(10, 10, 0, 10)
    assert hi == 1.0 and 0 < lo < 1
    lo, hi = newcombe_interval(0, 10, 10, 10)
    assert lo == -1.0 and -1 < hi < 0
    with pytest.raises(ValueError):
        newcombe_interval(5, 4, 1, 2)


# ---------------------------------------------------------------- McNemar
MCNEMAR_CASES = [(b, c) for b in range(0, 26, 1) for c in range(0, 26, 3)] + [
    (100, 130), (500, 430), (1, 60), (0, 7), (7, 0), (250, 250)
]


@pytest.mark.parametrize("b,c", MCNEMAR_CASES)
def test_mcnemar_matches_statsmodels(b, c):
    ref = sm_mcnemar([[10, b], [c, 5]], exact=True).pvalue
    assert mcnemar_pvalue(b, c) == pytest.approx(ref, rel=1e-10, abs=1e-14)


def test_mcnemar_edges_and_published():
    assert mcnemar_pvalue(0, 0) == 1.0
    assert mcnemar_pvalue(4, 4) == 1.0
    # Fagerland, Lydersen & Laake (2017), Cavo et al. (2012) data: b=6, c=16
    assert mcnemar_pvalue(6, 16) == pytest.approx(0.052479, abs=5e-7)
    # hand computation: 2 * P[Bin(11, 1/2) <= 2] = 2 * 67 / 2048
    assert mcnemar_pvalue(9, 2) == pytest.approx(2 * 67 / 2048, rel=1e-12)
    with pytest.raises(ValueError):
        mcnemar_pvalue(-1, 3)
    with pytest.raises(ValueError):
        mcnemar_pvalue(1.5, 3)


# ------------------------------------------------------------------- Holm
def _holm_inputs():
    rng = np.random.default_rng(7)
    cases = [
        [0.01, 0.04, 0.03, 0.005],
        [0.5],
        [0.0, 1.0, 0.2, 0.2, 0.2],
        [1.0, 1.0],
        [0.04, 0.04, 0.04],
    ]
    for m in (2, 5, 13, 40):
        cases.append(list(rng.uniform(0, 0.2, m)))
        cases.append(list(np.round(rng.uniform(0, 1, m), 2)))  # ties
    return cases


@pytest.mark.parametrize("pvals", _holm_inputs())
def test_holm_matches_statsmodels(pvals):
    ref = multipletests(pvals, method="holm")[1]
    got = holm(pvals)
    assert isinstance(got, list) and len(got) == len(pvals)
    assert got == pytest.approx(list(ref), abs=1e-12)
    assert all(0 <= v <= 1 for v in got)
    order = np.argsort(pvals, kind="stable")
    assert np.all(np.diff(np.asarray(got)[order]) >= -1e-15)  # monotone


def test_holm_edges():
    assert holm([]) == []
    assert holm((0.3,)) == [0.3]
    for bad in ([0.1, float("nan")], [1.2], [-0.1]):
        with pytest.raises(ValueError):
            holm(bad)


# ------------------------------------------------- paired difference (1998b)
def _paired_reference(a, b, c, d, conf=0.95):
    """Straightforward re-implementation from Newcombe (1998b) method 10.

    Marginal Wilson intervals come from statsmodels; phi is the corrected
    correlation estimate of the paper.
    """
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = sm_prop.proportion_confint(a + b, n, alpha=1 - conf, method="wilson")
    l2, u2 = sm_prop.proportion_confint(a + c, n, alpha=1 - conf, method="wilson")
    denom = (a + b) * (c + d) * (a + c) * (b + d)
    A = a * d - b * c
    if denom == 0:
        phi = 0.0
    elif A > n / 2:
        phi = (A - n / 2) / math.sqrt(denom)
    elif A < 0:
        phi = A / math.sqrt(denom)
    else:
        phi = 0.0
    delta = math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    eps = math.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    return (b - c) / n - delta, (b - c) / n + eps


PAIRED_TABLES = [
    (59, 6, 16, 80),  # Cavo et al. 2012 (Fagerland et al. 2017)
    (1, 1, 7, 12),  # Bentur et al. 2009 (Fagerland et al. 2014)
    (14, 5, 0, 22),  # Altman et al. (2000) "Statistics with confidence", table 6.2
    (12, 9, 2, 21),
    (0, 0, 0, 10),
    (10, 0, 0, 0),
    (0, 5, 5, 0),
    (3, 0, 0, 3),
    (0, 4, 0, 0),
    (40, 2, 1, 3),
    (5, 20, 1, 5),
    (2, 1, 1, 2),
]


@pytest.mark.parametrize("table", PAIRED_TABLES)
@pytest.mark.parametrize("conf", CONFS)
def test_paired_matches_reimplementation(table, conf):
    a, b, c, d = table
    n = a + b + c + d
    ref = _paired_reference(a, b, c, d, conf)
    got = paired_difference_interval(b, c, n, conf, a=a)
    assert got == pytest.approx(ref, abs=1e-10)
    assert got[0] <= (b - c) / n <= got[1]
    assert -1 <= got[0] <= got[1] <= 1


def test_paired_published_example():
    # Fagerland, Lydersen & Laake (2017), Cavo et al. data: Newcombe
    # square-and-add estimate -0.0621, 95 % CI (-0.1186, -0.0046).
    lo, hi = paired_difference_interval(6, 16, 161, a=59)
    assert (lo, hi) == pytest.approx((-0.1186, -0.0046), abs=5e-5)


def test_paired_phi_correction_matters():
    # 0 <= ad - bc <= n/2 -> phi set to 0: equals the independent-style
    # square-and-add of the two marginal Wilson intervals.
    a, b, c, d = 2, 1, 1, 2  # ad - bc = 3 = n/2
    n = 6
    got = paired_difference_interval(b, c, n, a=a)
    ind = newcombe_interval(a + b, n, a + c, n)
    assert got == pytest.approx(ind, abs=1e-12)
    # strong positive association narrows the interval vs. ignoring pairing
    got = paired_difference_interval(2, 1, 46, a=40)
    ind = newcombe_interval(42, 46, 41, 46)
    assert got[1] - got[0] < ind[1] - ind[0] - 0.02


def test_paired_edges():
    assert paired_difference_interval(0, 0, 0, a=0) == (-1.0, 1.0)
    with pytest.raises(ValueError, match="cannot exceed"):
        paired_difference_interval(5, 5, 9, a=0)
    with pytest.raises(TypeError):
        paired_difference_interval(1, 2, 10)  # a is required


def _log_multinomial_pmf(n, a, b, c, d, probs):
    lp = gammaln(n + 1) - gammaln(a + 1) - gammaln(b + 1) - gammaln(c + 1) - gammaln(d + 1)
    for k, p in zip((a, b, c, d), probs):
        if k:
            lp += k * math.log(p)
    return lp


@pytest.mark.parametrize(
    "p11,p10,p01,n",
    [(0.6, 0.1, 0.05, 40), (0.3, 0.2, 0.2, 30), (0.7, 0.05, 0.15, 50), (0.3, 0.3, 0.1, 25)],
)
def test_paired_exact_coverage(p11, p10, p01, n):
    """Exact coverage by enumerating every table (no Monte Carlo error)."""
    probs = (p11, p10, p01, 1 - p11 - p10 - p01)
    delta = p10 - p01
    cover = 0.0
    for a in range(n + 1):
        for b in range(n + 1 - a):
            for c in range(n + 1 - a - b):
                d = n - a - b - c
                lo, hi = paired_difference_interval(b, c, n, a=a)
                if lo <= delta <= hi:
                    cover += math.exp(_log_multinomial_pmf(n, a, b, c, d, probs))
    assert 0.93 <= cover <= 0.995


def test_paired_simulated_coverage_large_n():
    rng = np.random.default_rng(2024)
    probs = np.array([0.55, 0.12, 0.08, 0.25])
    n, reps = 200, 3000
    tables = rng.multinomial(n, probs, size=reps)
    uniq, counts = np.unique(tables, axis=0, return_counts=True)
    delta = probs[1] - probs[2]
    hits = 0
    for (a, b, c, _d), k in zip(uniq, counts):
        lo, hi = paired_difference_interval(int(b), int(c), n, a=int(a))
        hits += k * (lo <= delta <= hi)
    assert hits / reps >= 0.93


# ------------------------------------------------------- cluster bootstrap
def test_bootstrap_iid_matches_wilson():
    rng = np.random.default_rng(1)
    n = 4000
    y = rng.random(n) < 0.8
    res = cluster_bootstrap(y, None, None, "accuracy", n_resamples=4000, seed=3)
    wl, wh = wilson_interval(int(y.sum()), n)
    assert res.estimate == pytest.approx(y.mean())
    assert res.lo == pytest.approx(wl, abs=0.01)
    assert res.hi == pytest.approx(wh, abs=0.01)
    assert res.n_clusters == n and not res.degenerate


def _exact_total_pmf(cluster_successes: np.ndarray, per: int) -> np.ndarray:
    """Exact bootstrap pmf of the resampled success total.

    Drawing C equal-size clusters with replacement makes the resampled total
    the C-fold convolution of the empirical pmf of per-cluster successes.
    """
    emp = np.bincount(cluster_successes, minlength=per + 1) / cluster_successes.size
    pmf = np.array([1.0])
    for _ in range(cluster_successes.size):
        pmf = np.convolve(pmf, emp)
    return pmf


def _quantile_from_pmf(pmf: np.ndarray, q: float) -> int:
    return int(np.searchsorted(np.cumsum(pmf), q - 1e-12))


def test_bootstrap_percentiles_match_exact_bootstrap_distribution():
    # clusters of equal size: the percentile interval must equal the
    # quantiles of the exact bootstrap distribution up to Monte Carlo error.
    rng = np.random.default_rng(12)
    n_clusters, per = 25, 20
    cluster_p = rng.uniform(0.3, 1.0, n_clusters)
    succ = rng.binomial(per, cluster_p)
    clusters = np.repeat(np.arange(n_clusters), per)
    y = np.concatenate([np.arange(per) < s for s in succ])
    pmf = _exact_total_pmf(succ, per)
    total = n_clusters * per
    sd = math.sqrt(n_clusters * succ.var())
    for conf in (0.9, 0.95):
        res = cluster_bootstrap(y, clusters, confidence=conf, n_resamples=20_000, seed=5)
        q_lo = _quantile_from_pmf(pmf, (1 - conf) / 2)
        q_hi = _quantile_from_pmf(pmf, 1 - (1 - conf) / 2)
        assert res.lo * total == pytest.approx(q_lo, abs=max(2.0, 0.1 * sd))
        assert res.hi * total == pytest.approx(q_hi, abs=max(2.0, 0.1 * sd))


def test_bootstrap_stratified_gap_matches_exact_distribution():
    # nested design (clusters inside groups): stratified resampling keeps 8
    # clusters of A and 6 of B in every resample, so the gap distribution is
    # that of two independent convolutions.
    rng = np.random.default_rng(13)
    per = 15
    succ_a = rng.binomial(per, rng.uniform(0.6, 1.0, 8))
    succ_b = rng.binomial(per, rng.uniform(0.3, 0.9, 6))
    succ = np.concatenate([succ_a, succ_b])
    clusters = np.repeat(np.arange(14), per)
    groups = np.repeat(["A"] * 8 + ["B"] * 6, per)
    y = np.concatenate([np.arange(per) < s for s in succ])
    pa, pb = _exact_total_pmf(succ_a, per), _exact_total_pmf(succ_b, per)
    gaps = (np.arange(pa.size)[:, None] / (8 * per) - np.arange(pb.size)[None, :] / (6 * per)).ravel()
    probs = np.outer(pa, pb).ravel()
    order = np.argsort(gaps, kind="stable")
    cdf = np.cumsum(probs[order])
    q = lambda t: gaps[order][np.searchsorted(cdf, t - 1e-12)]  # noqa: E731
    res = cluster_bootstrap(y, clusters, groups, "gap", n_resamples=20_000, seed=1)
    assert res.n_strata == 2
    assert res.lo == pytest.approx(q(0.025), abs=0.012)
    assert res.hi == pytest.approx(q(0.975), abs=0.012)


def test_bootstrap_iid_gap_matches_newcombe():
    rng = np.random.default_rng(2)
    g = np.repeat(["a", "b"], 1500)
    y = np.where(g == "a", rng.random(3000) < 0.85, rng.random(3000) < 0.75)
    res = cluster_bootstrap(y, np.arange(3000), g, "gap", n_resamples=3000, seed=0)
    xa, xb = int(y[g == "a"].sum()), int(y[g == "b"].sum())
    ref = newcombe_interval(xa, 1500, xb, 1500)
    assert res.groups == ("a", "b")
    assert res.estimate == pytest.approx(xa / 1500 - xb / 1500)
    assert (res.lo, res.hi) == pytest.approx(ref, abs=0.01)


def _clustered_data(rng, n_clusters=20, per=100):
    cluster_p = np.where(np.arange(n_clusters) % 2 == 0, 0.95, 0.35)
    clusters = np.repeat(np.arange(n_clusters), per)
    y = rng.random(n_clusters * per) < cluster_p[clusters]
    return y, clusters


def test_bootstrap_correlated_clusters_wider_than_naive():
    y, clusters = _clustered_data(np.random.default_rng(3))
    res = cluster_bootstrap(y, clusters, None, "accuracy", n_resamples=4000)
    naive = wilson_interval(int(y.sum()), y.size)
    assert res.hi - res.lo > 2.0 * (naive[1] - naive[0])
    assert res.lo <= res.estimate <= res.hi


def test_bootstrap_crossed_design_keeps_pairing():
    # every cluster holds one item per group (counterfactual variants); a
    # strong cluster effect cancels in the gap, so the cluster bootstrap must
    # be much narrower than an interval treating the groups as independent.
    rng = np.random.default_rng(4)
    n_clusters = 300
    base = rng.random(n_clusters) < 0.7
    flip = rng.random(n_clusters) < 0.05
    y = np.concatenate([base, base ^ flip])
    clusters = np.concatenate([np.arange(n_clusters)] * 2)
    groups = np.repeat(["orig", "variant"], n_clusters)
    res = cluster_bootstrap(y, clusters, groups, "gap", n_resamples=4000)
    assert res.n_strata == 1
    ind = newcombe_interval(int(base.sum()), n_clusters, int((base ^ flip).sum()), n_clusters)
    assert res.hi - res.lo < 0.5 * (ind[1] - ind[0])


def test_bootstrap_deterministic_with_seed():
    y, clusters = _clustered_data(np.random.default_rng(5))
    groups = np.where(np.arange(y.size) % 3 == 0, "x", "y")
    a = cluster_bootstrap(y, clusters, groups, "gap", n_resamples=2000, seed=11)
    b = cluster_bootstrap(y, clusters, groups, "gap", n_resamples=2000, seed=11)
    c = cluster_bootstrap(y, clusters, groups, "gap", n_resamples=2000, seed=12)
    assert a == b
    assert (a.lo, a.hi) != (c.lo, c.hi)


def _awkward_design(rng):
    """Groups with very different cluster coverage, clusters crossing groups."""
    n_clusters, per = 30, 40
    clusters = np.repeat(np.arange(n_clusters), per)
    groups = np.full(clusters.size, "common", dtype=object)
    # "rare": items in exactly 2 clusters; "mid": items in 5 clusters
    groups[(clusters == 3) & (np.arange(clusters.size) % 4 == 0)] = "rare"
    groups[(clusters == 17) & (np.arange(clusters.size) % 5 == 0)] = "rare"
    groups[(clusters % 6 == 1) & (np.arange(clusters.size) % 2 == 0)] = "mid"
    y = rng.random(clusters.size) < 0.7
    return y, clusters, groups.astype(str)


def test_bootstrap_no_group_ever_empty():
    y, clusters, groups = _awkward_design(np.random.default_rng(6))
    c_lab, c_idx = np.unique(clusters, return_inverse=True)
    g_lab, g_idx = np.unique(groups, return_inverse=True)
    N = np.zeros((c_lab.size, g_lab.size))
    np.add.at(N, (c_idx, g_idx), 1)
    strata = S.signature_strata(N > 0)
    sizes = np.bincount(strata)
    rng = np.random.default_rng(0)
    total = 0
    # small chunk size to exercise chunking
    for counts in S.stratified_count_chunks(strata, 5000, rng, chunk_elements=3000):
        assert counts.shape[1] == c_lab.size
        assert np.all(counts.sum(axis=1) == c_lab.size)
        # each stratum contributes exactly its own size of draws per resample
        per_stratum = np.stack([counts[:, strata == s].sum(axis=1) for s in range(sizes.size)], 1)
        assert np.all(per_stratum == sizes)
        assert np.all(counts @ N > 0)  # every group has items in every resample
        total += counts.shape[0]
    assert total == 5000

    with np.errstate(divide="raise", invalid="raise"):
        res = cluster_bootstrap(y, clusters, groups, "max_gap", n_resamples=3000)
    assert not res.degenerate and np.isfinite([res.lo, res.hi]).all()
    assert res.min_group_clusters == 2
    assert res.lo <= res.estimate <= res.hi


def test_bootstrap_nested_design_stratifies_by_group():
    rng = np.random.default_rng(8)
    clusters = np.repeat(np.arange(12), 50)
    groups = np.where(clusters < 2, "small", "big")  # "small" has only 2 clusters
    y = rng.random(clusters.size) < np.where(groups == "small", 0.6, 0.8)
    res = cluster_bootstrap(y, clusters, groups, "gap", pair=("big", "small"), n_resamples=2000)
    assert res.n_strata == 2 and res.groups == ("big", "small")
    assert res.estimate == pytest.approx(y[groups == "big"].mean() - y[groups == "small"].mean())
    assert "cluster" in res.note  # few-clusters warning in the note


def test_bootstrap_degenerate_single_cluster():
    y = np.array([1, 1, 0, 1, 0, 1, 1, 1], dtype=bool)
    one = np.zeros(y.size)
    res = cluster_bootstrap(y, one)
    assert res.degenerate and (res.lo, res.hi) == (0.0, 1.0)
    assert res.estimate == pytest.approx(0.75) and res.n_clusters == 1
    assert verdict(res.lo, res.hi, min=0.5) == "inconclusive"
    res = cluster_bootstrap(y, one, on_degenerate="point")
    assert res.degenerate and res.lo == res.hi == res.estimate
    with pytest.raises(ValueError, match="single cluster"):
        cluster_bootstrap(y, one, on_degenerate="raise")


def test_bootstrap_degenerate_group_in_one_cluster():
    rng = np.random.default_rng(9)
    clusters = np.repeat(np.arange(10), 20)
    groups = np.where(clusters == 0, "lonely", "crowd")
    y = rng.random(clusters.size) < 0.7
    res = cluster_bootstrap(y, clusters, groups, "gap")
    assert res.degenerate and (res.lo, res.hi) == (-1.0, 1.0)
    assert "lonely" in res.note
    with pytest.raises(ValueError):
        cluster_bootstrap(y, clusters, groups, "gap", on_degenerate="raise")


def test_bootstrap_extreme_accuracies():
    clusters = np.repeat(np.arange(10), 5)
    res = cluster_bootstrap(np.ones(50, bool), clusters)
    assert (res.estimate, res.lo, res.hi) == (1.0, 1.0, 1.0)
    res = cluster_bootstrap(np.zeros(50, int), clusters)
    assert (res.estimate, res.lo, res.hi) == (0.0, 0.0, 0.0)


def test_bootstrap_validation():
    y = np.array([True, False, True, True])
    cl = np.array([0, 0, 1, 1])
    with pytest.raises(ValueError, match="empty"):
        cluster_bootstrap(np.array([], bool), np.array([]))
    with pytest.raises(ValueError, match="groups"):
        cluster_bootstrap(y, cl, None, "gap")
    with pytest.raises(ValueError, match="two groups"):
        cluster_bootstrap(y, cl, np.array(["a"] * 4), "max_gap")
    with pytest.raises(ValueError, match="exactly two"):
        cluster_bootstrap(y, cl, np.array(["a", "b", "c", "a"]), "gap")
    with pytest.raises(ValueError, match="does not occur"):
        cluster_bootstrap(y, cl, np.array(["a", "b", "a", "b"]), "gap", pair=("a", "z"))
    with pytest.raises(ValueError, match="one entry per item"):
        cluster_bootstrap(y, cl[:3])
    with pytest.raises(ValueError, match="0 and 1"):
        cluster_bootstrap(np.array([0, 2, 1, 1]), cl)
    with pytest.raises(ValueError):
        cluster_bootstrap(y, cl, n_resamples=0)
    with pytest.raises(ValueError):
        cluster_bootstrap(y, cl, statistic="median")


# -------------------------------------------------------- max_gap_intervals
def test_max_gap_intervals_against_references():
    groups = {"en": (180, 200), "es": (150, 200), "hi": (120, 190), "sw": (70, 120)}
    pairs = max_gap_intervals(groups, 0.95, "holm")
    m = 6
    assert len(pairs) == m
    assert [p.is_max for p in pairs] == [True] + [False] * (m - 1)
    assert pairs[0].higher == "en" and pairs[0].lower == "sw"
    assert all(pairs[i].gap >= pairs[i + 1].gap for i in range(m - 1))
    raw = []
    for p in pairs:
        (xh, nh), (xl, nl) = groups[p.higher], groups[p.lower]
        assert p.gap == pytest.approx(xh / nh - xl / nl) and p.gap >= 0
        assert p.interval_confidence == pytest.approx(1 - 0.05 / m)
        assert (p.lo, p.hi) == pytest.approx(
            sm_prop.confint_proportions_2indep(xh, nh, xl, nl, method="newcomb", alpha=0.05 / m),
            abs=1e-10,
        )
        assert p.pvalue == pytest.approx(sm_prop.proportions_ztest([xh, xl], [nh, nl])[1], rel=1e-9)
        raw.append(p.pvalue)
    adj = multipletests(raw, method="holm")[1]
    assert [p.adjusted_pvalue for p in pairs] == pytest.approx(list(adj), abs=1e-12)
    assert [p.significant for p in pairs] == [bool(a <= 0.05) for a in adj]

    bonf = max_gap_intervals(groups, 0.95, "bonferroni")
    assert [p.adjusted_pvalue for p in bonf] == pytest.approx([min(1, m * v) for v in raw])
    assert [(p.lo, p.hi) for p in bonf] == [(p.lo, p.hi) for p in pairs]
    none = max_gap_intervals(groups, 0.95, "none")
    assert none[0].interval_confidence == 0.95
    assert none[0].hi - none[0].lo < pairs[0].hi - pairs[0].lo


def test_max_gap_bounds():
    groups = {"a": (50, 100), "b": (52, 100), "c": (90, 100)}
    pairs = max_gap_intervals(groups)
    lo, hi = max_gap_bounds(pairs)
    assert lo == pytest.approx(max(max(p.lo, 0) for p in pairs))
    assert hi == pytest.approx(max(max(p.hi, -p.lo) for p in pairs))
    assert lo <= pairs[0].gap <= hi
    # hand case: an interval whose lower end is very negative bounds |d|
    fake = [S.PairGap("x", "y", 0.5, 0.5, 0.0, -0.3, 0.2, 1.0, 1.0, False, 0.95, True)]
    assert max_gap_bounds(fake) == (0.0, 0.3)


def test_max_gap_edges():
    with pytest.raises(ValueError, match="at least two"):
        max_gap_intervals({"only": (5, 10)})
    with pytest.raises(ValueError, match="n = 0"):
        max_gap_intervals({"a": (5, 10), "b": (0, 0)})
    with pytest.raises(ValueError):
        max_gap_intervals({"a": (5, 10), "b": (1, 2)}, correction="sidak")
    # 0 % and 100 % groups; ties keep mapping order
    pairs = max_gap_intervals({"z": (0, 10), "o": (10, 10)})
    assert (pairs[0].higher, pairs[0].lower, pairs[0].gap) == ("o", "z", 1.0)
    assert pairs[0].hi == 1.0
    pairs = max_gap_intervals({"p": (3, 10), "q": (3, 10)})
    assert (pairs[0].higher, pairs[0].gap, pairs[0].pvalue) == ("p", 0.0, 1.0)
    pairs = max_gap_intervals({"p": (0, 10), "q": (0, 5)})
    assert pairs[0].pvalue == 1.0  # pooled 0 %: no evidence of a gap


# ----------------------------------------------------------------- verdict
@pytest.mark.parametrize(
    "lo,hi,kw,expected",
    [
        (0.82, 0.90, {"min": 0.8}, "pass"),
        (0.80, 0.90, {"min": 0.8}, "pass"),  # boundary counts as met
        (0.70, 0.79, {"min": 0.8}, "fail"),
        (0.70, 0.80, {"min": 0.8}, "inconclusive"),
        (0.75, 0.85, {"min": 0.8}, "inconclusive"),
        (0.00, 0.04, {"max": 0.05}, "pass"),
        (0.06, 0.10, {"max": 0.05}, "fail"),
        (0.03, 0.07, {"max": 0.05}, "inconclusive"),
        (0.85, 0.88, {"min": 0.8, "max": 0.9}, "pass"),
        (0.85, 0.95, {"min": 0.8, "max": 0.9}, "inconclusive"),
        (0.91, 0.95, {"min": 0.8, "max": 0.9}, "fail"),
        (0.70, 0.95, {"min": 0.8, "max": 0.9}, "inconclusive"),
        (0.5, 0.5, {"min": 0.5}, "pass"),
    ],
)
def test_verdict(lo, hi, kw, expected):
    assert verdict(lo, hi, **kw) == expected


def test_verdict_validation():
    with pytest.raises(ValueError):
        verdict(0.1, 0.2)
    with pytest.raises(ValueError):
        verdict(0.3, 0.2, min=0.1)
    with pytest.raises(ValueError):
        verdict(0.1, 0.2, min=0.5, max=0.4)
    with pytest.raises(ValueError):
        verdict(float("nan"), 0.2, min=0.1)


# -------------------------------------------------------------- required_n
REQ_CASES = [
    (p, t, conf)
    for p, t in [
        (0.80, 0.75), (0.70, 0.75), (0.91, 0.90), (0.50, 0.60), (1.0, 0.9),
        (0.0, 0.05), (0.99, 1.0), (0.3, 0.0), (0.62, 0.6),
    ]
    for conf in CONFS
]


@pytest.mark.parametrize("p,t,conf", REQ_CASES)
def test_required_n_closed_form_and_flip(p, t, conf):
    n = required_n(p, t, conf)
    z = norm.isf((1 - conf) / 2)
    # independent closed form: t outside the Wilson set iff n > z² t(1-t)/(p-t)²
    assert n == math.floor(z * z * t * (1 - t) / (p - t) ** 2) + 1
    lo, hi = wilson_interval(p * n, n, conf)
    assert not (lo <= t <= hi)
    check = {"min": t} if t > 0 else {"max": t}
    assert verdict(lo, hi, **check) != "inconclusive"
    if n > 1:
        lo1, hi1 = wilson_interval(p * (n - 1), n - 1, conf)
        assert lo1 <= t <= hi1
        assert verdict(lo1, hi1, **check) == "inconclusive"


def test_required_n_hand_values():
    # 95 %: 0.8 observed vs 0.75 threshold: 1.959964² * .1875 / .0025 = 288.1 -> 289
    assert required_n(0.8, 0.75) == 289
    assert required_n(0.8, 0.8) is None
    assert required_n(0.9 - 0.1, 0.8) is None  # float noise treated as equal
    with pytest.raises(ValueError):
        required_n(1.2, 0.5)
    with pytest.raises(ValueError):
        required_n(0.8, 0.75, confidence=1.0)


@pytest.mark.parametrize(
    "p1,p2,t",
    [(0.90, 0.80, 0.0), (0.90, 0.80, 0.2), (0.85, 0.80, 0.1), (1.0, 0.0, 0.9),
     (0.5, 0.5, 0.05), (0.7, 0.75, 0.0), (0.0, 0.0, 0.02)],
)
def test_required_n_gap_flip(p1, p2, t):
    n = required_n_gap(p1, p2, t)
    lo, hi = newcombe_interval(p1 * n, n, p2 * n, n)
    assert not (lo <= t <= hi)
    if n > 1:
        lo1, hi1 = newcombe_interval(p1 * (n - 1), n - 1, p2 * (n - 1), n - 1)
        assert lo1 <= t <= hi1


def test_required_n_gap_edges():
    assert required_n_gap(0.9, 0.8, 0.1) is None  # 0.9 - 0.8 == 0.1 up to float noise
    assert required_n_gap(0.5, 0.5, 0.0) is None
    # monotone in confidence
    assert required_n_gap(0.9, 0.8, 0.0, 0.99) > required_n_gap(0.9, 0.8, 0.0, 0.9)
    with pytest.raises(ValueError):
        required_n_gap(0.9, 0.8, 1.5)


# --------------------------------------------------- confidence validation
BAD_CONFIDENCES = [0.0, 1.0, -0.5, 1.5, float("nan"), 95, True, "0.95"]


@pytest.mark.parametrize("conf", BAD_CONFIDENCES)
@pytest.mark.parametrize(
    "call",
    [
        lambda c: wilson_interval(3, 10, c),
        lambda c: newcombe_interval(3, 10, 4, 10, c),
        lambda c: paired_difference_interval(1, 2, 10, c, a=3),
        lambda c: cluster_bootstrap(np.array([1, 0, 1]), np.array([0, 1, 2]), confidence=c),
        lambda c: max_gap_intervals({"a": (3, 10), "b": (5, 10)}, c),
        lambda c: required_n(0.8, 0.7, c),
        lambda c: required_n_gap(0.8, 0.7, 0.0, c),
    ],
    ids=["wilson", "newcombe", "paired", "bootstrap", "max_gap", "required_n", "required_n_gap"],
)
def test_confidence_outside_unit_interval_raises(call, conf):
    with pytest.raises(ValueError, match="confidence"):
        call(conf)


# ------------------------------------------------ one-sided binomial test
@pytest.mark.parametrize("k,n,p0", [(0, 10, 0.5), (5, 10, 0.5), (8, 10, 0.5), (10, 10, 0.5), (30, 50, 1 / 3),
                                    (13, 20, 0.25), (1, 1, 0.9), (60, 100, 0.5), (400, 1000, 0.38)])
def test_binomial_greater_matches_scipy_statsmodels_and_hand_sum(k, n, p0):
    from scipy.stats import binomtest
    from statsmodels.stats.proportion import binom_test

    got = S.binomial_greater_pvalue(k, n, p0)
    assert got == pytest.approx(binomtest(k, n, p0, alternative="greater").pvalue, rel=1e-9, abs=1e-15)
    assert got == pytest.approx(binom_test(k, n, p0, alternative="larger"), rel=1e-9, abs=1e-15)
    hand = sum(math.comb(n, j) * p0 ** j * (1 - p0) ** (n - j) for j in range(k, n + 1))
    assert got == pytest.approx(min(hand, 1.0), rel=1e-9, abs=1e-15)


def test_binomial_greater_edges():
    assert S.binomial_greater_pvalue(0, 0, 0.5) == 1.0
    assert S.binomial_greater_pvalue(10, 10, 1.0) == 1.0  # nobody beats a chance level of 100 %
    assert S.binomial_greater_pvalue(5, 10, 0.0) == 0.0  # any success beats a chance level of 0
    assert S.binomial_greater_pvalue(0, 10, 0.0) == 1.0
    for bad in ((11, 10, 0.5), (-1, 10, 0.5), (3, 10, 1.5)):
        with pytest.raises(ValueError):
            S.binomial_greater_pvalue(*bad)


def test_every_public_name_is_exported():
    import pytest_misalign.stats as package

    for name in package.__all__:
        assert callable(getattr(package, name)) or isinstance(getattr(package, name), type)
