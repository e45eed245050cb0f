"""Seeded, cluster-aware percentile bootstrap of any statistic of summed per-item statistics.

`stats` is an (n, d) array of additive per-item statistics and `value_fn` maps summed rows
(r, d) to r values (a mean score, corpus BLEU from n-gram counts, F1 from a confusion matrix).
Each resample draws clusters with replacement (every item is its own cluster without `clusters`)
and sums their rows; a cluster drawn twice counts twice. With `groups` the statistic is computed
per group and the resampled quantity is the gap: the signed difference `high - low` for two groups
(`order` names them) or `max - min` over more; clusters are drawn within strata of clusters with
the same groups present (as `stats.cluster_bootstrap` does), so every group is in every resample.
The interval is the alpha/2 and 1 - alpha/2 quantiles of the resampled values (Davison & Hinkley
1997, sec. 3.8 and 5.3), drawn by `stats._stratified_count_chunks` from `default_rng(seed)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .. import stats as _stats

ValueFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Interval:
    lo: float
    hi: float
    n_clusters: int
    n_resamples: int
    note: str = ""


def bootstrap(item_stats: np.ndarray, value_fn: ValueFn, *, clusters: Sequence | None = None,
              groups: Sequence | None = None, order: Sequence[str] | None = None,
              confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0,
              widen: tuple[float, float] = (0.0, 1.0)) -> Interval:
    """Percentile interval of `value_fn(sum of resampled rows)`, or of the gap between `groups`.
    With nothing to resample (one cluster per stratum) the interval is `widen`, the whole range."""
    item_stats = np.asarray(item_stats, dtype=np.float64)
    n, d = item_stats.shape
    cluster_ids = np.arange(n) if clusters is None else np.unique(np.asarray(clusters, dtype=object).astype(str),
                                                                  return_inverse=True)[1].reshape(-1)
    n_clusters = int(cluster_ids.max()) + 1 if n else 0
    if groups is None:
        wide, present, k = item_stats, np.ones((n_clusters, 1), dtype=bool), 1
    else:
        labels = list(order) if order is not None else sorted(set(map(str, groups)))
        code = np.array([labels.index(str(g)) for g in groups])
        k = len(labels)
        wide = np.zeros((n, k * d))
        for j in range(k):
            wide[code == j, j * d:(j + 1) * d] = item_stats[code == j]
        present = np.zeros((n_clusters, k), dtype=bool)
        present[cluster_ids, code] = True
    sums = np.zeros((n_clusters, wide.shape[1]))
    np.add.at(sums, cluster_ids, wide)
    strata = _stats.signature_strata(present)
    if n_clusters < 2 or np.bincount(strata).max() < 2:
        return Interval(widen[0], widen[1], n_clusters, 0,
                        "fewer than two clusters to resample: uninformative interval returned")
    rng = np.random.default_rng(seed)
    values = [_resampled(counts @ sums, value_fn, k, d, groups is not None)
              for counts in _stats.stratified_count_chunks(strata, n_resamples, rng)]
    values = np.concatenate(values)
    alpha = 1 - confidence
    lo, hi = np.nanquantile(values, [alpha / 2, 1 - alpha / 2])
    note = (f"only {n_clusters} clusters: percentile intervals tend to be too narrow with few clusters"
            if clusters is not None and n_clusters < 10 else "")
    return Interval(float(lo), float(hi), n_clusters, n_resamples, note)


def _resampled(summed: np.ndarray, value_fn: ValueFn, k: int, d: int, gap: bool) -> np.ndarray:
    if not gap:
        return value_fn(summed)
    per_group = np.column_stack([value_fn(summed[:, j * d:(j + 1) * d]) for j in range(k)])
    if k == 2:
        return per_group[:, 1] - per_group[:, 0]  # order = (low, high): the signed gap
    return per_group.max(axis=1) - per_group.min(axis=1)
