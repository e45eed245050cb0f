"""Argument validation and normal critical values shared by the statistics modules."""

from __future__ import annotations

import functools
import math
import numbers

from scipy import stats as _sps

# required_n / required_n_gap treat an estimate within this distance of the
# threshold as equal to it (no finite n separates them; floating-point noise
# such as 0.9 - 0.8 != 0.1 would otherwise ask for ~1e33 items).
SAME_TOL = 1e-12


def check_confidence(confidence: float, name: str = "confidence") -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real):
        raise ValueError(f"{name} must be a real number in (0, 1), got {confidence!r}")
    c = float(confidence)
    if not (0.0 < c < 1.0):  # also rejects NaN
        raise ValueError(
            f"{name} must lie strictly between 0 and 1 (e.g. 0.95), got {confidence!r}"
        )
    return c


@functools.lru_cache(maxsize=256)
def z_cached(confidence: float) -> float:
    return float(_sps.norm.isf((1.0 - confidence) / 2.0))


def z_value(confidence: float) -> float:
    """Two-sided standard-normal critical value z_{1 - alpha/2}."""
    return z_cached(check_confidence(confidence))


def check_count(x: object, name: str, *, integer: bool) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise ValueError(f"{name} must be a non-negative number, got {x!r}")
    v = float(x)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite non-negative number, got {x!r}")
    if integer and v != math.floor(v):
        raise ValueError(f"{name} must be a whole number, got {x!r}")
    return v


def check_prob(p: float, name: str) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise ValueError(f"{name} must be a real number in [0, 1], got {p!r}")
    v = float(p)
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got {p!r}")
    return v

