"""Coalescing concurrent single enqueues into batched driver calls."""

from __future__ import annotations

import asyncio

from ._driver import Driver
from ._job import NewJob

__all__ = ["EnqueueCoalescer"]


_Pending = list[tuple[NewJob, asyncio.Future[bool]]]


class EnqueueCoalescer:
    """Single enqueues to one topic that arrive while a driver call for that
    topic is in flight travel together in the next call.

    A lone enqueue goes straight to the driver (no added latency, no task);
    under concurrency the calls batch themselves, one in flight per topic at
    a time. Semantics do not change: each job keeps its own id and gets its
    own result; a backend error reaches exactly the callers whose jobs were
    in the failed call. Follow-up batches are sent by a task of their own,
    so a cancelled caller does not strand the others.
    """

    def __init__(self, driver: Driver) -> None:
        self._driver = driver
        self._max_batch = max(1, driver.capabilities.max_batch)
        # topics with a driver call in flight: the calls that wait to go
        # next (a topic without a call in flight has no entry)
        self._lanes: dict[str, _Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def enqueue(self, topic: str, job: NewJob) -> bool:
        pending = self._lanes.get(topic)
        if pending is not None:
            future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            pending.append((job, future))
            return await future
        pending = self._lanes[topic] = []
        try:
            (created,) = await self._driver.enqueue(topic, [job])
            return created
        finally:
            self._next(topic, pending)

    def _next(self, topic: str, pending: _Pending) -> None:
        if not pending:
            del self._lanes[topic]  # idle topics keep nothing: there may be many
            return
        task = asyncio.get_running_loop().create_task(self._drain(topic, pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, topic: str, pending: _Pending) -> None:
        try:
            while pending:
                batch = pending[: self._max_batch]
                del pending[: self._max_batch]
                try:
                    created = await self._driver.enqueue(topic, [job for job, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), was_created in zip(batch, created, strict=True):
                    if not future.done():
                        future.set_result(was_created)
        finally:
            del self._lanes[topic]
            for _, future in pending:  # only if this task was cancelled
                if not future.done():
                    future.cancel()
