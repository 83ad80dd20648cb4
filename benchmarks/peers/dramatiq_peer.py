"""Dramatiq: threads, one Lua dispatch script per enqueue / fetch / ack.

Documented usage: ``RedisBroker(url=...)``, an ``@dramatiq.actor`` sent with
``actor.send(...)``; the worker is ``dramatiq.Worker(broker,
worker_threads=c)`` (what the ``dramatiq`` CLI runs in each process).
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

import dramatiq  # type: ignore[import-not-found]
from dramatiq.brokers.redis import RedisBroker  # type: ignore[import-not-found]

from benchmarks._adapter import TRACK, Adapter, main
from benchmarks._sync_enqueue import measure


def noop(ts: float) -> None:
    TRACK.hit(ts)


class DramatiqAdapter(Adapter):
    name = "dramatiq"

    def make_broker(self) -> tuple[Any, Any]:
        broker = RedisBroker(url=self.url)
        dramatiq.set_broker(broker)
        return broker, dramatiq.actor(noop, actor_name="noop", broker=broker)

    def producer_open(self) -> None:
        self.broker, self.actor = self.make_broker()

    def enqueue_one(self, ts: float) -> None:
        self.actor.send(ts)

    def producer_close(self) -> None:
        self.broker.close()

    def serve(self, concurrency: int, expected: int, stop: threading.Event) -> None:
        broker, _ = self.make_broker()
        worker = dramatiq.Worker(broker, worker_threads=concurrency)
        worker.start()
        stop.wait()
        worker.stop(timeout=5000)
        broker.close()


def sync_enqueue(args: argparse.Namespace) -> dict[str, Any]:
    """``actor.send(ts)`` per job: Dramatiq's sync enqueue (see _sync_enqueue)."""
    adapter = DramatiqAdapter(args)
    adapter.producer_open()
    try:
        return measure(adapter.enqueue_one, args.n)
    finally:
        adapter.producer_close()


if __name__ == "__main__":
    main(DramatiqAdapter, "benchmarks.peers.dramatiq_peer", {"syncenqueue": sync_enqueue})
