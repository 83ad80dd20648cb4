"""SAQ: asyncio, Redis list + BLMOVE dequeue, per-job status records.

Documented usage: ``Queue.from_url`` + ``queue.enqueue("name", **kwargs)``
to produce, ``Worker(queue, functions=[...], concurrency=c)`` to consume.
"""

from __future__ import annotations

import asyncio
from typing import Any

from saq import Queue, Worker  # type: ignore[import-not-found]

from benchmarks._adapter import TRACK, Adapter, main


async def noop(ctx: dict[str, Any], *, ts: float) -> None:
    TRACK.hit(ts)


class SaqAdapter(Adapter):
    name = "saq"

    async def producer_open(self) -> None:
        self.queue = Queue.from_url(self.url)
        await self.queue.connect()

    async def enqueue_one(self, ts: float) -> None:
        await self.queue.enqueue("noop", ts=ts)

    async def producer_close(self) -> None:
        await self.queue.disconnect()

    async def serve(self, concurrency: int, expected: int, stop: asyncio.Event) -> None:
        queue = Queue.from_url(self.url)
        await queue.connect()
        worker = Worker(queue, functions=[noop], concurrency=concurrency)
        task = asyncio.ensure_future(worker.start())
        await stop.wait()
        await worker.stop()
        task.cancel()
        await queue.disconnect()


if __name__ == "__main__":
    main(SaqAdapter, "benchmarks.peers.saq_peer")
