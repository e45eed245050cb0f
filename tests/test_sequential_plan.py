"""The sequential gate's scoring order (sequential/plan.py): units, strata, seeds, chunks."""

from collections import Counter

import pytest

from helpers import one_task
from pytest_misalign.sequential.plan import auto_chunk, build_units, make_plan


def _rows(n, groups=("a", "b", "c"), weights=(6, 3, 1)):
    pattern = [g for g, w in zip(groups, weights) for _ in range(w)]
    return [{"q": f"q{i}", "g": pattern[i % len(pattern)], "label": 0, "pid": f"p{i // 2}", "cl": f"c{i // 6}"}
            for i in range(n)]


BODY = 'prompt: "{q}"\nchoices: ["yes", "no"]\nanswer: "{label}"\nchecks:\n  - accuracy: {min: 0.5}\n' \
       '  - gap: {by: g, max: 0.2}\n'


def test_units_join_items_sharing_a_pair_or_cluster(tmp_path):
    task = one_task(tmp_path, _rows(12), BODY)
    assert build_units(task, []) == [[i] for i in range(12)]
    assert build_units(task, ["pid"]) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11]]
    # pid joins 0-1, 2-3...; cl joins 0..5 and 6..11: components are the union of both relations
    assert build_units(task, ["pid", "cl"]) == [list(range(6)), list(range(6, 12))]
    # a pair straddling clusters is joined with both
    rows = _rows(12)
    rows[6]["pid"] = "p0"
    task = one_task(tmp_path, rows, BODY, name="t.yaml")
    assert build_units(task, ["pid", "cl"]) == [list(range(12))]


def test_order_is_seeded_and_covers_every_item_once(tmp_path):
    task = one_task(tmp_path, _rows(200), BODY)
    checks = task.spec.checks
    a, b, c = make_plan(task, checks, seed=0), make_plan(task, checks, seed=0), make_plan(task, checks, seed=1)
    assert a.units == b.units
    assert a.units != c.units
    assert sorted(p for u in a.units for p in u) == list(range(200))
    assert a.chunks[-1] == len(a.units) and list(a.chunks) == sorted(set(a.chunks))
    assert all(a.rank[p] == r for r, unit in enumerate(a.units) for p in unit)


def test_every_chunk_holds_each_group_in_proportion(tmp_path):
    """Strata interleaved by virtual time: after k units each group has received its share of them,
    to within one unit, from the first chunk on (group c is 10% of the items)."""
    task = one_task(tmp_path, _rows(300), BODY)
    plan = make_plan(task, task.spec.checks, seed=3, chunk=10)
    labels = [task.instances[u[0]].fields["g"] for u in plan.units]
    share = {"a": 0.6, "b": 0.3, "c": 0.1}
    for stop in plan.chunks:
        counts = Counter(labels[:stop])
        for g, s in share.items():
            assert abs(counts[g] - s * stop) <= 1.0 + 1e-9, (stop, g, counts)


def test_within_a_group_the_order_is_uniformly_random(tmp_path):
    """Each group's own items come in a uniformly random order: over many seeds, every item of a
    group is equally likely to be that group's first (chi-square-free check: within 4 SE)."""
    task = one_task(tmp_path, _rows(30), BODY)
    firsts = Counter()
    seeds = 600
    for seed in range(seeds):
        plan = make_plan(task, task.spec.checks, seed=seed)
        firsts[next(u[0] for u in plan.units if task.instances[u[0]].fields["g"] == "c")] += 1
    members = [i for i in range(30) if task.instances[i].fields["g"] == "c"]
    expected = seeds / len(members)
    se = (seeds * (1 / len(members)) * (1 - 1 / len(members))) ** 0.5
    assert set(firsts) == set(members)
    assert all(abs(firsts[m] - expected) < 4 * se for m in members), firsts


@pytest.mark.parametrize("n, chunk", [(10, 10), (100, 10), (1000, 50), (4000, 200)])
def test_auto_chunk(n, chunk):
    assert auto_chunk(n) == chunk
