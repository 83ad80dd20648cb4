"""Huey: RPUSH + blocking BRPOP (``RedisHuey`` defaults), worker threads.

Documented usage: ``RedisHuey(url=...)``, ``@huey.task()`` called to
enqueue; the consumer the ``huey_consumer`` CLI runs, made with
``huey.create_consumer(workers=c, worker_type="thread")``.
"""

from __future__ import annotations

import threading
from typing import Any

from huey import RedisHuey  # type: ignore[import-not-found]

from benchmarks._adapter import TRACK, Adapter, main


def noop(ts: float) -> None:
    TRACK.hit(ts)


class HueyAdapter(Adapter):
    name = "huey"

    def make(self) -> tuple[Any, Any]:
        huey = RedisHuey("bench", url=self.url)
        return huey, huey.task(name="noop")(noop)

    def producer_open(self) -> None:
        self.huey, self.task = self.make()

    def enqueue_one(self, ts: float) -> None:
        self.task(ts)

    def serve(self, concurrency: int, expected: int, stop: threading.Event) -> None:
        huey, _ = self.make()
        consumer = huey.create_consumer(workers=concurrency, worker_type="thread")
        consumer.start()
        stop.wait()
        consumer.stop(graceful=True)


if __name__ == "__main__":
    main(HueyAdapter, "benchmarks.peers.huey_peer")
