"""What a driver author supplies to the kit: a harness."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from queue_core import Clock, Driver

__all__ = ["Harness", "MemoryHarness"]


class Harness(ABC):
    """Makes drivers for the kit.

    ``make_driver`` is called once per test (and once per Hypothesis
    example); every call returns a driver on a clean or isolated store. The
    kit also uses fresh random topic names for every test, so a driver may
    share one backend between calls. ``clock`` is a
    :class:`~queue_core.FakeClock` when the test needs to move time by hand:
    a driver whose ``capabilities.clock_control`` is true must read time from
    it; one without clock control gets ``None`` and those tests are skipped
    with a reason.

    ``make_driver`` runs inside the event loop that will use the driver:
    create network clients there, not in ``__init__``.

    Optional: set ``restartable = True`` and implement :meth:`restart` to
    run the restart-durability scenario.
    """

    restartable: bool = False

    @abstractmethod
    async def make_driver(self, clock: Clock | None) -> Driver:
        """A new driver; time from ``clock`` when it is given."""

    async def cleanup(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Called after each test (drivers the kit made are closed first)."""

    async def restart(self) -> None:
        """Restart the backend, keeping what it persisted (only when
        ``restartable``)."""
        raise NotImplementedError


class MemoryHarness(Harness):
    """A harness over :class:`queue_memory.MemoryDriver` (the reference), or
    over any driver built by ``factory(clock)``: handy for drivers that need
    no backend process."""

    def __init__(self, factory: Callable[[Clock | None], Driver] | None = None) -> None:
        self._factory = factory

    async def make_driver(self, clock: Clock | None) -> Driver:
        if self._factory is not None:
            return self._factory(clock)
        from queue_memory import MemoryDriver

        return MemoryDriver(clock=clock)
