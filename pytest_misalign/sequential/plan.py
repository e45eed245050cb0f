"""The order a sequential gate scores a task in: whole units, stratified, seeded, in chunks.

Units. Items that are not independent are scored together and count as one observation of a
sequence: a `cluster:` cluster, a counterfactual pair (`pair:` of a paired check), a question's
variants (`of:` of a consistency check). Units are the connected components of "shares one of these
fields" (so a pair never straddles two units); without any, every item is its own unit.

Order. Units are stratified by the groups of the task's checks (the `by:` labels a unit holds) and
shuffled within each stratum with a seeded generator; the strata are then interleaved in proportion
to their sizes (each unit gets the virtual time (rank + u) / stratum size, u uniform in [0, 1)),
so every group keeps receiving items from the first chunk on and each group's own items come in a
uniformly random order. Chunks are consecutive runs of units of about `chunk` items.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from ..spec.model import CheckSpec
from ..tasks.instance import PreparedTask


@dataclass(frozen=True)
class Plan:
    units: tuple[tuple[int, ...], ...]  # item positions (into task.instances), in scoring order
    chunks: tuple[int, ...]  # the number of units scored after each chunk (cumulative, last == len(units))
    rank: np.ndarray  # rank[position] = the scoring rank of the item's unit

    @property
    def n_items(self) -> int:
        return int(self.rank.size)

    def positions(self, n_units: int) -> list[int]:
        """The items of the first `n_units` units, in source order."""
        return sorted(p for unit in self.units[:n_units] for p in unit)


def unit_fields(task: PreparedTask, checks: list[CheckSpec]) -> list[str]:
    fields = [task.spec.cluster] if task.spec.cluster else []
    for check in checks:
        fields += [check.pair_field] if check.pair_field else []
        fields += [check.shape.unit] if check.shape.unit else []
    return list(dict.fromkeys(f for f in fields if f))


def build_units(task: PreparedTask, fields: list[str]) -> list[list[int]]:
    """Connected components of items sharing a value of any of `fields` (union-find), in source order."""
    n = len(task.instances)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for field in fields:
        first: dict[str, int] = {}
        for pos, inst in enumerate(task.instances):
            key = str(inst.fields.get(field))
            root = first.setdefault(key, pos)
            a, b = find(pos), find(root)
            if a != b:
                parent[max(a, b)] = min(a, b)
    units: dict[int, list[int]] = {}
    for pos in range(n):
        units.setdefault(find(pos), []).append(pos)
    return list(units.values())


def _stratum(labels: dict[str, list[tuple[str, ...]]], unit: list[int]) -> tuple:
    """The groups a unit holds under each `by` field (its stratum)."""
    return tuple(tuple(sorted({label for pos in unit for label in memberships[pos]}))
                 for memberships in labels.values())


def order_units(task: PreparedTask, units: list[list[int]], by_fields: list[str], seed: int) -> list[list[int]]:
    """Stratified, seeded order (see the module doc)."""
    rng = np.random.default_rng([seed, zlib.crc32(f"{task.suite.name}::{task.spec.name}".encode())])
    labels = {by: task.group_memberships(by) for by in by_fields}  # once per field, not per unit
    strata: dict[tuple, list[int]] = {}
    for i, unit in enumerate(units):
        strata.setdefault(_stratum(labels, unit), []).append(i)
    timed = []
    for members in strata.values():
        shuffled = rng.permutation(len(members))
        jitter = rng.random(len(members))
        timed += [((rank + jitter[rank]) / len(members), members[j]) for rank, j in enumerate(shuffled)]
    timed.sort()
    return [units[i] for _, i in timed]


def auto_chunk(n_items: int) -> int:
    """Default chunk: 1/20 of the task, at least 10 items (about 20 looks at a large task)."""
    return max(10, math.ceil(n_items / 20))


def make_plan(task: PreparedTask, checks: list[CheckSpec], seed: int = 0, chunk: int | None = None) -> Plan:
    units = build_units(task, unit_fields(task, checks))
    by_fields = list(dict.fromkeys(c.by for c in checks if c.by))
    ordered = order_units(task, units, by_fields, seed)
    size = chunk or auto_chunk(len(task.instances))
    cuts, items = [], 0
    for i, unit in enumerate(ordered, start=1):
        items += len(unit)
        if items >= size * (len(cuts) + 1) or i == len(ordered):
            cuts.append(i)
    rank = np.empty(len(task.instances), dtype=np.int64)
    for r, unit in enumerate(ordered):
        rank[unit] = r
    return Plan(tuple(tuple(u) for u in ordered), tuple(cuts), rank)
