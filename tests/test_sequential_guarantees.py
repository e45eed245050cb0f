"""The sequential gate's guarantees, by seeded simulation (cases and runs: tests/sim_sequential.py;
the full tables, with thousands of runs: bench/sequential_simulation.py).

Type-I error under continuous monitoring. For every check kind a model exactly at the threshold is
scored chunk by chunk (default chunk: about 20 looks) and any pass or fail is a wrong confident
verdict. A check's α is split between its sequence and the final fixed-n test on all the items
(sequential/run.py), and at the threshold the final test spends its whole share: the rate there is
close to α by design (the bench measures 0.04-0.05 for every kind), so no feasible number of runs
puts an upper confidence bound below α. What is asserted instead:

- per kind, an exact one-sided binomial test of "rate <= α" at level 0.01 over RUNS = 360 runs: the
  test fails when a kind gave C = 29 or more confident verdicts (P(K >= 29 | 360, 0.05) = 0.0086). A
  kind whose true rate is 2α = 0.10 is caught with probability 0.91 (`test_the_rule_detects_twice_alpha`
  computes both from the binomial), one at 0.22 (naive peeking at a 95 % Wilson interval after each of
  20 chunks) with probability 1 - 1e-40; and a gate run at confidence 0.90 (its own α 0.10, twice the one
  tested) is caught on the same seeds (`test_a_gate_at_twice_alpha_is_caught`);
- all kinds pooled: the confident verdicts a *sequence* gave (continuous monitoring proper, before
  the data ran out) have a one-sided 99 % Wilson upper bound <= α/2.

Every run is seeded by its index, so the result does not depend on the pool. The sequence's state is
carried from look to look (`stats.betting.HedgedStream`, bit for bit the from-scratch numbers), which
keeps a run at about 0.05 s and the file at a few minutes on two cores (marked slow).

Power: far above the floor, the sequential gate passes as the fixed-n gate does, on a fraction of
the items.
"""

import multiprocessing

import pytest
import sim_sequential as sim  # tests/ is on sys.path
from scipy.stats import binom

from pytest_misalign.stats import wilson_interval

pytestmark = pytest.mark.slow

N = 200
RUNS = 360
LEVEL = 0.01  # the test's own false-alarm rate per kind when a kind is exactly at alpha


def critical_count(runs: int = RUNS, alpha: float = sim.ALPHA, level: float = LEVEL) -> int:
    """Smallest C with P(K >= C) <= level for K ~ Binomial(runs, alpha): C or more confident verdicts
    at the threshold is evidence, at `level`, that the kind's rate exceeds alpha."""
    return int(next(c for c in range(runs + 1) if binom.sf(c - 1, runs, alpha) <= level))


def bounds99(k: int, n: int) -> tuple[float, float]:
    """One-sided 99 % Wilson bounds of a rate k / n (each side of the two-sided 98 % interval)."""
    return wilson_interval(k, n, 0.98)


@pytest.fixture(scope="module")
def tallies():
    with multiprocessing.get_context("fork").Pool(2) as pool:
        return sim.tally_kinds({kind: RUNS for kind in sim.KINDS}, N, pool)


def test_the_rule_detects_twice_alpha():
    c = critical_count()
    assert c == 29 and binom.sf(c - 1, RUNS, sim.ALPHA) <= LEVEL
    assert binom.sf(c - 1, RUNS, 2 * sim.ALPHA) >= 0.90  # a kind at 2 alpha is caught 91 % of the time
    assert binom.sf(c - 1, RUNS, 0.22) >= 1 - 1e-12  # naive peeking: always


@pytest.mark.parametrize("kind", list(sim.KINDS))
def test_type_one_error_at_the_threshold_is_not_above_alpha(kind, tallies):
    t = tallies[kind]
    assert t.runs == RUNS and t.crashed == 0
    assert t.confident < critical_count(), (
        f"{kind}: confident verdicts at the threshold in {t.confident} of {t.runs} runs (rate "
        f"{t.confident / t.runs:.4f}: {t.passed} pass, {t.failed} fail, {t.by_sequence} by the sequence); "
        f"P(K >= {t.confident} | rate alpha {sim.ALPHA}) = {binom.sf(t.confident - 1, t.runs, sim.ALPHA):.2g}")


def test_a_gate_at_twice_alpha_is_caught():
    """The same rule, on a gate run at confidence 0.90 (its own α 0.10, split between the sequence and
    the final test as at 0.95): accuracy exactly at the floor, the accuracy_floor case's seeds."""
    case = sim.accuracy_case(N, confidence=0.90)
    t = sim.tally(case, RUNS)
    assert t.confident >= critical_count(), f"{t.confident} confident of {t.runs} at confidence 0.90"


def test_continuous_monitoring_spends_little_of_alpha(tallies):
    runs = sum(t.runs for t in tallies.values())
    seq = sum(t.by_sequence for t in tallies.values())
    confident = sum(t.confident for t in tallies.values())
    hi = bounds99(seq, runs)[1]
    assert hi <= sim.ALPHA / 2, (f"a sequence gave a confident verdict at the threshold in {seq} of {runs} runs "
                                 f"(all kinds; {confident} confident in all, rate {confident / runs:.4f}): one-sided "
                                 f"99 % Wilson upper bound {hi:.4f} > alpha/2")


def test_power_far_above_the_floor_on_few_items():
    """accuracy 0.9 against `accuracy: {min: 0.6}`, 400 items: a pass in >= 95 % of runs, on <= 40 % of
    the items on average."""
    runs = 100
    t = sim.tally(sim.accuracy_case(400, 0.9), runs)
    assert t.runs == runs and t.passed / runs >= 0.95, f"passed {t.passed} of {runs} runs"
    assert t.scored / runs <= 0.40, f"scored {t.scored / runs:.1%} of the items on average"


def test_a_suite_level_shift_at_its_threshold_is_not_above_alpha():
    """`shift` (accuracy(a) - accuracy(b) exactly max_drop 0.1, 300 items a task): the tasks stop on their
    own, the suite check resumes them; confident verdicts not significantly above α (the bench: 45 of
    1000 runs, none by the sequences)."""
    import numpy as np

    runs = 60
    confident = sum(sim.simulate_shift(300, np.random.default_rng([1, r]), seed=r)[0] != "inconclusive"
                    for r in range(runs))
    lo, hi = bounds99(confident, runs)
    assert lo <= sim.ALPHA, f"shift: {confident} of {runs} runs confident; one-sided 99 % bounds [{lo:.4f}, {hi:.4f}]"
