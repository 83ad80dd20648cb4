"""Clocks. One unit everywhere: seconds as ``float`` (instants are seconds
since the Unix epoch)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "SystemClock", "to_ms"]


def to_ms(seconds: float) -> int:
    """Seconds (a duration or an instant) to whole milliseconds, rounded to
    the nearest: the one conversion every driver uses, so that drivers
    sharing a clock agree to the millisecond."""
    return int(round(seconds * 1000.0))


@runtime_checkable
class Clock(Protocol):
    """A source of wall-clock time in seconds since the epoch."""

    def now(self) -> float: ...


class SystemClock:
    """The real wall clock (:func:`time.time`)."""

    def now(self) -> float:
        return time.time()


class FakeClock:
    """A clock that only moves when told to; for deterministic tests.

    Listeners registered with :meth:`on_advance` are called after each move,
    so an in-memory driver can wake consumers whose delayed jobs became due.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds`` (must not be negative)."""
        if seconds < 0:
            raise ValueError("a clock cannot move backwards")
        self._now += seconds
        for listener in list(self._listeners):
            listener()

    def set(self, instant: float) -> None:
        """Jump to ``instant`` (not before the current time)."""
        self.advance(instant - self._now)

    def on_advance(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling ``listener`` (registered with :meth:`on_advance`);
        no-op if it is not registered."""
        if listener in self._listeners:
            self._listeners.remove(listener)
