"""The sequential gate's guarantees, by seeded simulation (cases and runs: tests/sim_sequential.py;
the full tables, with thousands of runs: bench/sequential_simulation.py).

Type-I error under continuous monitoring. For every check kind a model exactly at the threshold is
scored chunk by chunk (default chunk: about 20 looks) and any pass or fail is a wrong confident
verdict. A check's α is split between its sequence and the final fixed-n test on all the items
(sequential/run.py), and at the threshold the final test spends its whole share: the rate there is
close to α by design (the bench measures 0.04-0.05 for every kind), so no feasible number of runs
puts an upper confidence bound below α. What is asserted instead:

- per kind: the data give no evidence that the rate exceeds α (its one-sided 99 % Wilson *lower*
  bound is <= α). Peeking at a 95 % Wilson interval after each of 20 chunks gives ~22 % (accuracy
  at 0.6, 200 items), which this catches with the runs below;
- all kinds pooled: the confident verdicts a *sequence* gave (continuous monitoring proper, before
  the data ran out) have a one-sided 99 % Wilson upper bound <= α/2.

Runs per kind are sized by cost so that the file takes about 75 s on two shared cores; every run is
seeded by its index, so the result does not depend on the pool.

Power: far above the floor, the sequential gate passes as the fixed-n gate does, on a fraction of
the items.
"""

import multiprocessing

import pytest
import sim_sequential as sim  # tests/ is on sys.path

from pytest_misalign.stats import wilson_interval

N = 200
RUNS = {"accuracy_floor": 45, "accuracy_ceiling": 45, "group_accuracy": 30, "gap": 30, "gap_3_groups": 25,
        "paired_gap": 40, "paired_flip_rate": 30, "consistency": 220, "preference": 120, "score": 40,
        "score_gap": 30, "cluster_accuracy": 80, "regression": 60, "likelihood_diff": 60}


def bounds99(k: int, n: int) -> tuple[float, float]:
    """One-sided 99 % Wilson bounds of a rate k / n (each side of the two-sided 98 % interval)."""
    return wilson_interval(k, n, 0.98)


@pytest.fixture(scope="module")
def tallies():
    assert set(RUNS) == set(sim.KINDS)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        return sim.tally_kinds(RUNS, N, pool)


@pytest.mark.parametrize("kind", list(sim.KINDS))
def test_type_one_error_at_the_threshold_is_not_above_alpha(kind, tallies):
    t = tallies[kind]
    lo, hi = bounds99(t.confident, t.runs)
    assert t.runs == RUNS[kind] and t.crashed == 0
    assert lo <= sim.ALPHA, (f"{kind}: confident verdicts at the threshold in {t.confident} of {t.runs} runs "
                             f"(rate {t.confident / t.runs:.4f}: {t.passed} pass, {t.failed} fail, {t.by_sequence} "
                             f"by the sequence); one-sided 99 % Wilson bounds [{lo:.4f}, {hi:.4f}], lower > alpha "
                             f"{sim.ALPHA}")


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
