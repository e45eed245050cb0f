"""Anytime-valid confidence sequences for bounded means (the building block of sequential gates).

A confidence sequence (C_t) for a mean μ holds *uniformly over time*: P(∀t: μ ∈ C_t) ≥ 1 − α
(Howard et al. 2021), so it may be checked after every chunk of items and scoring may stop the
moment it lies on one side of a threshold, without inflating the error rate — unlike peeking at a
fixed-n interval.

`predmix_eb_cs` is the predictable-mixture empirical-Bernstein sequence of Waudby-Smith & Ramdas
(2023, "Estimating means of bounded random variables by betting", Theorem 2), written to agree with
the reference implementation `confseq.predmix.predmix_empbern_twosided_cs` (confseq 0.0.11) to
floating-point precision: `tests/data/confseq_predmix_reference.json` holds that package's output
(made by `bench/make_confseq_reference.py` in an environment with NumPy < 2, which confseq needs).
For observations x_i ∈ [0, 1], one side at level α/2 is

    λ_t = min(truncation, sqrt(2 log(2/α) / (σ̂²_{t−1} · t · log(1 + t))))     (predictable bets)
    σ̂²_t = (1/4 + Σ_{i≤t} (x_i − μ̃_i)²) / (t + 1),   μ̃_t = (1/2 + Σ_{i≤t} x_i) / (t + 1)
    v_t = (x_t − x̄_{t−1})²,   ψ(λ) = −log(1 − λ) − λ
    L_t = max(0, Σ λ_i x_i / Σ λ_i − (log(2/α) + Σ v_i ψ(λ_i)) / Σ λ_i)

and the upper side is 1 − L_t computed on 1 − x. Its width shrinks like sqrt(log log t / t): about
1.8–2× a fixed-n Wald interval at n = 100…2000 (REFERENCES.md), the price of being able to stop.

Derived sequences: a difference of two independent means (one sequence per group at α/2: the
union bound gives [l₁ − u₂, u₁ − l₂]) and a mean of paired differences d ∈ [−1, 1] (the sequence of
(d + 1)/2, mapped back).
"""

from __future__ import annotations

import math

import numpy as np

from .validation import check_confidence

TRUNCATION = 0.5  # confseq's default for the two-sided predmix sequence


def as_unit(x, name: str = "x") -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and (not np.all(np.isfinite(arr)) or arr.min() < 0.0 or arr.max() > 1.0):
        raise ValueError(f"{name} must hold finite values in [0, 1]")
    return arr


def _bets(x: np.ndarray, alpha: float, truncation: float) -> np.ndarray:
    """Predictable λ_t: from the regularised variance of x_1..x_{t-1} (confseq's lambda_predmix_eb)."""
    t = np.arange(1, x.size + 1, dtype=np.float64)
    mu_reg = np.minimum((0.5 + np.cumsum(x)) / (t + 1.0), 1.0)
    sigma2 = (0.25 + np.cumsum((x - mu_reg) ** 2)) / (t + 1.0)
    sigma2_prev = np.concatenate(([0.25], sigma2[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.sqrt(2.0 * math.log(1.0 / alpha) / (t * np.log1p(t) * sigma2_prev))
    lam[np.isnan(lam)] = 0.0
    return np.minimum(truncation, lam)


def predmix_eb_lower(x, alpha: float, truncation: float = TRUNCATION,
                     running_intersection: bool = False) -> np.ndarray:
    """One-sided lower confidence sequence at level α for the mean of x ∈ [0, 1], for every t."""
    x = as_unit(x)
    if x.size == 0:
        return np.zeros(0)
    t = np.arange(1, x.size + 1, dtype=np.float64)
    lam = _bets(x, alpha, truncation)
    mean_prev = np.concatenate(([0.0], np.cumsum(x)[:-1] / t[:-1]))
    v = (x - mean_prev) ** 2
    psi = -np.log1p(-lam) - lam
    lam_sum = np.cumsum(lam)
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = (np.cumsum(lam * x) - math.log(1.0 / alpha) - np.cumsum(v * psi)) / lam_sum
    lower = np.where(lam_sum > 0, lower, 0.0)
    lower = np.maximum(lower, 0.0)
    return np.maximum.accumulate(lower) if running_intersection else lower


def predmix_eb_cs(x, confidence: float = 0.95, truncation: float = TRUNCATION,
                  running_intersection: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided confidence sequence (lower_t, upper_t) for the mean of x ∈ [0, 1], valid
    simultaneously for every t at `confidence`. The running intersection (default) keeps each
    bound monotone, which is valid since the sequence covers at all times at once."""
    alpha = 1.0 - check_confidence(confidence)
    x = as_unit(x)
    lower = predmix_eb_lower(x, alpha / 2.0, truncation, running_intersection)
    upper = 1.0 - predmix_eb_lower(1.0 - x, alpha / 2.0, truncation, running_intersection)
    return lower, upper


def mean_cs(x, confidence: float = 0.95) -> tuple[float, float]:
    """The sequence's interval after the last observation (the whole unit interval before any)."""
    lower, upper = predmix_eb_cs(x, confidence)
    return (float(lower[-1]), float(upper[-1])) if lower.size else (0.0, 1.0)


def difference_cs(x1, x2, confidence: float = 0.95) -> tuple[float, float]:
    """Anytime-valid interval for mean(x1) − mean(x2), two independent streams in [0, 1]: one
    sequence per stream at α/2 (union bound), combined as [l₁ − u₂, u₁ − l₂]."""
    alpha = 1.0 - check_confidence(confidence)
    l1, u1 = mean_cs(x1, 1.0 - alpha / 2.0)
    l2, u2 = mean_cs(x2, 1.0 - alpha / 2.0)
    return l1 - u2, u1 - l2


def paired_cs(d, confidence: float = 0.95) -> tuple[float, float]:
    """Anytime-valid interval for the mean of paired differences d ∈ [−1, 1] (e.g. correct in
    group A minus correct in group B on one counterfactual pair): the sequence of (d + 1)/2."""
    d = np.asarray(d, dtype=np.float64)
    if d.size and (d.min() < -1.0 or d.max() > 1.0):
        raise ValueError("paired differences must lie in [-1, 1]")
    lo, hi = mean_cs((d + 1.0) / 2.0, confidence)
    return 2.0 * lo - 1.0, 2.0 * hi - 1.0
