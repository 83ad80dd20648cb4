"""BullMQ for Python: the Node BullMQ Lua scripts (addJob, moveToActive,
moveToFinished) over redis-py asyncio.

Documented usage: ``Queue(name, {"connection": url})`` + ``queue.add`` /
``queue.addBulk``; ``Worker(name, processor, {"connection": url,
"concurrency": c})``, closed with ``worker.close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from bullmq import Queue, Worker  # type: ignore[import-not-found]

from benchmarks._adapter import TRACK, Adapter, main

QUEUE = "bench"


async def process(job: Any, token: str) -> None:
    TRACK.hit(job.data["ts"])


class BullmqAdapter(Adapter):
    name = "bullmq"
    has_bulk = True

    async def producer_open(self) -> None:
        self.queue = Queue(QUEUE, {"connection": self.url})

    async def enqueue_one(self, ts: float) -> None:
        await self.queue.add("noop", {"ts": ts})

    async def enqueue_bulk(self, stamps: list[float]) -> None:
        await self.queue.addBulk([{"name": "noop", "data": {"ts": ts}} for ts in stamps])

    async def producer_close(self) -> None:
        await self.queue.close()

    async def serve(self, concurrency: int, expected: int, stop: asyncio.Event) -> None:
        worker = Worker(QUEUE, process, {"connection": self.url, "concurrency": concurrency})
        await stop.wait()
        with contextlib.suppress(Exception):
            await worker.close(force=True)


if __name__ == "__main__":
    main(BullmqAdapter, "benchmarks.peers.bullmq_peer")
