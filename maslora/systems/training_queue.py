"""Visitors' trainings one at a time, each waiting visitor told their place and an estimated wait.

A new expert's training takes the server's cores for a while (about 21 s for tiny.en, 50 s for base, alone:
analysis/bench_new_expert); two at once would each take twice as long and slow every compare further, so
they queue, first come first served, server-wide. While a visitor waits, they hear where they stand every
second: their place, and how long until their turn, estimated from what was measured on this server: the
running training's time left (from its own steps so far, maslora.training.new_expert.Progress) plus, for
each training ahead of theirs, the mean time the finished ones took (or, before any has finished, what the
running one is on course to take).

    with queue.turn(on_wait=show_wait, cancelled=cancelled, on_step=show_step) as on_step:  # waits its turn
        train_new_expert(..., on_step=on_step)      # each step's Progress: the estimate's clock, then show_step
"""

import contextlib
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from maslora.errors import TrainingCancelled
from maslora.training.new_expert import Progress

ESTIMATE_FROM = 20  # the last trainings a training's expected time is the mean of: recent load counts most


@dataclass(frozen=True)
class Wait:
    """Where a waiting training stands."""

    place: int  # 1: next, once the running one ends
    seconds: float | None  # the estimated wait; None while nothing has been measured yet
    fraction = 0.0  # of its training done: none yet (a progress bar shows a Wait as it shows a Progress)

    def __str__(self) -> str:
        ahead = "you are next" if self.place == 1 else f"{self.place - 1} training{'s' * (self.place > 2)} before yours"
        estimate = "" if self.seconds is None else f", about {self.seconds:.0f} s to wait"
        return f"Waiting for the server's trainer: {ahead}{estimate}."


class _Running:
    def __init__(self):
        self.began, self.progress = time.monotonic(), None  # progress: the last Progress it reported


class TrainingQueue:
    """First come, first served, one training at a time; thread-safe."""

    def __init__(self, refresh_seconds: float = 1.0):
        self.refresh_seconds = refresh_seconds  # how often a waiting visitor hears an update
        self.durations: list[float] = []  # seconds each finished training took, oldest first
        self._line: list[object] = []  # tickets of the waiting trainings, in order of arrival
        self._running: _Running | None = None
        self._condition = threading.Condition()

    @contextlib.contextmanager
    def turn(
        self,
        on_wait: Callable[[Wait], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        on_step: Callable[[Progress], None] | None = None,
    ) -> Iterator[Callable[[Progress], None]]:
        """Wait for this training's turn (hearing `on_wait` every refresh), then hold the trainer for the `with`;
        yields the on_step its training calls (which keeps the estimates' clock, then calls `on_step`).
        Cancelled while waiting: it leaves the line and TrainingCancelled is raised."""
        ticket = object()
        with self._condition:
            self._line.append(ticket)
        try:
            while (wait := self._place(ticket)) is not None:
                if cancelled is not None and cancelled():
                    raise TrainingCancelled("training cancelled while waiting for its turn; nothing was saved")
                if on_wait is not None:
                    on_wait(wait)  # outside the lock: it may take its time
                with self._condition:
                    if self._running is not None or self._line[0] is not ticket:
                        self._condition.wait(self.refresh_seconds)
        finally:
            with self._condition:
                if ticket in self._line:  # cancelled, or interrupted: out of the line, the others move up
                    self._line.remove(ticket)
                    self._condition.notify_all()
        running = self._running  # set by _place for this ticket; only this `with` clears it

        def step(progress: Progress) -> None:
            running.progress = progress
            if on_step is not None:
                on_step(progress)

        try:
            yield step
            with self._condition:  # a training that failed or was cancelled says nothing of how long one takes
                self.durations.append(time.monotonic() - running.began)
        finally:
            with self._condition:
                self._running = None
                self._condition.notify_all()

    def _place(self, ticket: object) -> Wait | None:
        """None, and the trainer is the ticket's now, if its turn has come; else where it stands."""
        with self._condition:
            if self._running is None and self._line[0] is ticket:
                self._line.remove(ticket)
                self._running = _Running()
                return None
            return self._wait(self._line.index(ticket) + 1)

    @property
    def waiting(self) -> int:
        with self._condition:
            return len(self._line)

    def _wait(self, place: int) -> Wait:
        """The estimate for `place` (see the module's docstring); called holding the condition."""
        running = self._running
        each = statistics.fmean(self.durations[-ESTIMATE_FROM:]) if self.durations else None
        if running is None or running.progress is None:  # no step of the running one measured yet
            elapsed = time.monotonic() - running.began if running is not None else 0.0
            left = None if each is None else max(each - elapsed, 0.0)
        else:
            step = running.progress
            left = step.seconds_left
            each = each if each is not None else step.seconds / step.step * step.steps
        if left is None or each is None:
            return Wait(place, None)
        return Wait(place, left + (place - 1) * each)
