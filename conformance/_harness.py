"""What a driver author supplies to the kit: a harness."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TypeVar

from queue_core import Clock, Driver

__all__ = ["Harness", "MemoryHarness", "UrlHarness"]

T = TypeVar("T")


class Harness(ABC):
    """Makes drivers for the kit.

    ``make_driver`` is called once per check (and once per Hypothesis
    example); every call returns a driver on a clean or isolated store. The
    kit also uses fresh random topic names for every check, so a driver may
    share one backend between calls. ``clock`` is a
    :class:`~queue_core.FakeClock` when the check needs to move time by
    hand: a driver whose ``capabilities.clock_control`` is true must read
    time from it; one without clock control gets ``None`` and those checks
    are skipped with a reason.

    ``make_driver`` runs inside the event loop that will use the driver:
    create network clients there, not in ``__init__``.

    Optional hooks, each turning on checks that are otherwise skipped with a
    reason:

    * ``restartable = True`` and :meth:`restart`: the restart-durability check.
    * ``resends = True`` and :meth:`resend`: the re-sent-call checks (a call
      delivered twice because its first reply was lost).
    * :meth:`make_peer`: a second driver object on the same backend, as a
      second process would open it (the limits checks claim through both).
    """

    restartable: bool = False
    resends: bool = False

    @abstractmethod
    async def make_driver(self, clock: Clock | None) -> Driver:
        """A new driver; time from ``clock`` when it is given."""

    async def cleanup(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Called after each check (drivers the kit made are closed first)."""

    async def restart(self) -> None:
        """Restart the backend, keeping what it persisted (only when
        ``restartable``)."""
        raise NotImplementedError

    async def resend(self, driver: Driver, call: Callable[[Driver], Awaitable[T]]) -> T:
        """Run ``call`` (one operation of ``driver``) as if the backend's first
        reply had been lost and the client had sent the same request again:
        the backend receives the request twice (with the same request id, if
        the driver sends one); return what the second delivery answers (or
        raise what it raises). Only when ``resends``.

        A driver without request ids is re-sent by simply calling it twice:
        ``await call(driver); return await call(driver)``. A driver with
        request ids needs a hook in its client (for example a connection
        that sends every command twice and drops the first reply).
        """
        raise NotImplementedError

    async def make_peer(self, driver: Driver, clock: Clock | None) -> Driver | None:
        """Another driver object on the same backend and data as ``driver``
        (as another process would open it), reading ``clock``; or ``None``
        (the default) when the harness cannot make one. The kit closes it."""
        return None


class MemoryHarness(Harness):
    """A harness over :class:`queue_memory.MemoryDriver` (the reference), or
    over any driver built by ``factory(clock)``: handy for drivers that need
    no backend process. Such a driver has no request ids, so a re-sent call
    is the same call made twice. ``peer(driver)``, if given, makes a second
    driver object on ``driver``'s data (see :meth:`Harness.make_peer`)."""

    resends = True

    def __init__(
        self,
        factory: Callable[[Clock | None], Driver] | None = None,
        *,
        peer: Callable[[Driver], Driver] | None = None,
    ) -> None:
        self._factory = factory
        self._peer = peer

    async def make_driver(self, clock: Clock | None) -> Driver:
        if self._factory is not None:
            return self._factory(clock)
        from queue_memory import MemoryDriver

        return MemoryDriver(clock=clock)

    async def resend(self, driver: Driver, call: Callable[[Driver], Awaitable[T]]) -> T:
        await call(driver)
        return await call(driver)

    async def make_peer(self, driver: Driver, clock: Clock | None) -> Driver | None:
        return None if self._peer is None else self._peer(driver)


class UrlHarness(Harness):
    """Drivers opened from a URL with ``queue_core.open_driver(url,
    clock=...)``: every driver of a run shares the backend the URL names
    (the kit's topics are fresh), and a peer is simply another driver
    opened from the same URL."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _open(self, clock: Clock | None) -> Driver:
        core = importlib.import_module("queue_core")
        opener: Callable[..., Driver] | None = getattr(core, "open_driver", None)
        if opener is None:
            raise RuntimeError(
                "this queue_core has no open_driver(url); name a harness as module:attr instead"
            )
        return opener(self.url, clock=clock)

    async def make_driver(self, clock: Clock | None) -> Driver:
        return self._open(clock)

    async def make_peer(self, driver: Driver, clock: Clock | None) -> Driver | None:
        return self._open(clock)
