"""Measuring tools for the wake-up checks: a wait that must block, a wait
that must end, an idle topic that must not be polled, and a driver wrapper
that counts backend calls."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine, Sequence
from typing import Any

from queue_core import (
    CancelOutcome,
    Capabilities,
    Closed,
    Counts,
    Driver,
    Job,
    JobState,
    NewJob,
    Settled,
    TopicLimits,
)

__all__ = [
    "CountingDriver",
    "blocked_wait",
    "idle_returns",
    "returns_within",
    "together",
    "woken",
]


async def together(*steps: Coroutine[Any, Any, None]) -> None:
    """Run ``steps`` concurrently; on the first failure cancel the others and
    raise that failure (unlike ``gather``, nothing keeps running behind)."""
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error


# how long a blocked wait is watched before the event that must end it
SETTLE = 0.05


async def blocked_wait(
    driver: Driver, topic: str, situation: str, timeout: float = 5.0
) -> asyncio.Task[None]:
    """Start ``driver.wait(topic, timeout)`` on a topic with nothing
    claimable and return the task once it blocks. Returning early now and
    then is allowed, so it is started again; three returns in a row within
    50 ms each are busy polling."""
    for _ in range(3):
        task = asyncio.ensure_future(driver.wait(topic, timeout))
        done, _ = await asyncio.wait([task], timeout=SETTLE)
        if not done:
            return task
        task.result()  # a wait that raised fails the check with its error
    raise AssertionError(
        f"wait({timeout:g} s) returned at once three times in a row on a topic with nothing "
        f"claimable ({situation}): busy polling"
    )


async def woken(task: asyncio.Task[None], event: str, within: float = 1.0) -> None:
    """Require the blocked wait ``task`` to end within ``within`` seconds of
    ``event`` (which the caller has just caused); ``Closed`` counts as an end."""
    done, _ = await asyncio.wait([task], timeout=within)
    if not done:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise AssertionError(
            f"wait() still blocked {within:g} s after {event}: it must wake waiters at once"
        )
    error = task.exception()
    if error is not None and not isinstance(error, Closed):
        raise error


async def returns_within(driver: Driver, topic: str, situation: str, within: float = 0.5) -> None:
    """``wait(topic, 5)`` must return at once: work is claimable now."""
    try:
        async with asyncio.timeout(within):
            await driver.wait(topic, 5.0)
    except TimeoutError:
        raise AssertionError(
            f"wait(5 s) still blocked after {within:g} s although {situation}: it must "
            "return at once when a job is claimable"
        ) from None


async def idle_returns(
    driver: Driver, topic: str, situation: str, *, seconds: float = 1.0, timeout: float = 1.0
) -> None:
    """Call ``wait(topic, timeout)`` again and again for ``seconds`` on a
    topic where nothing is or becomes claimable: it may return when its
    timeout passes (or a little early now and then), never again and again
    (a driver that polls, even every 100 ms, returns ten times a second)."""
    loop = asyncio.get_running_loop()
    allowed = int(seconds / timeout) + 2
    returns = 0
    end = loop.time() + seconds
    while loop.time() < end and returns <= allowed:
        await driver.wait(topic, timeout)
        returns += 1
    assert returns <= allowed, (
        f"wait({timeout:g} s) returned more than {allowed} times within {seconds:g} s on an "
        f"idle topic ({situation}): busy polling"
    )


class CountingDriver(Driver):
    """Passes every call to ``inner`` and counts them by method name."""

    def __init__(self, inner: Driver) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        self.calls["enqueue"] += 1
        return await self.inner.enqueue(topic, jobs)

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        self.calls["claim"] += 1
        return await self.inner.claim(topic, max_jobs=max_jobs, lease=lease)

    async def ack_many(self, topic: str, leases: Sequence[tuple[str, str]]) -> list[Settled]:
        self.calls["ack_many"] += 1
        return await self.inner.ack_many(topic, leases)

    async def ack_and_claim(
        self, topic: str, leases: Sequence[tuple[str, str]], *, max_jobs: int, lease: float
    ) -> tuple[list[Settled], list[Job]]:
        self.calls["ack_and_claim"] += 1
        return await self.inner.ack_and_claim(topic, leases, max_jobs=max_jobs, lease=lease)

    async def extend(self, topic: str, job_id: str, token: str, lease: float) -> float:
        self.calls["extend"] += 1
        return await self.inner.extend(topic, job_id, token, lease)

    async def retry(
        self, topic: str, job_id: str, token: str, *, delay: float, error: str | None
    ) -> None:
        self.calls["retry"] += 1
        await self.inner.retry(topic, job_id, token, delay=delay, error=error)

    async def release(self, topic: str, job_id: str, token: str) -> None:
        self.calls["release"] += 1
        await self.inner.release(topic, job_id, token)

    async def dead_letter(self, topic: str, job_id: str, token: str, *, error: str | None) -> None:
        self.calls["dead_letter"] += 1
        await self.inner.dead_letter(topic, job_id, token, error=error)

    async def reap(self, topic: str, *, limit: int = 1000) -> int:
        self.calls["reap"] += 1
        return await self.inner.reap(topic, limit=limit)

    async def wait(self, topic: str, timeout: float) -> None:
        self.calls["wait"] += 1
        await self.inner.wait(topic, timeout)

    async def counts(self, topic: str) -> Counts:
        self.calls["counts"] += 1
        return await self.inner.counts(topic)

    async def get(self, topic: str, job_id: str) -> Job | None:
        self.calls["get"] += 1
        return await self.inner.get(topic, job_id)

    async def list_jobs(
        self, topic: str, state: JobState, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        self.calls["list_jobs"] += 1
        return await self.inner.list_jobs(topic, state, limit=limit, offset=offset)

    async def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int:
        self.calls["redrive"] += 1
        return await self.inner.redrive(topic, ids)

    async def purge(self, topic: str, ids: Sequence[str] | None = None) -> int:
        self.calls["purge"] += 1
        return await self.inner.purge(topic, ids)

    async def close(self) -> None:
        await self.inner.close()

    def enqueue_blocking(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        self.calls["enqueue_blocking"] += 1
        return self.inner.enqueue_blocking(topic, jobs)

    async def topics(self) -> list[str]:
        self.calls["topics"] += 1
        return await self.inner.topics()

    async def cancel(self, topic: str, ids: Sequence[str]) -> list[CancelOutcome]:
        self.calls["cancel"] += 1
        return await self.inner.cancel(topic, ids)

    async def cancel_requested(self, topic: str, ids: Sequence[str]) -> list[str]:
        self.calls["cancel_requested"] += 1
        return await self.inner.cancel_requested(topic, ids)

    async def set_limits(self, topic: str, limits: TopicLimits) -> None:
        self.calls["set_limits"] += 1
        await self.inner.set_limits(topic, limits)

    async def get_limits(self, topic: str) -> TopicLimits:
        self.calls["get_limits"] += 1
        return await self.inner.get_limits(topic)
