"""RQ: ``SimpleWorker`` (no fork per job), one job at a time.

Documented usage: ``Queue(connection=Redis(...))`` + ``queue.enqueue`` (bulk:
``queue.enqueue_many`` with ``Queue.prepare_data``); ``SimpleWorker([queue],
connection=...).work(burst=True)``. Per-job INFO logs switched off with
``logging_level="WARNING"``.
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

from redis import Redis
from rq import Queue, SimpleWorker  # type: ignore[import-not-found]

from benchmarks._adapter import TRACK, Adapter, main
from benchmarks._sync_enqueue import measure

FUNC = "benchmarks.peers.rq_peer.noop"


def noop(ts: float) -> None:
    TRACK.hit(ts)


class RqAdapter(Adapter):
    name = "rq"
    has_bulk = True

    def make_queue(self) -> Any:
        return Queue("bench", connection=Redis.from_url(self.url))

    def producer_open(self) -> None:
        self.queue = self.make_queue()

    def enqueue_one(self, ts: float) -> None:
        self.queue.enqueue(FUNC, ts)

    def enqueue_bulk(self, stamps: list[float]) -> None:
        self.queue.enqueue_many([Queue.prepare_data(FUNC, (ts,)) for ts in stamps])

    def serve(self, concurrency: int, expected: int, stop: threading.Event) -> None:
        queue = self.make_queue()
        worker = SimpleWorker([queue], connection=queue.connection)
        if self.args.command == "drain":
            worker.work(burst=True, logging_level="WARNING")
        else:
            worker.work(burst=False, max_jobs=expected, logging_level="WARNING")


def sync_enqueue(args: argparse.Namespace) -> dict[str, Any]:
    """``queue.enqueue(func, ts)`` per job: RQ's sync enqueue (see _sync_enqueue)."""
    adapter = RqAdapter(args)
    adapter.producer_open()
    try:
        return measure(adapter.enqueue_one, args.n)
    finally:
        adapter.queue.connection.close()


if __name__ == "__main__":
    main(RqAdapter, "benchmarks.peers.rq_peer", {"syncenqueue": sync_enqueue})
