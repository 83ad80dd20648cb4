"""What a kit check gets (drivers from the harness, fresh topics, a clock),
how checks register, and the time bound every check runs under."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from queue_core import Driver, FakeClock, QueueService

from ._harness import Harness
from ._profiles import current_profile

__all__ = [
    "CHECKS",
    "MODEL",
    "QUICK",
    "REAL_TIME",
    "RUNTIME",
    "Check",
    "KitContext",
    "KitSkip",
    "check",
    "in_thread",
    "only",
    "wait_for",
]

T = TypeVar("T")


class KitSkip(Exception):
    """A check cannot run on this driver; the reason is reported as a skip."""


class KitContext:
    """Per-check state. Everything made through it is closed afterwards."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.clock = FakeClock(start=1_800_000_000.0)
        self._drivers: list[Driver] = []
        self._services: list[QueueService] = []
        self._run_id = uuid.uuid4().hex[:8]
        self._topics = 0

    def topic(self, hint: str = "t") -> str:
        """A fresh topic name, unique to this run."""
        self._topics += 1
        return f"kit-{hint}-{self._run_id}-{self._topics}"

    async def driver(self, *, fake_clock: bool = True) -> Driver:
        """A driver from the harness. With ``fake_clock`` it reads
        :attr:`clock`; a driver without clock control makes the check skip."""
        driver = await self.harness.make_driver(self.clock if fake_clock else None)
        self._drivers.append(driver)
        if fake_clock and not driver.capabilities.clock_control:
            raise KitSkip("needs capabilities.clock_control (time moved by hand)")
        return driver

    async def peer(self, driver: Driver, *, fake_clock: bool = True) -> Driver | None:
        """A second driver object on ``driver``'s backend (see
        :meth:`Harness.make_peer`), or ``None`` if the harness makes none."""
        peer = await self.harness.make_peer(driver, self.clock if fake_clock else None)
        if peer is not None and peer is not driver:
            self._drivers.append(peer)
        return peer

    async def service(self, driver: Driver, **kwargs: Any) -> QueueService:
        service = QueueService(driver, **kwargs)
        self._services.append(service)
        return service

    async def aclose(self) -> None:
        for service in self._services:
            await service.close(grace=1.0)
        for driver in self._drivers:
            await driver.close()
        await self.harness.cleanup()


@dataclass(frozen=True, slots=True)
class Check:
    """One named conformance check: ``run(harness)`` returns normally,
    raises ``AssertionError`` (or any error) to fail, or :class:`KitSkip`.
    ``contract`` lists the numbered contract points it covers (see
    docs/conformance.md); ``tier`` orders the run: 0 quick and
    deterministic, 1 the model comparison, 2 driver calls on the wall
    clock, 3 the runtime over the driver."""

    name: str
    run: Callable[[Harness], None]
    doc: str
    contract: tuple[int, ...] = ()
    tier: int = 0


CHECKS: dict[str, Check] = {}


def in_thread(name: str, body: Callable[[], T], seconds: float) -> T:
    """Run ``body`` on a fresh daemon thread and return its result (or raise
    its error); fail if it has not finished after ``seconds``. The last line
    of defence against a driver that blocks the event loop itself: a check
    that times out this way leaves its thread behind."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append((True, body()))
        except BaseException as exc:  # handed to the caller
            outcome.append((False, exc))

    thread = threading.Thread(target=target, name=f"kit-{name}", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise AssertionError(
            f"{name} did not finish within {seconds:g} s: a driver call blocks the event "
            "loop (the check's thread is abandoned)"
        )
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


QUICK, MODEL, REAL_TIME, RUNTIME = 0, 1, 2, 3  # the tiers, in run order


def check(
    *contract: int, tier: int = QUICK
) -> Callable[[Callable[[KitContext], Awaitable[None]]], Check]:
    """Register an async check; ``contract`` lists the numbered contract
    points of docs/conformance.md it covers; ``tier`` places it in the run:
    ``QUICK`` (deterministic, fake clock), ``REAL_TIME`` (waits on the wall
    clock, driver calls), ``RUNTIME`` (the worker runtime over the driver,
    on the wall clock). The check runs on its own event loop and thread,
    within the profile's ``check_seconds``."""

    def register(fn: Callable[[KitContext], Awaitable[None]]) -> Check:
        name = fn.__name__.removeprefix("check_")

        def run(harness: Harness) -> None:
            seconds = current_profile().check_seconds

            async def main() -> None:
                ctx = KitContext(harness)
                scope = asyncio.timeout(seconds)
                try:
                    async with scope:
                        await fn(ctx)
                except TimeoutError as exc:
                    if not scope.expired():
                        raise
                    raise AssertionError(
                        f"{name} did not finish within {seconds:g} s: a driver call hung "
                        f"(the traceback shows where)"
                    ) from exc
                finally:
                    async with asyncio.timeout(10):
                        await ctx.aclose()

            def body() -> None:
                with asyncio.Runner() as runner:
                    runner.run(main())

            in_thread(name, body, seconds + 15)

        registered = Check(
            name=name,
            run=run,
            doc=(fn.__doc__ or "").strip(),
            contract=contract,
            tier=tier,
        )
        CHECKS[name] = registered
        return registered

    return register


def only(jobs: Sequence[T], what: str) -> T:
    """The single element of ``jobs``; fail with ``what`` when there are
    none or several (instead of ``ValueError: not enough values to unpack``)."""
    shown = [getattr(job, "id", job) for job in jobs]
    assert len(jobs) == 1, f"{what}: expected exactly one job, got {len(jobs)}: {shown}"
    return jobs[0]


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll ``predicate`` (a backend observation) until true; fail after
    ``timeout`` seconds. Used only where no event can be awaited (state that
    lives in a backend)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)
