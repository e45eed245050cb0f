"""Hedged-capital betting confidence sequence (stats/betting.py) against the reference
implementation (confseq 0.0.11's `confseq.betting.hedged_cs`, recorded by
bench/make_confseq_betting_reference.py), by simulation of the time-uniform guarantee, and
against the predictable-mixture empirical-Bernstein sequence (stats/sequential.py)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from pytest_misalign import stats
from pytest_misalign.stats import betting
from pytest_misalign.stats.betting import betting_mean_cs, hedged_cs
from pytest_misalign.stats.sequential import mean_cs

REFERENCE = json.loads((Path(__file__).parent / "data" / "confseq_hedged_reference.json").read_text())

# Tolerance: exact up to float noise, not one grid step. The bounds are grid points read off a
# threshold test K_t(m) <= 1/alpha, so a last-bit difference in K could move a bound by a whole
# step 1/breaks -- but hedged_cs repeats confseq's floating-point operations in confseq's order
# (same bets, same truncation, sequential cumprod over time, same grid from np.arange, the
# readout's +-1/breaks), and it reproduces every recorded bound bit for bit (max |diff| = 0).
ATOL = 1e-12


@pytest.mark.parametrize("case", REFERENCE["cases"],
                         ids=[f"{c['stream']}-c{c['confidence']}-ri{int(c['running_intersection'])}"
                              f"-th{c['theta']}-s{c['trunc_scale']}-b{c['breaks']}"
                              for c in REFERENCE["cases"]])
def test_matches_confseq_hedged_cs(case):
    x = REFERENCE["streams"][case["stream"]]
    lower, upper = hedged_cs(x, case["confidence"], theta=case["theta"],
                             trunc_scale=case["trunc_scale"], breaks=case["breaks"],
                             running_intersection=case["running_intersection"])
    assert lower.shape == upper.shape == (len(x),)
    idx = case["index"]
    np.testing.assert_allclose(lower[idx], case["lower"], rtol=0, atol=ATOL)
    np.testing.assert_allclose(upper[idx], case["upper"], rtol=0, atol=ATOL)


def test_time_blocks_do_not_change_the_result(monkeypatch):
    x = (np.random.default_rng(5).random(700) < 0.4).astype(float)
    whole = hedged_cs(x, running_intersection=False)
    monkeypatch.setattr(betting, "BLOCK_ELEMENTS", 1001 * 64 + 17)  # 64-row blocks
    blocked = hedged_cs(x, running_intersection=False)
    assert np.array_equal(whole[0], blocked[0]) and np.array_equal(whole[1], blocked[1])


def test_time_uniform_coverage_by_simulation():
    """P(some t <= 500 has mu outside C_t) <= alpha + 3 standard errors, at every t."""
    rng = np.random.default_rng(11)
    runs, horizon, alpha, p = 400, 500, 0.05, 0.3
    misses = 0
    for _ in range(runs):  # a few seconds (~15 ms per 500-step sequence)
        lo, hi = hedged_cs((rng.random(horizon) < p).astype(float), 1 - alpha)
        misses += bool(np.any((lo > p) | (hi < p)))
    bound = alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)
    assert misses / runs <= bound, (misses / runs, bound)  # measured: 16 / 400 = 0.04


def test_narrower_than_predmix_eb_near_one():
    """Betting is at least as tight as predictable-mixture empirical Bernstein for a mean near 1."""
    x = (np.random.default_rng(2).random(80) < 0.95).astype(float)
    widths = {}
    for t in (20, 40, 80):
        lo_b, hi_b = betting_mean_cs(x[:t], 0.95)
        lo_e, hi_e = mean_cs(x[:t], 0.95)
        widths[t] = (round(hi_b - lo_b, 4), round(hi_e - lo_e, 4))
    assert all(b <= e for b, e in widths.values()), f"t: (betting, predmix EB) widths {widths}"


def test_long_sequences_are_monotone_and_tight():  # its speed is measured in bench/, not asserted here
    x = (np.random.default_rng(4).random(2000) < 0.7).astype(float)
    lower, upper = hedged_cs(x)
    assert np.all(np.diff(lower) >= 0) and np.all(np.diff(upper) <= 0)
    assert lower[-1] < x.mean() < upper[-1] and upper[-1] - lower[-1] < 0.1


def test_edge_cases():
    lo, hi = hedged_cs([])
    assert lo.shape == hi.shape == (0,)
    assert betting_mean_cs([]) == (0.0, 1.0)
    assert betting_mean_cs([0.7]) == (0.0, 1.0)  # one observation decides nothing at 95 %
    lo0, hi0 = hedged_cs(np.zeros(50))
    lo1, hi1 = hedged_cs(np.ones(50))
    assert np.all(lo0 == 0) and np.all(hi1 == 1)
    np.testing.assert_allclose(hi0, 1 - lo1, atol=1e-12)  # mirror image of each other
    assert hi0[-1] < 0.15
    lo, hi = hedged_cs([0.0, 1.0, 1.0, 0.0, 0.5], running_intersection=False)
    assert np.all((0 <= lo) & (lo <= hi) & (hi <= 1))


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        hedged_cs([0.5, 1.5])
    with pytest.raises(ValueError, match="confidence"):
        hedged_cs([0.5], confidence=1.0)
    with pytest.raises(ValueError, match="theta"):
        hedged_cs([0.5], theta=1.5)
    with pytest.raises(ValueError, match="trunc_scale"):
        hedged_cs([0.5], trunc_scale=0.0)
    with pytest.raises(ValueError, match="breaks"):
        hedged_cs([0.5], breaks=0)


def test_exported_from_stats():
    assert stats.hedged_cs is hedged_cs and stats.betting_mean_cs is betting_mean_cs
    assert {"hedged_cs", "betting_mean_cs"} <= set(stats.__all__)


@pytest.mark.parametrize("seed", range(6))
def test_a_stream_fed_in_chunks_is_the_whole_stream_bit_for_bit(seed, monkeypatch):
    """`HedgedStream` continued chunk by chunk (the sequential gate's looks) gives exactly the numbers
    `hedged_cs` gives on the whole stream, whatever the chunks and blocks."""
    from pytest_misalign.stats.betting import HedgedStream

    rng = np.random.default_rng(seed)
    x = rng.beta(0.5, 0.5, 700) if seed % 2 else (rng.random(700) < 0.7).astype(float)
    if seed >= 4:
        monkeypatch.setattr(betting, "BLOCK_ELEMENTS", 1001 * 37 + 5)  # blocks that straddle chunks
    confidence = (0.95, 0.99, 0.9975)[seed % 3]
    lower, upper = hedged_cs(x, confidence, running_intersection=False)
    stream, cuts = HedgedStream(confidence), np.sort(rng.choice(np.arange(1, 700), 9, replace=False))
    for lo, hi in zip([0, *cuts], [*cuts, 700]):
        got_lower, got_upper = stream.extend(x[lo:hi])
        assert np.array_equal(got_lower, lower[lo:hi]) and np.array_equal(got_upper, upper[lo:hi])
        assert stream.last == (lower[hi - 1], upper[hi - 1])
        assert stream.intersection == (lower[:hi].max(), upper[:hi].min())


def test_cs_interval_continues_earlier_looks_exactly():
    """`stats.sequences.cs_interval` reuses the state of a stream's earlier prefix (kept by digest);
    growing, shrinking, branching and unrelated streams all give the from-scratch interval."""
    from pytest_misalign.stats import sequences

    def scratch(x, confidence):
        lower, upper = hedged_cs(x, confidence, running_intersection=False)
        lo, hi = float(lower.max()), float(upper.min())
        return (lo, hi) if lo <= hi else (float(lower[-1]), float(upper[-1]))

    rng = np.random.default_rng(7)
    x = (rng.random(400) < 0.6).astype(float)
    branch = x.copy()
    branch[150:] = 1 - branch[150:]
    for n in (20, 40, 40, 120, 400, 90, 300):
        for stream in (x, branch):
            for confidence in (0.95, 0.9975):
                assert sequences.cs_interval(stream[:n], confidence) == scratch(stream[:n], confidence)
