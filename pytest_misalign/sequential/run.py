"""A task scored sequentially: chunk after chunk in the plan's order, every monitored check updated
after each chunk, scoring stopped once every check is settled (decided, or futile) or the data runs out.

The error budget of a check at confidence 1 − α is split: its sequence runs at α_s = SEQUENCE_SHARE·α,
and when the data runs out before the sequence decides, the fixed-n interval of the check (as the
`confident` gate computes it) decides at α − α_s on all the items. A wrong verdict needs the sequence
to miss at some time (probability ≤ α_s, however often we look) or the final test to miss (≤ α − α_s):
≤ α in all. Most of α goes to the final test, so that a check the `confident` gate decides on all the
items is decided the same way when the sequence leaves it to the end (the final interval is at 0.96
where the confident gate's is at 0.95), while a sequence at α/5 is only ~10 % wider than at α/2.
A check without a sequence (`CheckKind.why_unmonitored`: a mean of unbounded values, ECE, corpus
BLEU...) is decided by its own fixed-n interval at one look fixed before any item is scored -- after
the chunk that completes half the task (LOOK_FRACTIONS) -- at 1 − α_l with α_l = LOOK_SHARE·α, and by
the final test on all the items. By the union bound a wrong verdict has probability ≤ α whatever stops
the task, if the final test gets α minus what the look really spends. The look's interval is
approximate (a percentile bootstrap, least accurate that far in the tail, on skewed values): measured at
the threshold (bench/sequential_simulation.py, `likelihood_diff`), a look errs up to ~3× its nominal
level, so the final test is left α − LOOK_ALLOWANCE·α_l (0.9575 at α = 0.05). Looking after every
chunk at α/100 each gave 8.8 % wrong verdicts, three looks at α/60 each 6.0 %: one look it is. Such a
check no longer forces its task to the end: a clear case stops it at half the items.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

from ..backends.base import Backend, Progress
from ..checks import INCONCLUSIVE, CheckResult
from ..checks.kind import MonitorFn
from ..checks.monitor import Seq, View
from ..checks.registry import KindRegistry
from ..scoring.outcome import ItemOutcome, TaskOutcome
from ..scoring.score import score_task
from ..spec.model import CheckSpec
from ..tasks.instance import PreparedTask
from .futility import futile
from .plan import Plan, make_plan

DECIDED, FUTILE, FINAL, FULL = "decided", "futile", "final", "unmonitored"
SEQUENCE_SHARE = 0.2  # of a check's α, spent on its sequence; the rest on the final fixed-n test
LOOK_SHARE = 0.05  # no sequence: of a check's α, the nominal level of its look
LOOK_ALLOWANCE = 3.0  # ... and what the look is charged: its measured error, up to 3x nominal
LOOK_FRACTIONS = (0.5,)  # no sequence: where its fixed-n interval is looked at


FinalFn = Callable[[CheckSpec, TaskOutcome, str], CheckResult]  # the fixed-n check (confidence from the spec)


@dataclass
class CheckState:
    check: CheckSpec
    name: str
    why_not: str | None  # no sequence: why (the task then scores every item)
    monitor: MonitorFn | None = None
    final: FinalFn | None = None  # the fixed-n check (its kind's `run`)
    futility: bool = False  # its kind supports futility (`sequential/futility.py`)
    seq: Seq | None = None  # the sequence's state when it settled (or the latest)
    status: str | None = None  # DECIDED | FUTILE once settled
    units: int = 0  # units scored when it settled
    items: int = 0  # items scored when it settled
    looks: tuple[int, ...] = ()  # no sequence: after which chunks (their count) its interval is looked at
    look_result: CheckResult | None = None  # no sequence: the fixed-n result that decided it at a look

    def __getstate__(self) -> dict:
        """Pickled without the kind's functions (an xdist worker sends its runs to the controller, which
        only reports them; a plugin's monitor may be a function that cannot be pickled)."""
        return {**self.__dict__, "monitor": None, "final": None}

    @property
    def alpha(self) -> float:
        return 1.0 - self.check.confidence

    @property
    def alpha_sequence(self) -> float:
        """The part of α spent before the end: on the sequence, or (no sequence) the look's level."""
        return (LOOK_SHARE if self.why_not is not None else SEQUENCE_SHARE) * self.alpha

    @property
    def final_confidence(self) -> float:
        reserved = LOOK_SHARE * LOOK_ALLOWANCE if self.why_not is not None else SEQUENCE_SHARE
        return 1.0 - (1.0 - reserved) * self.alpha

    @property
    def settled(self) -> bool:
        return self.status is not None

    @property
    def look_confidence(self) -> float:
        """No sequence: the level of its fixed-n interval at each look (α_l split over the looks)."""
        return 1.0 - self.alpha_sequence / max(1, len(LOOK_FRACTIONS))


@dataclass
class SequentialRun:
    task: PreparedTask
    plan: Plan
    states: dict[str, CheckState]
    blockers: list[str] = field(default_factory=list)  # why the task must score every item
    n_units: int = 0
    chunks: int = 0
    items: dict[int, ItemOutcome] = field(default_factory=dict)

    @classmethod
    def start(cls, task: PreparedTask, checks: list[tuple[CheckSpec, str]], kinds: KindRegistry, seed: int = 0,
              chunk: int | None = None, blockers: list[str] | None = None) -> "SequentialRun":
        states = {name: _state(kinds, check, name, task) for check, name in checks}
        plan = make_plan(task, [c for c, _ in checks], seed, chunk)
        for state in states.values():
            state.looks = planned_looks(len(plan.chunks))
        return cls(task, plan, states, list(blockers or []))

    def add(self, state: CheckState) -> None:
        """Monitor one more check (e.g. a regression test against a baseline), before scoring starts."""
        state.looks = planned_looks(len(self.plan.chunks))
        self.states[state.name] = state

    @property
    def n(self) -> int:
        return self.plan.n_items

    @property
    def n_scored(self) -> int:
        return len(self.items)

    @property
    def exhausted(self) -> bool:
        return self.n_units >= len(self.plan.units)

    @property
    def settled(self) -> bool:
        return not self.blockers and all(s.settled for s in self.states.values())

    def run(self, backend: Backend, progress: Progress | None = None) -> None:
        while not self.exhausted and not self.settled:
            self.advance(backend, progress)

    def advance(self, backend: Backend, progress: Progress | None = None) -> None:
        """Score the next chunk and update every unsettled check."""
        todo = self.next_positions()
        sub = replace(self.task, instances=[self.task.instances[p] for p in todo], _keys=None)
        self.feed(todo, score_task(sub, backend, progress=progress).items)

    def next_positions(self) -> list[int]:
        """The items of the next chunk (source order)."""
        done, stop = self.n_units, self.plan.chunks[self.chunks]
        return sorted(p for unit in self.plan.units[done:stop] for p in unit)

    def feed(self, positions: list[int], items: list[ItemOutcome]) -> None:
        """Record the next chunk's outcomes (from `next_positions`) and update every unsettled check."""
        for pos, item in zip(positions, items, strict=True):
            self.items[pos] = item
        self.n_units, self.chunks = self.plan.chunks[self.chunks], self.chunks + 1
        view = View(self.task, self.plan, self.n_units, self.items)
        if self.blockers:  # scored in full whatever the data: the fixed-n checks decide (verdicts.py)
            return
        for state in self.states.values():
            if not state.settled and state.why_not is None:
                self._update(state, view)
            elif not state.settled and self.chunks in state.looks:
                self._look(state)

    def _look(self, state: CheckState) -> None:
        """A check without a sequence: its fixed-n interval on the items so far, at the look level."""
        result = state.final(replace(state.check, params={**state.check.params,
                                                           "confidence": state.look_confidence}),
                             self.outcome(), state.name)
        state.units, state.items = self.n_units, self.n_scored
        if result.verdict != INCONCLUSIVE:
            state.status, state.look_result = DECIDED, result

    def _update(self, state: CheckState, view: View) -> None:
        monitor = state.monitor
        state.seq = monitor(state.check, view, state.alpha_sequence)
        state.units, state.items = self.n_units, self.n_scored
        if state.seq.verdict != INCONCLUSIVE:
            state.status = DECIDED
        elif not self.exhausted and state.futility and not view.task.spec.cluster and futile(
                state.check, view, monitor, state.final, state.alpha_sequence, state.final_confidence):
            state.status = FUTILE

    def outcome(self, n_units: int | None = None) -> TaskOutcome:
        """The outcome over the items scored (after `n_units` units), in source order."""
        positions = self.plan.positions(self.n_units if n_units is None else n_units)
        sub = replace(self.task, instances=[self.task.instances[p] for p in positions], _keys=None)
        return TaskOutcome(sub, [self.items[p] for p in positions])

    def stop_text(self) -> str:
        if self.n_scored < self.n:
            return f"decided after {self.n_scored} of {self.n} items"
        if self.blockers:
            return f"all {self.n} items scored ({self.blockers[0]})"
        return f"all {self.n} items scored (data ran out before every sequence decided)"


def planned_looks(n_chunks: int) -> tuple[int, ...]:
    """The chunk counts after which a check without a sequence is looked at (before the last chunk)."""
    return tuple(sorted({c for f in LOOK_FRACTIONS if 1 <= (c := round(f * n_chunks)) < n_chunks}))


def _state(kinds: KindRegistry, check: CheckSpec, name: str, task: PreparedTask) -> CheckState:
    kind = kinds[check.kind]
    return CheckState(check, name, kind.why_unmonitored(check, task.spec), kind.monitor, kind.run, kind.futility)
