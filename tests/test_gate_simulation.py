"""How often the gates decide wrongly, by seeded simulation (checked against exact binomial sums).

The simulation draws success counts and runs the plugin's own gate (`stats.wilson_interval` and
`stats.verdict`) on each; the reference is independent of both: exact binomial sums over statsmodels'
Wilson interval with the rule written out here (pass: lower >= t; fail: upper < t). The table in
docs/gates.md is checked against that reference, row by row.

A model whose true accuracy equals an `accuracy: {min: t}` threshold is the hardest case. Under
`--misalign-gate=confident` it should almost never get a (confident) pass — at most ~alpha/2 of runs,
the one-sided error of a two-sided 95 % interval, a little more at small n — and the `fail` verdict
should be as rare: a model at the threshold is almost always `inconclusive`. The
point gate passes it about half the time: that is the flakiness the confident gate removes.
"""

import re
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom
from statsmodels.stats.proportion import proportion_confint

from pytest_misalign.stats import verdict, wilson_interval

THRESHOLD = 0.8
SIZES = (50, 200, 1000)
GATES_MD = Path(__file__).resolve().parent.parent / "docs" / "gates.md"


def simulate(n: int, p: float, runs: int = 20_000, seed: int = 0) -> dict[str, float]:
    """The plugin's gate on seeded draws of the success count."""
    successes = np.random.default_rng(seed).binomial(n, p, size=runs)
    seen = {int(k): verdict(*wilson_interval(int(k), n), min=THRESHOLD) for k in np.unique(successes)}
    verdicts = np.array([seen[int(k)] for k in successes])
    point_pass = successes / n >= THRESHOLD
    return {
        "confident_pass": float(np.mean(verdicts == "pass")),
        "fail_verdict": float(np.mean(verdicts == "fail")),
        "point_pass": float(np.mean(point_pass)),
    }


def exact(n: int, p: float) -> dict[str, float]:
    """Binomial sums over statsmodels' Wilson interval, the gate's rule written out."""
    ks = np.arange(n + 1)
    pmf = binom.pmf(ks, n, p)
    lower, upper = proportion_confint(ks, n, alpha=0.05, method="wilson")
    return {"confident_pass": float(pmf[lower >= THRESHOLD].sum()),
            "fail_verdict": float(pmf[upper < THRESHOLD].sum()),
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


def docs_table() -> list[tuple[int, float, list[float]]]:
    """Rows of the table in docs/gates.md: (items, true accuracy, [point pass, confident pass, fail])."""
    rows = []
    for line in GATES_MD.read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r"\| (\d+) \| (0\.\d+)(?: \(at threshold\))? \| (\d\.\d{3}) \| (\d\.\d{3}) \| (\d\.\d{3}) \|", line)
        if m:
            rows.append((int(m[1]), float(m[2]), [float(m[i]) for i in (3, 4, 5)]))
    return rows


def test_the_docs_gate_table_is_the_exact_computation():
    """docs/gates.md quotes point / confident pass and fail rates for `accuracy: {min: 0.8}`: every row
    equals the exact binomial computation to the three decimals shown."""
    rows = docs_table()
    assert len(rows) == 7, f"expected the 7 rows of docs/gates.md's gate table, found {rows}"
    for n, p, quoted in rows:
        e = exact(n, p)
        assert quoted == [round(e[k], 3) for k in ("point_pass", "confident_pass", "fail_verdict")], (n, p, e)
