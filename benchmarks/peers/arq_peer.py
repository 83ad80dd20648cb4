"""arq: asyncio, Redis sorted set polled every ``poll_delay``.

Documented usage: ``create_pool(RedisSettings)`` + ``enqueue_job`` to
produce, ``Worker(functions=..., max_jobs=..., poll_delay=...)`` to consume.
``--poll-delay`` selects the variant (default 0.5 s, the library default).
"""

from __future__ import annotations

import asyncio
from typing import Any

from arq import create_pool  # type: ignore[import-not-found]
from arq.connections import RedisSettings  # type: ignore[import-not-found]
from arq.worker import Worker  # type: ignore[import-not-found]

from benchmarks._adapter import TRACK, Adapter, main


async def noop(ctx: dict[str, Any], ts: float) -> None:
    TRACK.hit(ts)


def _poll_delay(extra: list[str]) -> float:
    if "--poll-delay" in extra:
        return float(extra[extra.index("--poll-delay") + 1])
    return 0.5


class ArqAdapter(Adapter):
    name = "arq"

    def settings(self) -> Any:
        return RedisSettings.from_dsn(self.url)

    async def producer_open(self) -> None:
        self.pool = await create_pool(self.settings())

    async def enqueue_one(self, ts: float) -> None:
        await self.pool.enqueue_job("noop", ts)

    async def producer_close(self) -> None:
        await self.pool.aclose()

    async def serve(self, concurrency: int, expected: int, stop: asyncio.Event) -> None:
        worker = Worker(
            functions=[noop],
            redis_settings=self.settings(),
            max_jobs=concurrency,
            poll_delay=_poll_delay(self.args.extra),
            handle_signals=False,
        )
        task = asyncio.ensure_future(worker.async_run())
        await stop.wait()
        task.cancel()
        await worker.close()


if __name__ == "__main__":
    main(ArqAdapter, "benchmarks.peers.arq_peer")
