"""Statistical primitives for release gating.

Everything here is a pure function of its arguments (the bootstrap is seeded),
depends only on numpy and scipy, and validates its inputs: a confidence level
outside the open interval (0, 1), negative or inconsistent counts, and
unusable data raise :class:`ValueError` with a message naming the argument.

Confidence levels are always two-sided: ``confidence=0.95`` gives an interval
with 2.5 % nominal error in each tail.

Methods
-------
* :func:`wilson_interval` -- Wilson (1927) score interval for one proportion.
* :func:`newcombe_interval` -- Newcombe (1998a) hybrid score interval
  ("method 10") for the difference of two independent proportions.
* :func:`paired_difference_interval` -- Newcombe (1998b) method 10 for the
  difference of two proportions estimated on the same items (paired data).
* :func:`mcnemar_pvalue` -- exact (conditional) McNemar test.
* :func:`holm` -- Holm (1979) step-down adjusted p-values.
* :func:`cluster_bootstrap` -- stratified cluster (block) percentile bootstrap
  for an accuracy, a two-group gap, or the max pairwise gap over k groups.
* :func:`max_gap_intervals` -- all pairwise gaps between k independent groups
  with family-wise (Bonferroni-level) Newcombe intervals and Holm decisions.
* :func:`verdict` -- pass / fail / inconclusive from an interval and thresholds.
* :func:`required_n`, :func:`required_n_gap`, :func:`required_n_paired` -- how
  many items an inconclusive check would need.
* :func:`paired_cluster_bootstrap` -- cluster bootstrap for the mean of
  per-unit paired differences in [-1, 1] (paired gaps, baseline regression).
* :func:`binomial_greater_pvalue` -- exact one-sided binomial test (is an
  accuracy above a chance level?).
* :func:`hedged_cs`, :func:`betting_mean_cs` -- hedged-capital betting confidence
  sequence for a mean in [0, 1] (Waudby-Smith & Ramdas 2023; as confseq).

Modules
-------
``intervals`` (Wilson, Newcombe, paired Newcombe), ``pvalues`` (McNemar, Holm,
one-sided binomial), ``bootstrap`` (cluster bootstrap), ``paired_bootstrap``
(cluster bootstrap of paired differences), ``gaps`` (k-group pairwise gaps),
``decision`` (verdict), ``sample_size`` (required_n*), ``sequences`` (confidence
sequences of ratios over units, for the sequential gate). Every public name is
re-exported here: ``stats.X`` works.

References
----------
Wilson EB (1927). Probable inference, the law of succession, and statistical
    inference. JASA 22:209-212.
Newcombe RG (1998a). Interval estimation for the difference between
    independent proportions: comparison of eleven methods. Stat Med
    17:873-890.
Newcombe RG (1998b). Improved confidence intervals for the difference between
    binomial proportions based on paired data. Stat Med 17:2635-2650.
Fagerland MW, Lydersen S, Laake P (2014). Recommended tests and confidence
    intervals for paired binomial proportions. Stat Med 33:2850-2875.
Fagerland MW, Lydersen S, Laake P (2017). Statistical Analysis of Contingency
    Tables. CRC Press (chapter 8: the paired 2x2 table).
Holm S (1979). A simple sequentially rejective multiple test procedure.
    Scand J Stat 6:65-70.
Davison AC, Hinkley DV (1997). Bootstrap Methods and their Application.
    Cambridge University Press (section 3.8: hierarchical / cluster data;
    section 5.3: percentile intervals).
Field CA, Welsh AH (2007). Bootstrapping clustered data. JRSS-B 69:369-390.
"""

from __future__ import annotations

from .validation import check_confidence, check_count, check_prob, z_value, z_cached
from .betting import betting_mean_cs, hedged_cs
from .bootstrap import (
    BootstrapResult,
    OnDegenerate,
    Statistic,
    encode,
    signature_strata,
    stratified_count_chunks,
    cluster_bootstrap,
    cluster_bootstrap_interval,
)
from .decision import Verdict, verdict
from .gaps import Correction, PairGap, two_proportion_pvalue, max_gap_bounds, max_gap_intervals
from .intervals import (
    newcombe_bounds,
    paired_newcombe_bounds,
    wilson_bounds,
    newcombe_interval,
    paired_difference_interval,
    wilson_interval,
)
from .paired_bootstrap import paired_cluster_bootstrap
from .calibration import mean_cluster_bootstrap
from .pvalues import binomial_greater_pvalue, holm, mcnemar_pvalue
from .sample_size import smallest_n, required_n, required_n_gap, required_n_paired

__all__ = [
    "Correction",
    "OnDegenerate",
    "Statistic",
    "Verdict",
    "check_confidence",
    "check_count",
    "check_prob",
    "encode",
    "newcombe_bounds",
    "paired_newcombe_bounds",
    "signature_strata",
    "smallest_n",
    "stratified_count_chunks",
    "two_proportion_pvalue",
    "wilson_bounds",
    "z_cached",
    "z_value",
    "BootstrapResult",
    "PairGap",
    "betting_mean_cs",
    "binomial_greater_pvalue",
    "cluster_bootstrap",
    "cluster_bootstrap_interval",
    "hedged_cs",
    "holm",
    "max_gap_bounds",
    "max_gap_intervals",
    "mcnemar_pvalue",
    "mean_cluster_bootstrap",
    "newcombe_interval",
    "paired_cluster_bootstrap",
    "paired_difference_interval",
    "required_n",
    "required_n_gap",
    "required_n_paired",
    "verdict",
    "wilson_interval",
]
