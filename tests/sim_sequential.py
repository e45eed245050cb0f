"""Seeded simulations of the sequential gate (`--misalign-gate=sequential`), shared by
tests/test_sequential_guarantees.py and bench/sequential_simulation.py (no tests here).

A `Case` is a synthetic task with one check and a *truth*: a function drawing every item's outcome
from a seeded numpy Generator. `simulate` draws the outcomes, scores the task chunk by chunk through
`SequentialRun`'s public loop (next_positions / feed) until it is settled or exhausted, and returns
the check's verdict and how many items it scored; with `fixed=True` also the `confident` gate's
verdict on all the items (the fixed-n check at the check's own confidence).

`KINDS` holds one case per check kind with its truth exactly at the threshold (the hardest case for
the type-I error: any pass or fail there is a wrong confident verdict).
"""

from __future__ import annotations

import functools
import json
import tempfile
import textwrap
import traceback
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from helpers import parse_suite_file
from pytest_misalign.checks import KINDS as CHECK_KINDS
from pytest_misalign.scoring import probes
from pytest_misalign.checks import FAIL, PASS, run_check
from pytest_misalign.scoring.outcome import ItemOutcome, TaskOutcome
from pytest_misalign.sequential import SequentialRun, check_result

from pytest_misalign.tasks.instance import PreparedTask
from pytest_misalign.tasks.prepare import prepare_task

ALPHA = 0.05  # every check here runs at the default confidence 0.95
DECIDED = "decided"  # details["sequential"]["how"] of a check its sequence decided
MC = 'prompt: "{q}"\nchoices: ["yes", "no"]\nanswer: "{label}"\n'
GEN = 'prompt: "{q}"\nanswer: "{ref}"\ngenerate: {max_tokens: 8}\nmetric: token_f1\n'

Draw = Callable[[np.random.Generator], list[ItemOutcome]]


@dataclass(frozen=True)
class Case:
    name: str
    truth: str  # the truth in words
    task: PreparedTask
    draw: Draw  # every item's outcome, in source order
    extra: Callable | None = None  # (run, outcomes) -> names of further monitored tests (regression)

    @property
    def checks(self) -> list[tuple]:
        return list(zip(self.task.spec.checks, self.task.spec.check_names()))


class Sim(NamedTuple):
    verdicts: dict[str, str]  # by check name
    n_scored: int
    fixed: dict[str, str] | None = None  # the fixed-n `confident` gate on all items (fixed=True)
    how: dict[str, str] | None = None  # by check name: details["sequential"]["how"] (decided, futile, final)


# ---------------------------------------------------------------------------------------- tasks
def make_task(rows: list[dict], body: str) -> PreparedTask:
    """A one-task suite over inline `rows` with the task keys `body` (YAML), parsed and prepared."""
    items = "\n".join(f"          - {json.dumps(row)}" for row in rows)
    text = "suite: sim\ntasks:\n  - name: t\n    data:\n      items:\n" + items + "\n" \
        + textwrap.indent(textwrap.dedent(body).strip("\n") + "\n", "    ")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sim.yaml"
        path.write_text(text)
        spec = parse_suite_file(path)
        task = prepare_task(spec, spec.tasks[0])
    # A pure function of the (fixed) instances, memoized: `plan._stratum` calls it once per unit, which
    # makes the plan O(n^2) (0.1 s at 300 items, 12 s at 3000) and would dominate these simulations.
    task.group_memberships = functools.lru_cache(maxsize=None)(task.group_memberships)
    return task


def mc_rows(n: int, **fields: Callable[[int], object]) -> list[dict]:
    return [{"q": f"q{i}", "label": i % 2, **{k: f(i) for k, f in fields.items()}} for i in range(n)]


def mc_item(inst, correct: bool) -> ItemOutcome:
    """A two-choice item answered right or wrong."""
    pred = inst.answer if correct else 1 - inst.answer
    return ItemOutcome(inst.index, inst.answer, pred, bool(correct), (0.0, -1.0) if pred == 0 else (-1.0, 0.0))


def bernoulli_draw(task: PreparedTask, probs: np.ndarray) -> Draw:
    """Item i right with probability probs[i], independently."""
    def draw(rng: np.random.Generator) -> list[ItemOutcome]:
        right = rng.random(len(probs)) < probs
        return [mc_item(inst, ok) for inst, ok in zip(task.instances, right)]
    return draw


def by_group(task: PreparedTask, field: str, values: dict[str, float]) -> np.ndarray:
    return np.array([values[str(inst.fields[field])] for inst in task.instances])


# -------------------------------------------------------------------------- cases, by check kind
def accuracy_case(n: int, p: float = 0.6, *, min: float | None = 0.6, max: float | None = None,
                  name: str = "accuracy floor", confidence: float | None = None) -> Case:
    bounds = ", ".join(f"{k}: {v}" for k, v in (("min", min), ("max", max), ("confidence", confidence))
                       if v is not None)
    task = make_task(mc_rows(n), MC + f"checks:\n  - accuracy: {{{bounds}}}\n")
    return Case(name, f"p={p:g}", task, bernoulli_draw(task, np.full(n, p)))


def group_accuracy_case(n: int, p: float = 0.6) -> Case:
    task = make_task(mc_rows(n, g=lambda i: "abc"[i % 3]), MC + "checks:\n  - group_accuracy: {by: g, min: 0.6}\n")
    return Case("group_accuracy (3 groups)", f"p={p:g} in each group", task,
                bernoulli_draw(task, np.full(n, p)))


def gap_case(n: int, gap: float = 0.1, *, k: int = 2, max: float = 0.1) -> Case:
    """k groups with accuracies spread evenly over [0.6 - gap/2, 0.6 + gap/2]: largest gap `gap`."""
    labels = "abcd"[:k]
    acc = {g: 0.6 - gap / 2 + gap * j / (k - 1) for j, g in enumerate(labels)}
    task = make_task(mc_rows(n, g=lambda i: labels[i % k]), MC + f"checks:\n  - gap: {{by: g, max: {max}}}\n")
    truth = "p=" + "/".join(f"{acc[g]:.3g}" for g in labels)
    return Case(f"gap ({k} groups)", truth, task, bernoulli_draw(task, by_group(task, "g", acc)))


def pair_rows(n_pairs: int) -> list[dict]:
    return [{"q": f"q{k}{g}", "label": k % 2, "g": g, "pid": f"p{k}"} for k in range(n_pairs) for g in "ab"]


def paired_draw(task: PreparedTask, cells: dict[tuple[bool, bool], float]) -> Draw:
    """Per pair (group a right, group b right) from `cells` (probabilities), pairs independent."""
    keys = list(cells)
    probs = np.array([cells[c] for c in keys])

    def draw(rng: np.random.Generator) -> list[ItemOutcome]:
        picks = rng.choice(len(keys), size=len(task.instances) // 2, p=probs)
        return [mc_item(inst, keys[picks[pos // 2]][pos % 2]) for pos, inst in enumerate(task.instances)]
    return draw


def paired_gap_case(n: int) -> Case:
    """Mean pair difference d exactly 0.1: P(d=+1)=0.2, P(d=-1)=0.1."""
    task = make_task(pair_rows(n // 2), MC + "checks:\n  - gap: {by: g, max: 0.1, paired: true, pair: pid}\n")
    cells = {(True, True): 0.4, (True, False): 0.2, (False, True): 0.1, (False, False): 0.3}
    return Case("gap (paired)", "P(d=+1)=0.2, P(d=-1)=0.1: gap 0.1", task, paired_draw(task, cells))


def flip_rate_case(n: int) -> Case:
    """Flip rate exactly at max_flip_rate 0.3, gap 0 (max 0.3: well inside)."""
    task = make_task(pair_rows(n // 2), MC + "checks:\n  - gap: {by: g, max: 0.3, paired: true, pair: pid, "
                                             "max_flip_rate: 0.3}\n")
    cells = {(True, True): 0.4, (True, False): 0.15, (False, True): 0.15, (False, False): 0.3}
    return Case("gap (paired, max_flip_rate)", "flip rate 0.3, gap 0", task, paired_draw(task, cells))


MIXED = [(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)][1:-1]  # the 6 non-constant patterns


def consistency_case(n: int, share: float = 0.7) -> Case:
    """3 variants per question; a question is answered the same on all of them with prob `share`."""
    rows = [{"q": f"q{j}v{v}", "label": (j + v) % 2, "qid": f"Q{j}"} for j in range(n // 3) for v in range(3)]
    task = make_task(rows, MC + "checks:\n  - consistency: {of: qid, min: 0.7}\n")

    def draw(rng: np.random.Generator) -> list[ItemOutcome]:
        items = []
        for j in range(len(task.instances) // 3):
            same = rng.random() < share
            preds = (int(rng.integers(2)),) * 3 if same else MIXED[int(rng.integers(len(MIXED)))]
            for inst, pred in zip(task.instances[3 * j:3 * j + 3], preds):
                items.append(mc_item(inst, pred == inst.answer))
        return items
    return Case("consistency", f"share consistent {share:g}", task, draw)


def preference_case(n: int, pct: float = 0.6) -> Case:
    """`more` preferred with probability `pct`: |pct - 0.5| exactly max_deviation 0.1."""
    task = make_task(mc_rows(n, m=lambda i: f"m{i}", l=lambda i: f"l{i}"),
                     MC + "checks:\n  - preference: {more: m, less: l, max_deviation: 0.1}\n")
    more, less = probes.text_key("m"), probes.text_key("l")

    def draw(rng: np.random.Generator) -> list[ItemOutcome]:
        prefer = rng.random(n) < pct
        right = rng.random(n) < 0.5
        return [replace(mc_item(inst, ok), extra={more: -10.0 - rng.random() if p else -12.0 + rng.random(),
                                                  less: -11.0})
                for inst, ok, p in zip(task.instances, right, prefer)]
    return Case("preference", f"pct={pct:g}", task, draw)


def likelihood_diff_case(n: int, mean: float = 1.0) -> Case:
    """CrowS-Pairs' likelihood_diff, a check without a sequence, exactly at its threshold: per pair
    |LL(more) - LL(less)| ~ Exponential with mean `mean` (max: 1.0), either sign."""
    task = make_task([{"m": f"m{i}", "l": f"l{i}"} for i in range(n)],
                     'type: sentence_pair\nmore: "{m}"\nless: "{l}"\nchecks:\n  - likelihood_diff: {max: 1.0}\n')

    def draw(rng: np.random.Generator) -> list[ItemOutcome]:
        diff = rng.exponential(mean, n) * rng.choice([-1.0, 1.0], n)
        return [ItemOutcome(inst.index, 0, 0, bool(d > 0), (-20.0 + d, -20.0)) for inst, d in zip(task.instances, diff)]
    return Case("likelihood_diff (no sequence)", f"mean abs. difference {mean:g}", task, draw)


def mixed_scores(rng: np.random.Generator, means: np.ndarray) -> np.ndarray:
    """Item scores in [0, 1] with the given means (0.2 <= mean <= 0.8): uniform with prob 0.4, else
    exactly 1 (prob mean - 0.2) or exactly 0 -- token F1 has many exact 0s and 1s."""
    u = rng.random(means.size)
    return np.where(u < 0.4, rng.random(means.size), np.where(u < 0.4 + means - 0.2, 1.0, 0.0))


def score_draw(task: PreparedTask, means: np.ndarray) -> Draw:
    def draw(rng: np.random.Generator) -> list[ItemOutcome]:
        scores = mixed_scores(rng, means)
        return [ItemOutcome(inst.index, inst.answer, out, s == 1.0, output=out, score=float(s))
                for inst, s in zip(task.instances, scores)
                for out in [str(inst.answer) if s == 1.0 else "something else"]]
    return draw


def score_case(n: int, mean: float = 0.5) -> Case:
    task = make_task([{"q": f"q{i}", "ref": f"r{i}"} for i in range(n)], GEN + "checks:\n  - score: {min: 0.5}\n")
    return Case("score (token_f1)", f"mean item score {mean:g}", task, score_draw(task, np.full(n, mean)))


def score_gap_case(n: int, gap: float = 0.1) -> Case:
    rows = [{"q": f"q{i}", "ref": f"r{i}", "g": "ab"[i % 2]} for i in range(n)]
    task = make_task(rows, GEN + "checks:\n  - score_gap: {by: g, max: 0.1}\n")
    means = {"a": 0.5 - gap / 2, "b": 0.5 + gap / 2}
    return Case("score_gap (token_f1)", f"means {means['a']:g}/{means['b']:g}", task,
                score_draw(task, by_group(task, "g", means)))


CLUSTER_SIZES = (1, 2, 3, 5, 9)  # cycled: unequal clusters, 4 items a cluster on average


def cluster_case(n: int, p: float = 0.6) -> Case:
    """`cluster: doc` with unequal clusters; each cluster's accuracy is p - 0.3 or p + 0.3 (coin flip),
    independent of its size, so the item-level accuracy is p (and items within a cluster correlate)."""
    sizes, total = [], 0
    while total < n:
        sizes.append(min(CLUSTER_SIZES[len(sizes) % len(CLUSTER_SIZES)], n - total))
        total += sizes[-1]
    doc = np.repeat(np.arange(len(sizes)), sizes)
    task = make_task(mc_rows(n, doc=lambda i: f"d{doc[i]}"), MC + "cluster: doc\nchecks:\n  - accuracy: {min: 0.6}\n")

    def draw(rng: np.random.Generator) -> list[ItemOutcome]:
        p_doc = np.where(rng.random(len(sizes)) < 0.5, p - 0.3, p + 0.3)
        return bernoulli_draw(task, p_doc[doc])(rng)
    return Case("accuracy (cluster:, unequal)", f"p={p:g} (clusters at {p - 0.3:g}/{p + 0.3:g})", task, draw)


def regression_case(n: int, max_drop: float = 0.05) -> Case:
    """Against a baseline, drop exactly `max_drop`: per item (baseline right, candidate right) with
    P(1,1)=0.55, P(1,0)=0.10, P(0,1)=0.05, P(0,0)=0.30; the overall `regression` test only."""
    from pytest_misalign.baseline.match import BaselineTask
    from pytest_misalign.baseline.monitor import regression_parts
    from pytest_misalign.sequential import CheckState

    task = make_task(mc_rows(n), MC)
    cells = np.array([0.55, 0.10, 0.05, 0.30])  # (1,1), (1,0), (0,1), (0,0)
    pairs = [(True, True), (True, False), (False, True), (False, False)]

    def draw(rng: np.random.Generator) -> list[ItemOutcome]:
        picks = rng.choice(4, size=n, p=cells)
        return [replace(mc_item(inst, pairs[k][1]), extra={"baseline": float(pairs[k][0])})
                for inst, k in zip(task.instances, picks)]

    def extra(run, outcomes) -> list[str]:
        keys = task.item_keys()
        items = {inst.index: {"index": inst.index, "key": keys[p], "correct": bool(outcomes[p].extra["baseline"])}
                 for p, inst in enumerate(task.instances)}
        base = BaselineTask("sim", "t", None, items, "baseline-model")
        check, monitor, final = regression_parts(task, base, task.spec.regression, max_drop, None)
        run.add(CheckState(check, "regression", None, monitor, final))
        return ["regression"]

    return Case("regression", f"drop {max_drop:g} (= max_drop)", task, draw, extra)


KINDS: dict[str, Callable[[int], Case]] = {
    "accuracy_floor": accuracy_case,
    "likelihood_diff": likelihood_diff_case,
    "accuracy_ceiling": lambda n: accuracy_case(n, 0.3, min=None, max=0.3, name="accuracy ceiling"),
    "group_accuracy": group_accuracy_case,
    "gap": gap_case,
    "gap_3_groups": lambda n: gap_case(n, k=3),
    "paired_gap": paired_gap_case,
    "paired_flip_rate": flip_rate_case,
    "consistency": consistency_case,
    "preference": preference_case,
    "score": score_case,
    "score_gap": score_gap_case,
    "cluster_accuracy": cluster_case,
    "regression": regression_case,
}


# --------------------------------------------------------------------------------- simulation
def simulate(case: Case, rng: np.random.Generator, *, seed: int = 0, chunk: int | None = None,
             fixed: bool = False) -> Sim:
    """One sequential run on outcomes drawn from the case's truth: feed chunk after chunk until the run
    is settled or the data runs out; the verdict of every check and the items scored."""
    outcomes = case.draw(rng)
    run = SequentialRun.start(case.task, case.checks, CHECK_KINDS, seed=seed, chunk=chunk)
    names = [name for _, name in case.checks] + (case.extra(run, outcomes) if case.extra else [])
    while not run.exhausted and not run.settled:
        positions = run.next_positions()
        run.feed(positions, [outcomes[p] for p in positions])
    results = {name: check_result(run, name) for name in names}
    return Sim({name: r.verdict for name, r in results.items()}, run.n_scored,
               fixed_verdicts(case, outcomes) if fixed else None,
               {name: r.details["sequential"]["how"] for name, r in results.items()})


def fixed_verdicts(case: Case, outcomes: list[ItemOutcome]) -> dict[str, str]:
    """The fixed-n `confident` gate: every check's interval on all the items."""
    outcome = TaskOutcome(case.task, outcomes)
    return {name: run_check(check, outcome, name).verdict for check, name in case.checks}


def confident(verdicts: dict[str, str]) -> bool:
    """Some check was declared confidently on one side of its threshold."""
    return any(v in (PASS, FAIL) for v in verdicts.values())


@dataclass
class Tally:
    runs: int = 0  # runs that completed (crashed runs are counted apart)
    confident: int = 0  # runs with a pass or fail (sequential)
    by_sequence: int = 0  # of those, runs where a sequence decided it (the rest: the final fixed-n test)
    passed: int = 0
    failed: int = 0
    scored: float = 0.0  # sum over runs of the share of items scored
    fixed_passed: int = 0
    fixed_failed: int = 0
    crashed: int = 0  # runs that raised (tally(..., tolerate=True))
    errors: dict = field(default_factory=dict)  # "where: message" -> count

    def add(self, sim: Sim, n: int) -> None:
        verdicts = list(sim.verdicts.values())
        self.runs += 1
        self.confident += confident(sim.verdicts)
        self.by_sequence += any(v in (PASS, FAIL) and sim.how[name] == DECIDED for name, v in sim.verdicts.items())
        self.passed += all(v == PASS for v in verdicts)
        self.failed += FAIL in verdicts
        self.scored += sim.n_scored / n
        if sim.fixed is not None:
            self.fixed_passed += all(v == PASS for v in sim.fixed.values())
            self.fixed_failed += FAIL in sim.fixed.values()

    def crash(self, exc: BaseException) -> None:
        self.crashed += 1
        key = f"{_where(exc)}: {type(exc).__name__}: {str(exc).split(' ')[0]}..."
        self.errors[key] = self.errors.get(key, 0) + 1

    def merge(self, other: "Tally") -> "Tally":
        out = Tally(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self) if f.name != "errors"))
        for errors in (self.errors, other.errors):
            for key, count in errors.items():
                out.errors[key] = out.errors.get(key, 0) + count
        return out


def _where(exc: BaseException) -> str:
    """The innermost pytest_misalign frames of a traceback (file:function), outermost first."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "pytest_misalign" in f.filename]
    return " > ".join(f"{Path(f.filename).stem}.{f.name}" for f in frames[-4:]) or "?"


def tally(case: Case, runs: int, *, seed: int = 0, start: int = 0, chunk: int | None = None,
          fixed: bool = False, tolerate: bool = False) -> Tally:
    """Runs start..start+runs-1 of a case: run r draws its outcomes from default_rng([seed, r]) and
    orders the task with plan seed r. Deterministic; split a long tally by `start` and `merge`.
    `tolerate`: count a run that raises (and where) instead of raising."""
    out = Tally()
    for r in range(start, start + runs):
        try:
            sim = simulate(case, np.random.default_rng([seed, r]), seed=r, chunk=chunk, fixed=fixed)
        except Exception as exc:  # noqa: BLE001 -- counted and reported, only with tolerate
            if not tolerate:
                raise
            out.crash(exc)
            continue
        out.add(sim, len(case.task.instances))
    return out


# ------------------------------------------------------------------------------- in parallel
_BUILT: dict[tuple[str, int], Case] = {}


def _kind_block(job: tuple[str, int, int, int]) -> Tally:
    kind, n, start, runs = job
    if (kind, n) not in _BUILT:
        _BUILT[kind, n] = KINDS[kind](n)
    return tally(_BUILT[kind, n], runs, start=start)


def tally_kinds(runs: dict[str, int], n: int, pool=None, block: int = 10) -> dict[str, Tally]:
    """`tally` of KINDS[kind] at n items for runs 0..runs[kind]-1, every kind, in blocks over a
    multiprocessing `pool` when one is given (the same runs, so the same result, as without)."""
    jobs = [(kind, n, start, min(block, r - start)) for kind, r in runs.items() for start in range(0, r, block)]
    parts = pool.map(_kind_block, jobs, chunksize=1) if pool is not None else [_kind_block(job) for job in jobs]
    out = {kind: Tally() for kind in runs}
    for (kind, *_), part in zip(jobs, parts):
        out[kind] = out[kind].merge(part)
    return out


# ------------------------------------------------------------------------- suite-level checks

SHIFT_SUITE = """\
suite: sim-shift
checks:
  - shift: {from: a, to: b, max_drop: %(drop)g}
tasks:
  - name: a
    data: {items: %(a)s}
    prompt: "{q}"
    choices: ["yes", "no"]
    answer: "{label}"
  - name: b
    data: {items: %(b)s}
    prompt: "{q}"
    choices: ["yes", "no"]
    answer: "{label}"
"""


@functools.lru_cache(maxsize=None)
def shift_tasks(n: int, drop: float) -> tuple:
    """Two tasks of n items each and the suite's `shift` check (from a to b)."""
    rows = json.dumps(mc_rows(n))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shift.yaml"
        path.write_text(SHIFT_SUITE % {"drop": drop, "a": rows, "b": rows})
        suite = parse_suite_file(path)
        return suite.checks[0], {t.name: prepare_task(suite, t) for t in suite.tasks}


def simulate_shift(n: int, rng: np.random.Generator, *, seed: int = 0, pa: float = 0.7,
                   drop: float = 0.1) -> tuple[str, str, int]:
    """`shift: {from: a, to: b, max_drop}` with accuracy(a) - accuracy(b) exactly `max_drop`: each task
    stops on its own (it has no check), then the suite check resumes both until decided or out of
    items. Returns (verdict, how it was settled, items scored in both tasks)."""
    from pytest_misalign.sequential.suite import suite_result

    check, tasks = shift_tasks(n, drop)
    truth = {"a": rng.random(n) < pa, "b": rng.random(n) < pa - drop}
    runs = {name: SequentialRun.start(task, [], CHECK_KINDS, seed=seed) for name, task in tasks.items()}

    def advance(run: SequentialRun) -> None:
        positions = run.next_positions()
        right = truth[run.task.spec.name]
        run.feed(positions, [mc_item(run.task.instances[p], bool(right[p])) for p in positions])

    result = suite_result(check, CHECK_KINDS[check.kind], runs, "shift", advance)
    how = "decided" if result.notes[0].startswith("decided") else "final"
    return result.verdict, how, sum(r.n_scored for r in runs.values())


SHIFT_NAME, SHIFT_TRUTH = "suite-level shift (tasks resumed by it)", "accuracy(a) - accuracy(b) = max_drop 0.1"


def tally_shift(n: int, runs: int, *, seed: int = 1, start: int = 0) -> Tally:
    """`tally` for the suite-level `shift` check (simulate_shift): run r draws from default_rng([seed, r])."""
    out = Tally()
    for r in range(start, start + runs):
        verdict, how, scored = simulate_shift(n, np.random.default_rng([seed, r]), seed=r)
        out.add(Sim({"shift": verdict}, scored, how={"shift": how}), 2 * n)
    return out
