"""What a kit check gets: drivers from the harness, fresh topics, a clock."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from queue_core import Driver, FakeClock, QueueService

from ._harness import Harness

__all__ = ["CHECKS", "Check", "KitContext", "KitSkip", "check", "wait_for"]


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

    async def service(self, driver: Driver, **kwargs: object) -> QueueService:
        service = QueueService(driver, **kwargs)  # type: ignore[arg-type]
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
    raises ``AssertionError`` (or any error) to fail, or :class:`KitSkip`."""

    name: str
    run: Callable[[Harness], None]
    doc: str
    contract: tuple[int, ...] = ()


CHECKS: dict[str, Check] = {}


def check(*contract: int) -> Callable[[Callable[[KitContext], Awaitable[None]]], Check]:
    """Register an async check; ``contract`` lists the SPEC contract points
    it covers."""

    def register(fn: Callable[[KitContext], Awaitable[None]]) -> Check:
        name = fn.__name__.removeprefix("check_")

        def run(harness: Harness) -> None:
            async def main() -> None:
                ctx = KitContext(harness)
                try:
                    await fn(ctx)
                finally:
                    await ctx.aclose()

            with asyncio.Runner() as runner:
                runner.run(main())

        registered = Check(name=name, run=run, doc=(fn.__doc__ or "").strip(), contract=contract)
        CHECKS[name] = registered
        return registered

    return register


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
