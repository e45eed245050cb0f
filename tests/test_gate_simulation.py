"""How often the gates decide wrongly, by seeded simulation (checked against exact binomial sums).

A model whose true accuracy equals an `accuracy: {min: t}` threshold is the hardest case. Under
`--misalign-gate=confident` it should almost never get a (confident) pass — at most ~alpha/2 of runs,
the one-sided error of a two-sided 95 % interval, a little more at small n — and the `fail` verdict
should be as rare: a model at the threshold is almost always `inconclusive`. The
point gate passes it about half the time: that is the flakiness the confident gate removes.
"""

import numpy as np
import pytest
from scipy.stats import binom

from pytest_misalign.stats import verdict, wilson_interval

THRESHOLD = 0.8
SIZES = (50, 200, 1000)


def verdict_table(n: int, threshold: float = THRESHOLD) -> list[str]:
    """The verdict for every possible number of successes 0..n."""
    return [verdict(*wilson_interval(k, n), min=threshold) for k in range(n + 1)]


def simulate(n: int, p: float, runs: int = 20_000, seed: int = 0) -> dict[str, float]:
    successes = np.random.default_rng(seed).binomial(n, p, size=runs)
    table = np.array(verdict_table(n))
    verdicts = table[successes]
    point_pass = successes / n >= THRESHOLD
    return {
        "confident_pass": float(np.mean(verdicts == "pass")),
        "fail_verdict": float(np.mean(verdicts == "fail")),
        "point_pass": float(np.mean(point_pass)),
    }


def exact(n: int, p: float) -> dict[str, float]:
    pmf = binom.pmf(np.arange(n + 1), n, p)
    table = np.array(verdict_table(n))
    ks = np.arange(n + 1)
    return {"confident_pass": float(pmf[table == "pass"].sum()),
            "fail_verdict": float(pmf[table == "fail"].sum()),
            "point_pass": float(pmf[ks / n >= THRESHOLD].sum())}


@pytest.mark.parametrize("n", SIZES)
def test_at_the_threshold_the_confident_gate_rarely_passes_or_fails(n):
    sim, ref = simulate(n, THRESHOLD), exact(n, THRESHOLD)
    alpha = 0.05
    # one-sided errors of a two-sided 95 % Wilson interval: ~alpha/2 each, a little more at small n
    # (Wilson's coverage oscillates with the discreteness of the binomial)
    assert sim["confident_pass"] <= alpha
    assert sim["fail_verdict"] <= alpha
    assert sim["confident_pass"] + sim["fail_verdict"] <= alpha + 0.01
    assert sim["point_pass"] == pytest.approx(ref["point_pass"], abs=0.015)  # ~0.5: a coin flip
    for key in sim:
        assert sim[key] == pytest.approx(ref[key], abs=0.01)  # the simulation agrees with exact sums


@pytest.mark.parametrize("n, true_accuracy, min_power", [
    (50, 0.9, 0.40), (200, 0.9, 0.95), (1000, 0.9, 0.999),
    (200, 0.85, 0.35), (1000, 0.85, 0.98),
])
def test_power_of_the_confident_gate(n, true_accuracy, min_power):
    """Power: the chance that a model truly above the threshold gets a confident pass."""
    sim = simulate(n, true_accuracy)
    assert sim["confident_pass"] >= min_power
    assert sim["confident_pass"] == pytest.approx(exact(n, true_accuracy)["confident_pass"], abs=0.01)


def test_print_gate_table(capsys):
    """The numbers quoted in the README (run with -s to see them)."""
    rows = []
    for n in SIZES:
        for p in (0.7, 0.8, 0.85, 0.9):
            e = exact(n, p)
            rows.append(f"n={n:5d} true={p:.2f} point-pass={e['point_pass']:.3f} "
                        f"confident-pass={e['confident_pass']:.3f} fail-verdict={e['fail_verdict']:.3f}")
    print("\n".join(rows))
    assert len(rows) == 12
