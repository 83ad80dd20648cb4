"""Our queue (queue_core + queue_redis, and queue_memory), measured with the
same harness and the same commands as the peers (see :mod:`benchmarks._adapter`),
plus three figures only we take:

* ``claim N``: the latency of ``driver.claim(topic, max_jobs=1, lease=30)``
  for one ready job, on an empty topic and on a topic that also holds ``N``
  delayed jobs with priorities spread over the whole int32 range. Samples
  alternate between the two topics so that both see the same machine.
* ``memory N``: Redis ``used_memory`` growth per waiting job with a 100-byte
  payload, minus the payload (ready jobs, delayed ones, and ready ones
  carrying a W3C ``traceparent`` header); and per idempotency record (jobs
  with explicit ids, acked: only their records remain).
* ``memdrain N --concurrency C``: drain on the in-memory driver (no Redis).

Used as documented: ``QueueService(RedisDriver(make_client(url)))``,
``enqueue`` / ``enqueue_many``, ``subscribe(topic, handler,
SubscribeOptions(concurrency=c))`` with the default batch size.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from typing import Any

from benchmarks._adapter import BULK_BATCH, TRACK, Adapter, main, percentile
from queue_core import (
    MAX_PRIORITY,
    MIN_PRIORITY,
    EnqueueOptions,
    Job,
    QueueService,
    SubscribeOptions,
)
from queue_memory import MemoryDriver

TOPIC = "bench"
PAYLOAD_100 = bytes(range(100))
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
FAR_FUTURE = 10 * 365 * 86400.0  # delay of the backlog jobs, seconds
CLAIM_SAMPLES = 200
CLAIM_WARMUP = 20


def _redis_service(url: str) -> tuple[QueueService, Any]:
    """A service over a fresh client; the client is ours to close."""
    from queue_redis import RedisDriver, make_client

    client = make_client(url)
    return QueueService(RedisDriver(client)), client


async def handler(job: Job) -> None:
    TRACK.hit(job.payload)


class OursAdapter(Adapter):
    name = "ours"
    has_bulk = True

    async def producer_open(self) -> None:
        self.service, self.client = _redis_service(self.url)

    async def enqueue_one(self, ts: float) -> None:
        await self.service.enqueue(TOPIC, repr(ts).encode())

    async def enqueue_bulk(self, stamps: list[float]) -> None:
        await self.service.enqueue_many(TOPIC, [repr(ts).encode() for ts in stamps])

    async def producer_close(self) -> None:
        await self.service.close()
        await self.client.aclose()

    async def serve(self, concurrency: int, expected: int, stop: asyncio.Event) -> None:
        service, client = _redis_service(self.url)
        await service.subscribe(TOPIC, handler, SubscribeOptions(concurrency=concurrency))
        await stop.wait()
        await service.close(grace=5.0)
        await client.aclose()


# -- claim latency with a delayed backlog -------------------------------------------


async def _claim_once(service: QueueService, topic: str) -> float:
    driver = service.driver
    await service.enqueue(topic, PAYLOAD_100)
    start = time.perf_counter()
    jobs = await driver.claim(topic, max_jobs=1, lease=30.0)
    elapsed = time.perf_counter() - start
    if len(jobs) != 1:
        raise RuntimeError(f"claim on {topic!r} returned {len(jobs)} jobs, expected 1")
    await driver.ack(topic, jobs[0].id, jobs[0].lease_token or "")
    return elapsed


async def claim_latency(args: argparse.Namespace) -> dict[str, Any]:
    service, client = _redis_service(args.url)
    empty, backlog = "claim-empty", "claim-backlog"
    rng = random.Random(42)
    try:
        fill_start = time.perf_counter()
        for offset in range(0, args.n, BULK_BATCH):
            count = min(BULK_BATCH, args.n - offset)
            batch = [
                (
                    PAYLOAD_100,
                    EnqueueOptions(
                        delay=FAR_FUTURE, priority=rng.randint(MIN_PRIORITY, MAX_PRIORITY)
                    ),
                )
                for _ in range(count)
            ]
            await service.enqueue_many(backlog, batch)
        fill_seconds = time.perf_counter() - fill_start
        counts = await service.counts(backlog)
        if counts.scheduled != args.n:
            raise RuntimeError(f"backlog holds {counts.scheduled} scheduled jobs, not {args.n}")
        samples: dict[str, list[float]] = {empty: [], backlog: []}
        for i in range(CLAIM_WARMUP + CLAIM_SAMPLES):
            order = (empty, backlog) if i % 2 == 0 else (backlog, empty)
            for topic in order:
                elapsed = await _claim_once(service, topic)
                if i >= CLAIM_WARMUP:
                    samples[topic].append(elapsed)
        still = await service.counts(backlog)
    finally:
        await service.close()
        await client.aclose()
    result: dict[str, Any] = {"status": "ok", "n": args.n, "fill_seconds": fill_seconds}
    for key, topic in (("empty", empty), ("backlog", backlog)):
        values = samples[topic]
        result[f"{key}_p50_us"] = statistics.median(values) * 1e6
        result[f"{key}_p99_us"] = percentile(values, 99) * 1e6
    result["ratio"] = result["backlog_p50_us"] / result["empty_p50_us"]
    result["backlog_left"] = still.scheduled
    return result


# -- Redis memory per waiting job -----------------------------------------------------


async def _used_memory(client: Any) -> int:
    info = await client.info("memory")
    return int(info["used_memory"])


async def memory_per_job(args: argparse.Namespace) -> dict[str, Any]:
    service, client = _redis_service(args.url)
    rng = random.Random(7)
    result: dict[str, Any] = {"status": "ok", "n": args.n, "payload_bytes": len(PAYLOAD_100)}
    try:
        await service.enqueue("mem-warm", PAYLOAD_100)  # scripts loaded, connections open
        for kind in ("ready", "delayed"):
            topic = f"mem-{kind}"
            before = await _used_memory(client)
            for offset in range(0, args.n, BULK_BATCH):
                count = min(BULK_BATCH, args.n - offset)
                if kind == "ready":
                    await service.enqueue_many(topic, [PAYLOAD_100] * count)
                else:
                    options = [
                        EnqueueOptions(
                            delay=FAR_FUTURE, priority=rng.randint(MIN_PRIORITY, MAX_PRIORITY)
                        )
                        for _ in range(count)
                    ]
                    await service.enqueue_many(topic, [(PAYLOAD_100, o) for o in options])
            after = await _used_memory(client)
            per_job = (after - before) / args.n
            result[f"{kind}_bytes_per_job"] = per_job
            result[f"{kind}_overhead_bytes"] = per_job - len(PAYLOAD_100)
        before = await _used_memory(client)
        header = EnqueueOptions(headers={"traceparent": TRACEPARENT})
        for offset in range(0, args.n, BULK_BATCH):
            count = min(BULK_BATCH, args.n - offset)
            await service.enqueue_many("mem-headers", [(PAYLOAD_100, header)] * count)
        result["headers_bytes_per_job"] = (await _used_memory(client) - before) / args.n
        result["traceparent_bytes"] = len("traceparent") + len(TRACEPARENT)
        result["record_bytes"] = await _bytes_per_record(service, client, args.n)
    finally:
        await service.close()
        await client.aclose()
    return result


async def _bytes_per_record(service: QueueService, client: Any, n: int) -> float:
    """Memory that ``n`` idempotency records hold: jobs with explicit ids
    enqueued, claimed and acked (the records remain, the jobs are gone)."""
    topic = "mem-records"
    driver = service.driver
    await service.enqueue_many(topic, [b"", (b"", EnqueueOptions(job_id="warm"))])
    for job in await driver.claim(topic, max_jobs=2, lease=60):
        await driver.ack(topic, job.id, job.lease_token or "")
    before = await _used_memory(client)
    for offset in range(0, n, BULK_BATCH):
        count = min(BULK_BATCH, n - offset)
        items = [(b"", EnqueueOptions(job_id=f"order-{offset + i:08d}")) for i in range(count)]
        await service.enqueue_many(topic, items)
        jobs = await driver.claim(topic, max_jobs=count, lease=60)
        await driver.ack_many(topic, [(job.id, job.lease_token or "") for job in jobs])
    return (await _used_memory(client) - before) / n


# -- queue_memory drain ------------------------------------------------------------------


async def memory_drain(args: argparse.Namespace) -> dict[str, Any]:
    service = QueueService(MemoryDriver())
    for offset in range(0, args.n, BULK_BATCH):
        count = min(BULK_BATCH, args.n - offset)
        await service.enqueue_many(TOPIC, [repr(time.time()).encode()] * count)
    TRACK.reset(args.n)
    start = time.perf_counter()
    await service.subscribe(TOPIC, handler, SubscribeOptions(concurrency=args.concurrency))
    done = await asyncio.to_thread(TRACK.done.wait, args.timeout)
    if not done:
        await service.close(grace=1.0)
        return {"status": "timeout", "n": args.n, "calls": TRACK.count}
    assert TRACK.done_at is not None
    seconds = TRACK.done_at - start
    await asyncio.sleep(0.3)
    calls = TRACK.count
    await service.close(grace=5.0)
    status = "ok" if calls == args.n else "duplicates" if calls > args.n else "lost"
    return {
        "status": status,
        "n": args.n,
        "calls": calls,
        "seconds": seconds,
        "rate": args.n / seconds,
    }


# -- where the time of a single awaited enqueue goes ------------------------------------


class _NoopDriver(MemoryDriver):
    """Answers every enqueue at once, touching nothing: what is left is our
    own Python (validation, the job record, the coalescer, the reply)."""

    async def enqueue(self, topic: str, jobs: Any) -> list[bool]:
        return [True] * len(jobs)


async def enqueue_breakdown(args: argparse.Namespace) -> dict[str, Any]:
    """Per single awaited enqueue: wall time and client CPU of the whole
    call; our Python layer alone; hiredis packing the command; a bare
    ``EVALSHA`` of ``return 1`` on the same connection path (redis-py's
    cost plus a round trip); and the enqueue script's own time on the
    server (``INFO commandstats``)."""
    from queue_redis import RedisDriver, make_client
    from queue_redis._scripts import Script, pack

    n = args.n
    result: dict[str, Any] = {"status": "ok", "n": n}

    async def timed(call: Any, count: int) -> tuple[float, float]:
        for _ in range(min(200, count)):
            await call()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            await call()
        return (
            (time.perf_counter() - wall) / count * 1e6,
            (time.process_time() - cpu) / count * 1e6,
        )

    noop = QueueService(_NoopDriver())
    _, result["our_python_us"] = await timed(lambda: noop.enqueue(TOPIC, b"1.5"), n)
    await noop.close()
    command = ("EVALSHA", "0" * 40, 12, *["queue:{bench}:jobs"] * 12, "", 30000)
    command += ("id", b"1.5", 0, 0, 5, b"", 0, 0)
    started = time.process_time()
    for _ in range(n):
        pack(command)
    result["pack_us"] = (time.process_time() - started) / n * 1e6
    client = make_client(args.url)
    driver = RedisDriver(client)
    service = QueueService(driver)
    try:
        sha = await client.script_load("return 1")
        runner = driver._run

        async def bare() -> Any:
            assert runner._pool is not None
            return await runner._direct(
                runner._pool, pack, Script("bare", b"return 1", sha), (), ()
            )

        result["bare_evalsha_wall_us"], result["bare_evalsha_cpu_us"] = await timed(bare, n)
        await client.config_resetstat()
        result["enqueue_wall_us"], result["enqueue_cpu_us"] = await timed(
            lambda: service.enqueue(TOPIC, repr(time.time()).encode()), n
        )
        stats = await client.info("commandstats")
        result["enqueue_server_us"] = float(stats["cmdstat_evalsha"]["usec_per_call"])
        result["rate"] = 1e6 / result["enqueue_wall_us"]
    finally:
        await service.close()
        await client.aclose()
    return result


if __name__ == "__main__":
    main(
        OursAdapter,
        "benchmarks.ours",
        {
            "claim": claim_latency,
            "memory": memory_per_job,
            "memdrain": memory_drain,
            "breakdown": enqueue_breakdown,
        },
    )
