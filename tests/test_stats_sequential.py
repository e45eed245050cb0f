"""Anytime-valid confidence sequences (stats/sequential.py) against the reference implementation
(confseq 0.0.11's output, recorded by bench/make_confseq_reference.py) and by simulation of the
time-uniform guarantee."""

import json
from pathlib import Path

import numpy as np
import pytest

from pytest_misalign.stats.sequential import (
    difference_cs,
    mean_cs,
    paired_cs,
    predmix_eb_cs,
    predmix_eb_lower,
)

REFERENCE = json.loads((Path(__file__).parent / "data" / "confseq_predmix_reference.json").read_text())


@pytest.mark.parametrize("case", REFERENCE["cases"],
                         ids=[f"{c['name']}-a{c['alpha']}-ri{int(c['running_intersection'])}"
                              for c in REFERENCE["cases"]])
def test_matches_confseq_predmix_empbern_twosided_cs(case):
    lower, upper = predmix_eb_cs(case["x"], 1 - case["alpha"], running_intersection=case["running_intersection"])
    np.testing.assert_allclose(lower, case["lower"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(upper, case["upper"], rtol=0, atol=1e-12)


def test_time_uniform_coverage_by_simulation():
    """P(some t <= T has μ outside C_t) <= α, checked at every t (continuous monitoring)."""
    rng = np.random.default_rng(7)
    runs, horizon, alpha = 2000, 300, 0.05
    for p in (0.5, 0.85):
        misses = 0
        for _ in range(runs):
            x = (rng.random(horizon) < p).astype(float)
            lo, hi = predmix_eb_cs(x, 1 - alpha)
            misses += bool(np.any((lo > p) | (hi < p)))
        # binomial sd at 0.05 over 2000 runs is ~0.005: 0.065 is > 3 sd above α
        assert misses / runs <= alpha + 0.015, (p, misses / runs)


def test_shrinks_and_wider_than_fixed_n():
    from pytest_misalign.stats import wilson_interval

    x = (np.random.default_rng(1).random(2000) < 0.7).astype(float)
    lo, hi = predmix_eb_cs(x)
    widths = hi - lo
    assert widths[99] > widths[499] > widths[1999]
    w_lo, w_hi = wilson_interval(int(x.sum()), x.size, 0.95)
    ratio = widths[-1] / (w_hi - w_lo)
    assert 1.3 < ratio < 2.5  # the price of anytime validity (REFERENCES.md: ~1.8-2x)


def test_derived_sequences():
    rng = np.random.default_rng(3)
    a, b = (rng.random(400) < 0.8).astype(float), (rng.random(400) < 0.5).astype(float)
    lo, hi = difference_cs(a, b, 0.95)
    la, ua = mean_cs(a, 0.975)
    lb, ub = mean_cs(b, 0.975)
    assert (lo, hi) == pytest.approx((la - ub, ua - lb))
    assert lo > 0  # 0.8 vs 0.5 on 400 items each is decided
    d = a - b
    plo, phi = paired_cs(d, 0.95)
    l2, u2 = mean_cs((d + 1) / 2, 0.95)
    assert (plo, phi) == pytest.approx((2 * l2 - 1, 2 * u2 - 1))
    assert mean_cs([], 0.95) == (0.0, 1.0)


def test_rejects_values_outside_the_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        predmix_eb_lower([0.5, 1.5], 0.05)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        paired_cs([2.0])
