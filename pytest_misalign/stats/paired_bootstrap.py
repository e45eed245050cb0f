"""Cluster bootstrap for the mean of paired, per-unit differences."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from .validation import check_confidence
from .bootstrap import (
    BootstrapResult,
    OnDegenerate,
    check_resamples_and_seed,
    encode,
    stratified_count_chunks,
)


def paired_cluster_bootstrap(
    differences: np.ndarray | Sequence[float],
    clusters: np.ndarray | Sequence[Hashable] | None = None,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
    *,
    on_degenerate: OnDegenerate = "widen",
) -> BootstrapResult:
    """Percentile cluster bootstrap for the mean of per-unit differences in [-1, 1].

    A *unit* is one paired observation and ``differences[i]`` its difference, e.g.

    * a counterfactual pair: ``correct(group 1) - correct(group 2)`` (-1, 0 or 1), whose mean is
      the paired accuracy gap ``(b - c) / n`` of the 2x2 table;
    * an item scored by a candidate and a baseline model: ``correct(candidate) - correct(baseline)``,
      whose mean is the accuracy change on the shared items.

    ``clusters[i]`` is the unit's cluster (source document, template, base question); units of a
    cluster are resampled together, which keeps their correlation. ``None``: every unit is its own
    cluster (the ordinary bootstrap). The estimate is ``mean(differences)``; each resample draws
    ``C`` of the ``C`` clusters uniformly with replacement and takes the ratio ``sum of the drawn
    clusters' differences / number of their units`` (a cluster drawn twice counts twice), so
    clusters of unequal size weigh by size, as in the full-data mean. ``(lo, hi)`` are the
    ``alpha/2`` and ``1 - alpha/2`` quantiles (numpy's linear interpolation) of the resampled means
    (Davison & Hinkley 1997, sec. 3.8 and 5.3).

    Seeds: ``numpy.random.default_rng(seed)``; the same inputs and seed give the same result, and
    the draws are those of :func:`cluster_bootstrap` with a single stratum (one call to
    ``rng.integers`` per chunk of resamples).

    A single cluster cannot vary: ``on_degenerate`` decides as in :func:`cluster_bootstrap`
    (``"widen"``: the uninformative ``(-1, 1)``; ``"point"``: ``(estimate, estimate)``; ``"raise"``).
    ``note`` warns when there are fewer than 10 clusters (percentile intervals are then too narrow).
    The result's ``statistic`` is ``"paired_mean"``, ``n_items`` the number of units.

    Raises ValueError for an empty or non-1-D input, values outside [-1, 1] or NaN, a cluster array
    of another length, a bad confidence, ``n_resamples`` or ``seed``.
    """
    conf = check_confidence(confidence)
    check_resamples_and_seed(n_resamples, seed)
    d = _differences_array(differences)
    n = d.shape[0]
    cl = np.arange(n) if clusters is None else encode(np.asarray(clusters), "clusters", n)[1]
    n_clusters = int(cl.max()) + 1
    sums = np.bincount(cl, weights=d, minlength=n_clusters)
    sizes = np.bincount(cl, minlength=n_clusters).astype(np.float64)
    common = dict(estimate=float(d.mean()), n_clusters=n_clusters, statistic="paired_mean", confidence=conf,
                  n_resamples=int(n_resamples), n_items=int(n), min_group_clusters=n_clusters, n_strata=1)
    if n_clusters == 1:
        return _single_cluster(on_degenerate, common)
    rng = np.random.default_rng(int(seed))
    table = np.ascontiguousarray(np.stack([sums, sizes], axis=1))
    out = np.empty(int(n_resamples))
    pos = 0
    for counts in stratified_count_chunks(np.zeros(n_clusters, dtype=np.int64), int(n_resamples), rng):
        drawn = counts.astype(np.float64) @ table
        out[pos:pos + drawn.shape[0]] = drawn[:, 0] / drawn[:, 1]
        pos += drawn.shape[0]
    alpha = 1.0 - conf
    lo, hi = np.quantile(out, [alpha / 2.0, 1.0 - alpha / 2.0])
    note = "" if n_clusters >= 10 else (f"only {n_clusters} clusters: percentile intervals tend to be too "
                                        "narrow with few clusters")
    return BootstrapResult(lo=float(lo), hi=float(hi), degenerate=False, note=note, **common)


def _differences_array(differences) -> np.ndarray:
    d = np.asarray(differences, dtype=np.float64) if not isinstance(differences, np.ndarray) \
        else differences.astype(np.float64)
    if d.ndim != 1:
        raise ValueError(f"differences must be a 1-D array, got shape {d.shape}")
    if d.size == 0:
        raise ValueError("differences is empty: there are no paired units to evaluate")
    if not np.all(np.isfinite(d)) or np.any(np.abs(d) > 1.0):
        raise ValueError("differences must be finite numbers in [-1, 1] (e.g. correct_a - correct_b)")
    return d


def _single_cluster(on_degenerate: str, common: dict) -> BootstrapResult:
    if on_degenerate not in ("widen", "point", "raise"):
        raise ValueError(f"on_degenerate must be 'widen', 'point' or 'raise', got {on_degenerate!r}")
    msg = "no between-cluster variability to resample: all units are in a single cluster"
    if on_degenerate == "raise":
        raise ValueError(msg)
    if on_degenerate == "point":
        est = common["estimate"]
        return BootstrapResult(lo=est, hi=est, degenerate=True, note=msg + "; zero-width interval returned", **common)
    return BootstrapResult(lo=-1.0, hi=1.0, degenerate=True, note=msg + "; uninformative interval returned",
                           **common)
