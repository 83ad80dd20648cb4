"""Coalescing concurrent single enqueues into batched driver calls."""

from __future__ import annotations

import asyncio

from ._driver import Driver
from ._job import NewJob

__all__ = ["EnqueueCoalescer"]


class EnqueueCoalescer:
    """Jobs enqueued one by one from concurrent tasks, to the same topic,
    within one event-loop turn, travel in one ``Driver.enqueue`` call.

    Semantics do not change: each job keeps its own id and gets its own
    result; a backend error reaches every caller whose job was in the failed
    call; a lone enqueue goes out at once (it only yields to the loop once).
    The batch is sent by a task of its own, so a caller that is cancelled
    does not strand the others (its job may still be written).
    """

    def __init__(self, driver: Driver) -> None:
        self._driver = driver
        self._max_batch = max(1, driver.capabilities.max_batch)
        self._pending: dict[str, list[tuple[NewJob, asyncio.Future[bool]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def enqueue(self, topic: str, job: NewJob) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        pending = self._pending.get(topic)
        if pending is None:
            pending = self._pending[topic] = []
            task = loop.create_task(self._flush(topic))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        pending.append((job, future))
        return await future

    async def _flush(self, topic: str) -> None:
        await asyncio.sleep(0)  # let the other enqueues of this loop turn join
        batch = self._pending.pop(topic)
        for start in range(0, len(batch), self._max_batch):
            chunk = batch[start : start + self._max_batch]
            try:
                created = await self._driver.enqueue(topic, [job for job, _ in chunk])
            except BaseException as exc:
                for _, future in chunk:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, future), was_created in zip(chunk, created, strict=True):
                if not future.done():
                    future.set_result(was_created)
