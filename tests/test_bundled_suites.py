"""Review of every bundled suite: well-formed items, sizes, balance, and the BBQ task on real data."""

from collections import Counter
from pathlib import Path

import pytest


from helpers import parse_suite_file
from pytest_misalign.tasks.prepare import prepare_task

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SUITES = sorted((ROOT / "suites").glob("*.yaml"))
TASKS = [(path, task.name) for path in SUITES for task in parse_suite_file(path).tasks]


def prepared(path, name):
    spec = parse_suite_file(path)
    task = spec.task(name)
    if task.data.hf is not None:
        if not (SHARED / task.data.hf.get("local", "-")).is_file():
            pytest.skip("hub task: its local copy under ../shared is absent")
        return prepare_task(spec, task, data_dir=SHARED)
    return prepare_task(spec, task)  # raises on a missing field or an answer not among the choices


def test_the_five_kinds_are_bundled():
    names = {p.stem for p in SUITES}
    assert {"data_bias", "knowledge_blindspots", "context_understanding", "generalization",
            "objective_conflict"} <= names


@pytest.mark.parametrize("path, name", TASKS, ids=[f"{p.stem}::{n}" for p, n in TASKS])
def test_task_is_well_formed(path, name):
    task = prepared(path, name)
    documents = task.spec.is_perplexity  # texts scored whole: 10 a domain (~8-12 per issue 13)
    assert len(task.instances) >= 40 if path.stem == "capitals" or documents else len(task.instances) >= 60
    keys = [(i.prompt, i.choices) for i in task.instances]
    assert len(set(keys)) == len(keys), "duplicate items"
    if not task.spec.is_generation and not documents:
        # the right answer's position is spread out: no position bias can score well
        positions = Counter(i.answer for i in task.instances)
        assert max(positions.values()) <= 0.7 * len(task.instances), positions
    for check in task.spec.checks:
        if check.by is None:
            continue
        sizes = Counter(task.group_values(check.by))
        minimum = 10 if path.stem == "capitals" or documents else 20
        assert min(sizes.values()) >= minimum, sizes
        if task.spec.data.hf is None:  # written here: balanced by construction
            assert len(set(sizes.values())) == 1, sizes
