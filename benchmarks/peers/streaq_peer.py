"""streaq: anyio on asyncio, Redis Streams + consumer group, coredis client.

Documented usage: ``worker = Worker(redis_url=..., concurrency=c)``, tasks
registered with ``@worker.task()``; produce inside ``async with worker:``
with ``await task.enqueue(...)`` (bulk: ``worker.enqueue_many``); consume
with ``worker.run_async()``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from streaq import Worker  # type: ignore[import-not-found]

from benchmarks._adapter import TRACK, Adapter, main


async def noop(ts: float) -> None:
    TRACK.hit(ts)


class StreaqAdapter(Adapter):
    name = "streaq"
    has_bulk = True

    def make_worker(self, concurrency: int = 16) -> tuple[Any, Any]:
        worker = Worker(redis_url=self.url, concurrency=concurrency)
        return worker, worker.task()(noop)

    async def producer_open(self) -> None:
        self.worker, self.task = self.make_worker()
        self.stack = contextlib.AsyncExitStack()
        await self.stack.enter_async_context(self.worker)

    async def enqueue_one(self, ts: float) -> None:
        await self.task.enqueue(ts)

    async def enqueue_bulk(self, stamps: list[float]) -> None:
        await self.worker.enqueue_many([self.task.enqueue(ts) for ts in stamps])

    async def producer_close(self) -> None:
        await self.stack.aclose()

    async def serve(self, concurrency: int, expected: int, stop: asyncio.Event) -> None:
        worker, _ = self.make_worker(concurrency)
        task = asyncio.ensure_future(worker.run_async())
        await stop.wait()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


if __name__ == "__main__":
    main(StreaqAdapter, "benchmarks.peers.streaq_peer")
