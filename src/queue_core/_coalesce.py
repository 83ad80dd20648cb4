"""Coalescing concurrent single enqueues into batched driver calls."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ._driver import Driver
from ._job import NewJob

__all__ = ["EnqueueCoalescer"]


@dataclass(slots=True)
class _Lane:
    """A topic with a driver call in flight (an idle topic has no lane)."""

    pending: list[tuple[NewJob, asyncio.Future[bool]]] = field(default_factory=list)


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
        self._lanes: dict[str, _Lane] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def enqueue(self, topic: str, job: NewJob) -> bool:
        lane = self._lanes.get(topic)
        if lane is not None:
            future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            lane.pending.append((job, future))
            return await future
        lane = self._lanes[topic] = _Lane()
        try:
            (created,) = await self._driver.enqueue(topic, [job])
            return created
        finally:
            self._next(topic, lane)

    def _next(self, topic: str, lane: _Lane) -> None:
        if not lane.pending:
            del self._lanes[topic]  # idle topics keep nothing: there may be many
            return
        task = asyncio.get_running_loop().create_task(self._drain(topic, lane))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, topic: str, lane: _Lane) -> None:
        try:
            while lane.pending:
                batch = lane.pending[: self._max_batch]
                del lane.pending[: self._max_batch]
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
            for _, future in lane.pending:  # only if this task was cancelled
                if not future.done():
                    future.cancel()
