"""Hedged-capital betting confidence sequence for a bounded mean (Waudby-Smith & Ramdas 2023).

For each candidate mean m on a grid {0, 1/B, …, 1} two gamblers bet against "μ = m" with
predictable, m-free bets λ_t (confseq's `lambda_predmix_eb`: regularised running variance,
prior mean 1/2, prior variance 1/4, one fake observation, at levels αθ and α(1−θ)):

    λ_t(a) = sqrt(2 log(1/a) / (σ̂²_{t−1} · t · log(1 + t)))
    K⁺_t(m) = Π_{i≤t} (1 + min(λ_i(αθ),     s/m)     (x_i − m))
    K⁻_t(m) = Π_{i≤t} (1 − min(λ_i(α(1−θ)), s/(1−m)) (x_i − m))
    K_t(m)  = max(θ K⁺_t(m), (1−θ) K⁻_t(m))          (s = trunc_scale)

Under μ = m, K⁺ and K⁻ are nonnegative martingales starting at 1, so K_t(m) ≤ θK⁺_t(m) +
(1−θ)K⁻_t(m), itself such a martingale, and by Ville's inequality C_t = {m : K_t(m) ≤ 1/α} is a
confidence sequence: P(∀t: μ ∈ C_t) ≥ 1 − α. The reported bounds are the smallest and largest
grid points in C_t widened by one grid step (the whole [0, 1] when C_t holds no grid point), then
optionally intersected over time. confseq's `hedged_cs` combines the two capitals with the
*maximum* (its `convex_comb=False`), not the sum θK⁺ + (1−θ)K⁻; the maximum is reproduced here.

`hedged_cs` performs the same floating-point operations as `confseq.betting.hedged_cs`
(confseq 0.0.11, `parallel=False`) in the same order — the running products are sequential
`cumprod`s over time, vectorised over the grid — so it agrees with it exactly, up to ulp-level
differences in `log`/`sqrt` between NumPy builds (see tests/test_stats_betting.py).
`tests/data/confseq_hedged_reference.json` holds confseq's output (made by
`bench/make_confseq_betting_reference.py`). Against the predictable-mixture empirical-Bernstein
sequence (`sequential.predmix_eb_cs`) it is clearly narrower early on (t ≲ 200) and for means
near 0 or 1; for mid-range means at t in the thousands the two are within a few percent, either
way (the grid readout alone adds up to 2/breaks).
"""

from __future__ import annotations

import copy
import dataclasses
import numbers
from dataclasses import dataclass

import numpy as np

from .validation import check_confidence
from .sequential import as_unit

BLOCK_ELEMENTS = 1 << 20  # (time × grid) cells per block: ~8 MB per float array


def _check_hedge(theta: float, trunc_scale: float, breaks: int) -> None:
    if not (0.0 <= float(theta) <= 1.0):
        raise ValueError(f"theta must lie in [0, 1], got {theta!r}")
    if not (0.0 < float(trunc_scale) <= 1.0):
        raise ValueError(f"trunc_scale must lie in (0, 1], got {trunc_scale!r}")
    if isinstance(breaks, bool) or not isinstance(breaks, numbers.Integral) or breaks < 1:
        raise ValueError(f"breaks must be a positive integer, got {breaks!r}")


def _grid(breaks: int) -> np.ndarray:
    """confseq's candidate means. A point that float rounding puts above 1 has infinite capital
    there (never in the set), so dropping it leaves the readout unchanged."""
    m = np.arange(0, 1 + 1 / breaks, step=1 / breaks)
    return m[(m >= 0) & (m <= 1)]


def _predmix_bets(t: np.ndarray, sigma2_prev: np.ndarray, alpha: float) -> np.ndarray:
    """Untruncated predictable bets, op for op as confseq's `lambda_predmix_eb` (defaults), from the
    times and the running variances before each observation (`_Bets.advance`)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.sqrt(2 * np.log(1 / alpha) / (t * np.log(1 + t) * sigma2_prev))
    lam[np.isnan(lam)] = 0
    return lam


@dataclass
class _Bets:
    """The running sums behind the predictable bets after t observations. Resuming a cumulative
    sum from its last value adds in the same order as one over the whole stream, so any chunking of
    a stream gives the bets of the whole stream exactly."""

    t: int = 0
    sum_x: float = 0.0  # Σ x_i
    sum_sq: float = 0.0  # Σ (x_i − μ̂_i)²
    sigma2: float = 0.25  # σ̂²_t (the prior before any observation)

    def advance(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Move past `x`; returns its times t and the variances σ̂²_{t−1} its bets use."""
        t = np.arange(self.t + 1, self.t + x.size + 1)
        sums = np.cumsum(np.append(self.sum_x, x))[1:]
        mu_hat = np.minimum((0.5 + sums) / (t + 1), 1)
        squares = np.cumsum(np.append(self.sum_sq, np.power(x - mu_hat, 2)))[1:]
        sigma2 = (0.25 + squares) / (t + 1)
        sigma2_prev = np.append(self.sigma2, sigma2[:-1])
        self.t, self.sum_x, self.sum_sq, self.sigma2 = int(t[-1]), float(sums[-1]), float(squares[-1]), float(sigma2[-1])
        return t, sigma2_prev


def _capital(diff, lam, trunc, positive, carry):
    """Running capital K⁺ (positive) or K⁻ for a block of times (rows) and all grid points
    (columns), from diff = x_i − m, continuing from `carry` (the previous block's last row) so
    that the products are formed in confseq's order (a row-by-row running product is the same
    sequence of multiplications as `cumprod` over time, vectorised across the grid, and faster).
    The bets are finite and ≥ 0 here, so confseq's lower truncation −trunc' and its ∞·0 = 0
    convention never act and are omitted."""
    mult = np.minimum(lam[:, None], trunc[None, :])
    mult *= diff
    if positive:
        mult += 1
    else:
        np.subtract(1, mult, out=mult)
    with np.errstate(invalid="ignore", over="ignore"):
        mult[0] *= carry
        for i in range(1, mult.shape[0]):
            np.multiply(mult[i], mult[i - 1], out=mult[i])
    return mult


def _readout(inside: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest grid point in the set at each time ((0, 1) when it is empty)."""
    hit = inside.any(axis=1)
    first = inside.argmax(axis=1)
    last = inside.shape[1] - 1 - inside[:, ::-1].argmax(axis=1)
    return np.where(hit, grid[first], 0.0), np.where(hit, grid[last], 1.0)


class HedgedStream:
    """The hedged sequence fed chunk by chunk: after `extend` with consecutive chunks of a stream,
    `last` and `intersection` are exactly what `hedged_cs` gives on the whole stream (its last
    interval, and the running intersection's), at O(chunk × grid) per chunk instead of
    O(stream × grid). The sequential gate looks after every chunk of a task; this keeps a look's
    cost independent of how many items came before it."""

    def __init__(self, confidence: float = 0.95, theta: float = 0.5, trunc_scale: float = 0.5,
                 breaks: int = 1000):
        self.alpha = 1.0 - check_confidence(confidence)
        _check_hedge(theta, trunc_scale, breaks)
        self.theta, self.breaks = float(theta), int(breaks)
        self.grid = _grid(self.breaks)
        with np.errstate(divide="ignore"):
            self._trunc = (trunc_scale / self.grid, trunc_scale / (1 - self.grid))
        self._bets = _Bets()
        self._carry = [np.ones(self.grid.size), np.ones(self.grid.size)]  # K⁺, K⁻ at the last time
        self.last: tuple[float, float] = (0.0, 1.0)
        self.intersection: tuple[float, float] = (0.0, 1.0)

    @property
    def t(self) -> int:
        return self._bets.t

    def copy(self) -> "HedgedStream":
        other = copy.copy(self)
        other._bets = dataclasses.replace(self._bets)
        other._carry = [c.copy() for c in self._carry]
        return other

    def extend(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Feed the next observations; returns their (lower_t, upper_t), without running intersection."""
        x = as_unit(x)
        if x.size == 0:
            return np.zeros(0), np.ones(0)
        rows = max(1, BLOCK_ELEMENTS // self.grid.size)
        parts = [self._block(x[s:s + rows]) for s in range(0, x.size, rows)]
        lower = np.maximum(0, np.concatenate([p[0] for p in parts]) - 1 / self.breaks)
        upper = np.minimum(1, np.concatenate([p[1] for p in parts]) + 1 / self.breaks)
        self.last = (float(lower[-1]), float(upper[-1]))
        self.intersection = (max(self.intersection[0], float(lower.max())),
                             min(self.intersection[1], float(upper.min())))
        return lower, upper

    def _block(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The hedged capital max(θK⁺, (1−θ)K⁻) over one block of times, read out at 1/α. A factor
        can be 0 (trunc_scale = 1); 0·∞ (after an overflow) then gives NaN, which confseq reads as 0."""
        theta, diff, parts = self.theta, x[:, None] - self.grid[None, :], []
        t, sigma2_prev = self._bets.advance(x)
        for side, weight, positive in ((0, theta, True), (1, 1 - theta, False)):
            if weight > 0:
                lam = _predmix_bets(t, sigma2_prev, self.alpha * weight)
                k = _capital(diff, lam, self._trunc[side], positive, self._carry[side])
                self._carry[side] = k[-1].copy()
                if np.isnan(k[-1]).any():  # NaN, once there, persists down its column
                    k[np.isnan(k)] = 0.0
                parts.append(k)
        if len(parts) == 2:
            parts[0] *= theta
            parts[1] *= 1 - theta
            np.maximum(parts[0], parts[1], out=parts[0])
        mart = parts[0]
        return _readout(mart <= 1 / self.alpha, self.grid)


def hedged_cs(x, confidence: float = 0.95, theta: float = 0.5, trunc_scale: float = 0.5,
              breaks: int = 1000, running_intersection: bool = True
              ) -> tuple[np.ndarray, np.ndarray]:
    """Hedged-capital confidence sequence (lower_t, upper_t) for the mean of x ∈ [0, 1], valid
    simultaneously for every t at `confidence`; equal to `confseq.betting.hedged_cs(x,
    alpha=1 - confidence, theta=theta, trunc_scale=trunc_scale, breaks=breaks,
    running_intersection=running_intersection)`. `theta` weighs the bet on a mean above m
    against the bet on one below it, `trunc_scale` caps the bets at trunc_scale/m and
    trunc_scale/(1 − m), and `breaks` sets the grid step 1/breaks (the bounds' resolution)."""
    stream = HedgedStream(confidence, theta, trunc_scale, breaks)
    lower, upper = stream.extend(x)
    if running_intersection and lower.size:
        return np.maximum.accumulate(lower), np.minimum.accumulate(upper)
    return lower, upper


def betting_mean_cs(x, confidence: float = 0.95) -> tuple[float, float]:
    """The hedged sequence's interval after the last observation (the unit interval before any)."""
    lower, upper = hedged_cs(x, confidence)
    return (float(lower[-1]), float(upper[-1])) if lower.size else (0.0, 1.0)
