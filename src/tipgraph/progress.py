"""Progress a person can follow: a live line for each long stage on a terminal, none elsewhere.

A stage that runs longer than a couple of seconds (:data:`SHOW_AFTER`, the setting
``progress_after``) gets one line on the terminal, redrawn twice a second
by a thread: how much is done of how much (records, lines, triples or bytes), the rate and
the time left when the stage knows its total, the time so far when it does not. The line
is wiped when the stage ends, so what stays on the screen is the build's own messages.

Without a terminal (a log file, CI, a pipe) nothing is drawn at all: logs get the build's
start and end lines of each stage and nothing else.

The code of a stage only counts: :meth:`Meter.advance` or :meth:`Meter.count` on an
iterable it consumes; a counter is a plain ``int`` add, cheap enough for every triple.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")

#: Seconds a stage runs before its line appears: short stages leave no trace.
SHOW_AFTER = 2.0
#: Seconds between two drawings of the line.
INTERVAL = 0.5


class Meter:
    """How far one stage has got: ``done`` of ``total`` ``unit`` (``total`` None: unknown).

    A stage with several steps calls :meth:`step` for each, so that the line says what the
    stage is doing now and its rate and time left are those of the step.
    """

    def __init__(self, total: int | None = None, unit: str = "records") -> None:
        self.step_name = ""
        self.total, self.unit, self.done = total, unit, 0
        self.started = time.monotonic()

    def step(self, name: str, total: int | None = None, unit: str | None = None) -> None:
        """Start counting a new step of the stage from zero."""
        self.step_name, self.total, self.done = name, total, 0
        self.unit = unit or self.unit
        self.started = time.monotonic()

    def advance(self, count: int = 1) -> None:
        self.done += count

    def count(self, items: Iterable[T]) -> Iterator[T]:
        """``items``, counted as they are taken."""
        for item in items:
            self.done += 1
            yield item

    def line(self, stage: str, elapsed: float) -> str:
        """What the terminal shows, e.g. ``reason: 1,200,000 / 2,400,000 triples, 98,000/s,
        0:12 left``."""
        name = f"{stage} ({self.step_name})" if self.step_name else stage
        step_elapsed = time.monotonic() - self.started
        if not self.done:
            return f"{name}: {_clock(elapsed)} so far"
        rate = self.done / step_elapsed if step_elapsed > 0 else 0.0
        done, per_second = _amount(self.done, self.unit), _amount(rate, self.unit)
        unit = "" if self.unit == "bytes" else f" {self.unit}"  # MB says it
        if self.total:
            left = (self.total - self.done) / rate if rate else 0.0
            return (f"{name}: {done} / {_amount(self.total, self.unit)}{unit}, "
                    f"{per_second}/s, {_clock(max(left, 0.0))} left")
        return f"{name}: {done}{unit}, {per_second}/s, {_clock(elapsed)} so far"


class Display:
    """Draws the meter of the stage running now on ``stream``, if ``stream`` is a terminal."""

    def __init__(self, stream: TextIO | None = None, *, show_after: float = SHOW_AFTER) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = _is_terminal(self.stream)
        self.show_after = show_after

    def run(self, stage: str, meter: Meter) -> _Drawing | None:
        """Start drawing ``meter`` (stopped by the returned drawing's ``stop``); None
        when the stream is no terminal."""
        return _Drawing(self, stage, meter) if self.live else None


class _Drawing:
    """The thread drawing one stage's line until :meth:`stop`."""

    def __init__(self, display: Display, stage: str, meter: Meter) -> None:
        self.display, self.stage, self.meter = display, stage, meter
        self.started = time.monotonic()
        self.drawn = False
        self._stop = threading.Event()
        if display.show_after <= 0:  # every stage drawn, the shortest too (tests)
            self._draw_once()
        self._thread = threading.Thread(target=self._draw, name=f"progress-{stage}",
                                        daemon=True)
        self._thread.start()

    def _draw(self) -> None:
        if self._stop.wait(self.display.show_after):
            return
        while self._draw_once() and not self._stop.wait(INTERVAL):
            pass

    def _draw_once(self) -> bool:
        """Draw the line; False when the terminal went away (nothing more to draw)."""
        line = self.meter.line(self.stage, time.monotonic() - self.started)
        try:
            self.display.stream.write(f"\r\x1b[K{line}")
            self.display.stream.flush()
        except (OSError, ValueError):
            return False
        self.drawn = True
        return True

    def stop(self) -> None:
        """Stop drawing and wipe the line, leaving the cursor where the line began."""
        self._stop.set()
        self._thread.join()
        if self.drawn:
            try:
                self.display.stream.write("\r\x1b[K")
                self.display.stream.flush()
            except (OSError, ValueError):
                pass


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or no file at all
        return False


def _amount(value: float, unit: str) -> str:
    if unit == "bytes":
        return f"{value / 1e6:,.0f} MB" if value >= 1e6 else f"{value / 1e3:,.0f} kB"
    return f"{value:,.0f}"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
