"""taskiq + taskiq-redis: ``RedisStreamBroker`` (XADD / XREADGROUP / XACK,
acknowledged) or, with ``--broker list``, ``ListQueueBroker`` (LPUSH/BRPOP,
no acknowledgement).

Documented usage: ``@broker.task`` and ``await task.kiq(...)`` after
``await broker.startup()`` to produce; the worker is the receiver the
``taskiq worker`` CLI runs, started programmatically with
``taskiq.api.run_receiver_task(broker, max_async_tasks=c)``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from taskiq.api import run_receiver_task  # type: ignore[import-not-found]
from taskiq_redis import ListQueueBroker, RedisStreamBroker  # type: ignore[import-not-found]

from benchmarks._adapter import TRACK, Adapter, main


async def noop(ts: float) -> None:
    TRACK.hit(ts)


class TaskiqAdapter(Adapter):
    name = "taskiq"

    def make_broker(self) -> tuple[Any, Any]:
        extra = self.args.extra
        kind = extra[extra.index("--broker") + 1] if "--broker" in extra else "stream"
        broker = (ListQueueBroker if kind == "list" else RedisStreamBroker)(self.url)
        return broker, broker.task(task_name="noop")(noop)

    async def producer_open(self) -> None:
        self.broker, self.task = self.make_broker()
        await self.broker.startup()

    async def enqueue_one(self, ts: float) -> None:
        await self.task.kiq(ts)

    async def producer_close(self) -> None:
        await self.broker.shutdown()

    async def serve(self, concurrency: int, expected: int, stop: asyncio.Event) -> None:
        broker, _ = self.make_broker()
        await broker.startup()
        task = asyncio.ensure_future(run_receiver_task(broker, max_async_tasks=concurrency))
        await stop.wait()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await broker.shutdown()


if __name__ == "__main__":
    main(TaskiqAdapter, "benchmarks.peers.taskiq_peer")
