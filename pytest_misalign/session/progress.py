"""Scoring progress on the real terminal, even though pytest captures the tests' output.

While a task is scored (inside the first test that needs it), backends call a progress callback
with the number of requests just finished. `TaskProgress` turns those into items done, items/s
and an ETA, and hands text to a `TerminalSink`, which writes through pytest's terminal writer
with output capturing suspended (the way pytest's own live logging does):

* on a terminal (TTY): a live bar appended to pytest's current line, redrawn at most 4 times a
  second and erased when the task is done, so the usual test-progress line is left as it was;
* elsewhere (CI logs, pipes): no bar, one summary line per task when it is done
  (``[misalign] suite::task: 300 items (900 requests) in 41.2 s, 7.3 items/s, 0 from cache``);
* with ``-qq`` (verbosity <= -2): nothing at all.

`PYTEST_MISALIGN_PROGRESS=live|summary|off` overrides the choice.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable

ENV = "PYTEST_MISALIGN_PROGRESS"


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def format_bar(label: str, done: float, total: int, rate: float | None, eta: float | None,
               width: int = 10) -> str:
    """`[####......] 120/300 items 4.1 items/s ETA 0:44 label` (the label last: cut first)."""
    frac = 0.0 if total <= 0 else min(1.0, done / total)
    filled = int(frac * width)
    text = f"[{'#' * filled}{'.' * (width - filled)}] {int(done)}/{total} items"
    if rate is not None:
        text += f" {rate:.1f} items/s"
    if eta is not None:
        text += f" ETA {format_duration(eta)}"
    return f"{text} {label}"


class TaskProgress:
    """Progress callback for one task: `progress(n_requests_done)`; `close()` when scored."""

    def __init__(self, label: str, n_items: int, n_requests: int, sink: "Sink | None" = None, *,
                 clock: Callable[[], float] = time.monotonic, min_interval: float = 0.25) -> None:
        self.label = label
        self.n_items = n_items
        self.n_requests = max(n_requests, 1)
        self.sink = sink
        self.clock = clock
        self.min_interval = min_interval
        self.start = clock()
        self.requests_done = 0
        self._last_draw = float("-inf")
        self.closed = False

    @property
    def items_done(self) -> float:
        return self.requests_done * self.n_items / self.n_requests

    def rate(self) -> float | None:
        elapsed = self.clock() - self.start
        if elapsed <= 0 or self.requests_done == 0:
            return None
        return self.items_done / elapsed

    def eta(self) -> float | None:
        rate = self.rate()
        if not rate:
            return None
        return max(0.0, (self.n_items - self.items_done) / rate)

    def text(self) -> str:
        return format_bar(self.label, self.items_done, self.n_items, self.rate(), self.eta())

    def __call__(self, n: int) -> None:
        self.requests_done = min(self.n_requests, self.requests_done + int(n))
        if self.sink is None or not self.sink.live_enabled:
            return
        now = self.clock()
        if now - self._last_draw >= self.min_interval or self.requests_done >= self.n_requests:
            self._last_draw = now
            self.sink.live(self.text())

    def summary(self, note: str = "", from_cache: int | None = None, failed: bool = False) -> str:
        """One line for the log. A rate only when it means something: not when every request came
        from the result cache, nor for runs too short to time (under 0.1 s), nor for a failure."""
        elapsed = self.clock() - self.start
        line = f"[misalign] {self.label}: {self.n_items} items ({self.n_requests} requests)"
        if failed:
            return f"{line}: {note or 'FAILED'} ({elapsed:.1f} s)"
        if from_cache is not None and from_cache >= self.n_requests:
            return line + " all from the result cache" + (f", {note}" if note else "")
        line += f" in {elapsed:.1f} s" + (f", {self.n_items / elapsed:.1f} items/s" if elapsed >= 0.1 else "")
        if from_cache:
            line += f", {from_cache} from cache"
        return line + (f", {note}" if note else "")

    def close(self, note: str = "", from_cache: int | None = None, failed: bool = False) -> str:
        line = self.summary(note, from_cache, failed)
        if not self.closed and self.sink is not None:
            self.sink.done(line)
        self.closed = True
        return line


class Sink:
    """Where progress text goes. `mode`: 'live' (redrawn bar), 'summary' (lines), 'off'."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    @property
    def live_enabled(self) -> bool:
        return self.mode == "live"

    def live(self, text: str) -> None:  # pragma: no cover - interface
        pass

    def done(self, line: str) -> None:  # pragma: no cover - interface
        pass


class ListSink(Sink):
    """Collects what would be shown (tests)."""

    def __init__(self, mode: str = "live") -> None:
        super().__init__(mode)
        self.bars: list[str] = []
        self.lines: list[str] = []

    def live(self, text: str) -> None:
        self.bars.append(text)

    def done(self, line: str) -> None:
        if self.mode == "summary":
            self.lines.append(line)


class TerminalSink(Sink):
    """pytest's terminal, with capturing suspended while writing."""

    def __init__(self, config, mode: str | None = None) -> None:
        self.config = config
        self.tw = config.get_terminal_writer()
        if mode is None:
            mode = choose_mode(config, self._isatty())
        super().__init__(mode)
        self._col: int | None = None  # column where the live bar starts

    def _isatty(self) -> bool:
        """Whether pytest's terminal is a TTY -- asked with capturing suspended: the sink is made
        inside the first test that scores, when fd 1 points at pytest's capture file."""
        stream = getattr(self.tw, "_file", None) or sys.__stdout__
        with self._uncaptured():
            try:
                return bool(stream.isatty())
            except (AttributeError, ValueError):
                return False

    def _uncaptured(self):
        capman = self.config.pluginmanager.getplugin("capturemanager")
        if capman is None:
            import contextlib

            return contextlib.nullcontext()
        return capman.global_and_fixture_disabled()

    def live(self, text: str) -> None:
        if self.mode != "live":
            return
        with self._uncaptured():
            if self._col is None:
                self._col = self.tw.width_of_current_line
            room = max(10, self.tw.fullwidth - self._col - 1)
            self.tw.write_raw(self._home() + "\x1b[K" + text[:room], flush=True)

    def _home(self) -> str:
        return "\r" + (f"\x1b[{self._col}C" if self._col else "")

    def done(self, line: str) -> None:
        if self.mode == "live":
            if self._col is not None:
                with self._uncaptured():
                    self.tw.write_raw(self._home() + "\x1b[K", flush=True)  # restore pytest's line
            self._col = None
        elif self.mode == "summary":
            with self._uncaptured():
                reporter = self.config.pluginmanager.getplugin("terminalreporter")
                if reporter is not None:
                    _own_line(reporter, line)
                else:
                    self.tw.line(line)


def _own_line(reporter, line: str) -> None:
    """`line` on a line of its own, then pytest's file prefix again, so the test's result letter
    continues after its file name instead of starting a line of bare dots."""
    from pathlib import Path

    current = reporter.currentfspath
    reporter.write_line(line)
    if isinstance(current, Path):
        from _pytest.pathlib import bestrelpath

        reporter._tw.write(bestrelpath(reporter.startpath, current) + " ")
        reporter.currentfspath = current


def choose_mode(config, isatty: bool) -> str:
    forced = os.environ.get(ENV, "").strip().lower()
    if forced in ("live", "summary", "off"):
        return forced
    if config.getoption("verbose", 0) <= -2:
        return "off"
    return "live" if isatty else "summary"


def progress_factory(config) -> Callable[[str, int, int], TaskProgress]:
    """`factory(label, n_items, n_requests)` -> a `TaskProgress` writing to pytest's terminal."""
    sink: TerminalSink | None = None

    def make(label: str, n_items: int, n_requests: int) -> TaskProgress:
        nonlocal sink
        if sink is None:
            sink = TerminalSink(config)
        return TaskProgress(label, n_items, n_requests, sink if sink.mode != "off" else None)

    return make
