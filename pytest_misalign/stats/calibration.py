"""Likelihood statistics: a cluster bootstrap for the mean of unbounded per-unit values (e.g.
log-likelihood differences), and calibration (ECE, Brier) with a resampling interval.

``mean_cluster_bootstrap`` reuses :func:`paired_cluster_bootstrap` (defined for values in [-1, 1])
by scaling: the values are divided by ``M = max |v|``, bootstrapped, and the interval multiplied
back by ``M``. The resampling draws do not depend on the values and the percentile (linear
interpolation) commutes with a positive scale, so this is exactly the percentile cluster bootstrap
of the unscaled mean.

Calibration (top-label, Guo et al. 2017): per item the confidence is the largest softmax
probability over the choices and "correct" whether that choice is the gold one. Equal-width bins
``(b/M, (b+1)/M]`` (right-closed, the first also holds 0: ``numpy.searchsorted(edges[1:-1], conf)``,
the binning of ``sklearn.calibration.calibration_curve(strategy="uniform")``);
``ECE = sum_b |sum_{i in b} conf_i - sum_{i in b} correct_i| / N`` (= sum_b n_b/N |conf_b - acc_b|).
Brier (multi-class, lm-eval's ``brier_score``): ``mean_i sum_k (p_ik - [k = gold_i])^2``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence

import numpy as np

from .validation import check_confidence
from .bootstrap import BootstrapResult, check_resamples_and_seed, encode, stratified_count_chunks
from .paired_bootstrap import paired_cluster_bootstrap


def mean_cluster_bootstrap(values: np.ndarray | Sequence[float], clusters: Sequence[Hashable] | None = None,
                           confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0) -> BootstrapResult:
    """Percentile (cluster) bootstrap for the mean of finite per-unit values of any range.

    Units of a cluster are resampled together (``None``: each unit its own cluster). One cluster
    gives the uninformative ``(-max|v|, max|v|)`` and ``degenerate=True``. Raises ValueError for
    empty or non-finite values (as :func:`paired_cluster_bootstrap`)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError("values must be a non-empty 1-D array of finite numbers")
    scale = float(np.max(np.abs(v))) or 1.0
    res = paired_cluster_bootstrap(v / scale, clusters, confidence, n_resamples, seed)
    return dataclasses.replace(res, estimate=float(v.mean()), lo=res.lo * scale, hi=res.hi * scale,
                               statistic="mean")


def softmax_rows(scores: Sequence[Sequence[float]]) -> list[np.ndarray]:
    """Softmax of each item's per-choice log-likelihoods (items may have different numbers of choices)."""
    out = []
    for row in scores:
        s = np.asarray(row, dtype=np.float64)
        e = np.exp(s - s.max())
        out.append(e / e.sum())
    return out


def confidence_correct(scores: Sequence[Sequence[float]], gold: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(top-label confidence, argmax == gold) per item, from per-choice log-likelihoods."""
    probs = softmax_rows(scores)
    conf = np.array([p.max() for p in probs])
    correct = np.array([int(np.argmax(p)) == int(g) for p, g in zip(probs, gold)], dtype=np.float64)
    return conf, correct


def brier_scores(scores: Sequence[Sequence[float]], gold: Sequence[int]) -> np.ndarray:
    """Per-item multi-class Brier term sum_k (p_k - onehot_k)^2 (lm-eval's brier_score averages these)."""
    out = []
    for p, g in zip(softmax_rows(scores), gold):
        target = np.zeros_like(p)
        target[int(g)] = 1.0
        out.append(float(np.sum((p - target) ** 2)))
    return np.array(out)


def bin_index(conf: np.ndarray, bins: int) -> np.ndarray:
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.searchsorted(edges[1:-1], conf)


def reliability(conf: np.ndarray, correct: np.ndarray, bins: int) -> list[dict]:
    """Per non-empty bin: its edges, mean confidence, accuracy and count."""
    idx = bin_index(conf, bins)
    out = []
    for b in range(bins):
        mask = idx == b
        if mask.any():
            out.append({"lo": b / bins, "hi": (b + 1) / bins, "conf": float(conf[mask].mean()),
                        "acc": float(correct[mask].mean()), "count": int(mask.sum())})
    return out


def ece(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    idx = bin_index(np.asarray(conf, dtype=np.float64), bins)
    gap = np.bincount(idx, weights=np.asarray(conf) - np.asarray(correct), minlength=bins)
    return float(np.abs(gap).sum() / len(conf))


def ece_bootstrap(conf: np.ndarray, correct: np.ndarray, bins: int, groups: np.ndarray,
                  clusters: np.ndarray | None, confidence: float = 0.95, n_resamples: int = 10_000,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Bootstrap replicates of (overall ECE, per-group ECE) -> (r,), (r, k) arrays, and the k group
    labels (sorted) the columns stand for.

    Units (clusters, or items) are drawn with replacement within strata of units that hold the same
    groups (as :func:`cluster_bootstrap`); each replicate recomputes ECE from the drawn units'
    per-(group, bin) sums of confidence - correctness and counts."""
    check_confidence(confidence)
    check_resamples_and_seed(n_resamples, seed)
    n = len(conf)
    labels, g = encode(np.asarray(groups, dtype=object).astype(str), "groups", n)
    unit = np.arange(n) if clusters is None else encode(np.asarray(clusters).astype(str), "clusters", n)[1]
    k, n_units = int(g.max()) + 1, int(unit.max()) + 1
    cell = g * bins + bin_index(conf, bins)  # (group, bin) cell per item
    diff = np.zeros((n_units, k * bins))
    count = np.zeros((n_units, k * bins))
    np.add.at(diff, (unit, cell), np.asarray(conf) - np.asarray(correct))
    np.add.at(count, (unit, cell), 1.0)
    present = count.reshape(n_units, k, bins).sum(axis=2) > 0
    _, strata = np.unique(present, axis=0, return_inverse=True)
    rng = np.random.default_rng(int(seed))
    overall, per_group = [], []
    for counts in stratified_count_chunks(strata.reshape(-1).astype(np.int64), int(n_resamples), rng):
        d = (counts @ diff).reshape(-1, k, bins)
        c = (counts @ count).reshape(-1, k, bins)
        overall.append(np.abs(d.sum(axis=1)).sum(axis=1) / c.sum(axis=(1, 2)))
        with np.errstate(invalid="ignore", divide="ignore"):
            per_group.append(np.abs(d).sum(axis=2) / c.sum(axis=2))
    return np.concatenate(overall), np.concatenate(per_group), [str(x) for x in labels]


def percentile(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = 1.0 - confidence
    r = replicates[np.isfinite(replicates)]
    if r.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(r, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)
