"""Reading many topics at once, for the layers that show them (``qtk``,
the dashboard, the metrics collector): a bounded number of backend calls in
flight, and each topic's error kept apart."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from ._job import Counts, Job, JobState
from ._service import QueueService

__all__ = ["PARALLEL_COUNTS", "counts_of", "pending_cancels", "per_topic"]

PARALLEL_COUNTS = 8  # backend calls in flight at once

T = TypeVar("T")


async def per_topic(
    topics: Sequence[str],
    call: Callable[[str], Awaitable[T]],
    *,
    parallel: int = PARALLEL_COUNTS,
) -> dict[str, T | Exception]:
    """``call(topic)`` for each topic, or the ``Exception`` it raised, in
    the order of ``topics``; at most ``parallel`` calls at once."""
    gate = asyncio.Semaphore(parallel)

    async def one(topic: str) -> T | Exception:
        async with gate:
            try:
                return await call(topic)
            except Exception as exc:
                return exc

    results = await asyncio.gather(*(one(topic) for topic in topics))
    return dict(zip(topics, results, strict=True))


async def counts_of(service: QueueService, topics: Sequence[str]) -> dict[str, Counts | Exception]:
    """Each topic's :meth:`QueueService.counts`, or its error."""
    return await per_topic(topics, service.counts)


async def pending_cancels(service: QueueService, topic: str, jobs: Sequence[Job]) -> set[str]:
    """The ids among ``jobs`` of running jobs with a pending cancel request
    (one backend call, and only when some are in flight)."""
    running = [job.id for job in jobs if job.state is JobState.IN_FLIGHT]
    return set(await service.cancel_requested(topic, running)) if running else set()
