"""Progress of a rollup run on stderr: done/total shifts, rate, fixes and ETA.

On a terminal one line is redrawn in place (a bar); elsewhere (`fleetpilot rollup --progress`
into a log) one line per written batch. The total is the queue after this run enqueued its
work; with other workers draining the same queue, ``done`` counts what left it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

BAR = 24


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, stream: TextIO, *, tty: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.tty, self.clock = stream, tty, clock
        self.total = self.done = self.fixes = 0
        self.began = clock()

    def start(self, total: int) -> None:
        self.total, self.done, self.fixes, self.began = total, 0, 0, self.clock()
        self._show()

    def advance(self, shifts: int, fixes: int) -> None:
        """A batch was written (its shifts, and the fixes read for it)."""
        self.done += shifts
        self.fixes += fixes
        self._show()

    def left(self, queued: int) -> None:
        """The queue holds ``queued`` shifts (other workers' progress included)."""
        done = max(self.total - queued, 0)
        if done != self.done:
            self.done = done
            self._show()

    def line(self) -> str:
        elapsed = max(self.clock() - self.began, 1e-9)
        rate = self.done / elapsed
        eta = _clock((self.total - self.done) / rate) if rate > 0 else "?"
        share = self.done / self.total if self.total else 1.0
        text = (
            f"rollup: {self.done}/{self.total} shifts ({share:.0%}), {rate * 3600:,.0f} shifts/h, "
            f"{self.fixes / elapsed:,.0f} fixes/s, elapsed {_clock(elapsed)}, ETA {eta}"
        )
        if self.tty:
            filled = int(BAR * share)
            text = f"[{'#' * filled}{'.' * (BAR - filled)}] {text}"
        return text

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _show(self) -> None:
        if self.tty:
            self.stream.write("\r" + self.line() + "\x1b[K")
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()
