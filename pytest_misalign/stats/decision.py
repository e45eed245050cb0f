"""The three-way gate decision from an interval."""

from __future__ import annotations

import math
from typing import Literal

Verdict = Literal["pass", "fail", "inconclusive"]


def verdict(
    lo: float, hi: float, *, min: float | None = None, max: float | None = None  # noqa: A002
) -> Verdict:
    """Three-way gate decision from a confidence interval ``[lo, hi]``.

    ``min``: the quantity must be >= min; ``max``: it must be <= max.

    * ``"pass"`` -- the whole interval meets every given threshold
      (``lo >= min`` and ``hi <= max``);
    * ``"fail"`` -- the whole interval violates at least one threshold
      (``hi < min`` or ``lo > max``);
    * ``"inconclusive"`` -- otherwise (the interval straddles a threshold).

    A threshold equal to an interval end counts as met (e.g. ``lo == min``
    passes; ``hi == min`` is inconclusive). At least one threshold is
    required; ``lo > hi``, NaNs and ``min > max`` raise ValueError.
    """
    lo_f, hi_f = float(lo), float(hi)
    if math.isnan(lo_f) or math.isnan(hi_f):
        raise ValueError(f"interval bounds must not be NaN, got ({lo!r}, {hi!r})")
    if lo_f > hi_f:
        raise ValueError(f"lower bound {lo!r} exceeds upper bound {hi!r}")
    if min is None and max is None:
        raise ValueError("verdict needs at least one threshold: min=... and/or max=...")
    for name, t in (("min", min), ("max", max)):
        if t is not None and math.isnan(float(t)):
            raise ValueError(f"{name} threshold must not be NaN")
    if min is not None and max is not None and float(min) > float(max):
        raise ValueError(f"min threshold ({min!r}) exceeds max threshold ({max!r})")
    if (min is not None and hi_f < float(min)) or (max is not None and lo_f > float(max)):
        return "fail"
    if (min is None or lo_f >= float(min)) and (max is None or hi_f <= float(max)):
        return "pass"
    return "inconclusive"
