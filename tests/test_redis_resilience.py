"""Redis-only: connection loss, server restarts, a frozen server."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from redis.asyncio import Redis

from queue_core import (
    BackendUnavailable,
    EnqueueOptions,
    Job,
    NewJob,
    QueueOptions,
    QueueService,
    RetryPolicy,
    SubscribeOptions,
)
from queue_redis import RedisDriver
from tests.redis_support import RedisServer, blocked_client_ids, connect, unique_topic, until

pytestmark = pytest.mark.redis

FAST_BACKOFF = QueueOptions(
    backend_retry=RetryPolicy(initial_delay=0.05, max_delay=0.5, jitter=0.1)
)


def test_consumer_resumes_after_its_blocking_connection_is_killed(redis_url: str) -> None:
    async def main() -> None:
        async with connect(redis_url) as client:
            assert isinstance(client, Redis)
            driver = RedisDriver(client, block_timeout=5.0)
            service = QueueService(driver, FAST_BACKOFF)
            topic = unique_topic()
            got: asyncio.Queue[Job] = asyncio.Queue()
            consumer = await service.subscribe(
                topic, got.put, SubscribeOptions(concurrency=1, poll_interval=30.0)
            )
            before = await blocked_client_ids(client)

            async def blocked() -> bool:
                return bool(await blocked_client_ids(client) - before)

            await until(blocked)
            for client_id in await blocked_client_ids(client) - before:
                await client.execute_command(  # type: ignore[no-untyped-call]
                    "CLIENT", "KILL", "ID", client_id
                )
            await service.enqueue(topic, b"after kill")
            job = await asyncio.wait_for(got.get(), 10.0)
            assert job.payload == b"after kill"
            await consumer.close()
            await service.close()

    asyncio.run(main())


def test_server_restart_mid_run_loses_no_job(redis_server: RedisServer) -> None:
    """AOF with appendfsync always; the server is killed (SIGKILL) twice
    while a producer enqueues and a consumer drains. Every acknowledged
    enqueue is handled (duplicates allowed: at least once)."""
    total = 300

    async def main() -> None:
        async with connect(redis_server.url) as client:
            driver = RedisDriver(client, command_timeout=2.0)
            service = QueueService(driver, FAST_BACKOFF)
            topic = unique_topic()
            seen: dict[str, int] = {}
            done = asyncio.Event()

            async def handle(job: Job) -> None:
                seen[job.id] = seen.get(job.id, 0) + 1
                if len(seen) == total:
                    done.set()

            options = SubscribeOptions(concurrency=4, lease=1.0, poll_interval=0.5)
            consumer = await service.subscribe(topic, handle, options)
            loop = asyncio.get_running_loop()
            for i in range(total):
                if i in (total // 3, total // 2):
                    await loop.run_in_executor(None, lambda: redis_server.restart(kill=True))
                job_id = f"job-{i}"
                while True:  # a producer retries with the same id: idempotent
                    try:
                        await service.enqueue(topic, b"x", EnqueueOptions(job_id=job_id))
                        break
                    except BackendUnavailable:
                        await asyncio.sleep(0.05)
            await asyncio.wait_for(done.wait(), 60.0)
            assert sorted(seen) == sorted(f"job-{i}" for i in range(total))
            await consumer.close()
            await service.close()

    asyncio.run(main())


def test_producer_gets_a_retryable_error_when_the_server_is_down(
    redis_server: RedisServer,
) -> None:
    async def main() -> None:
        async with connect(redis_server.url) as client:
            driver = RedisDriver(client)
            topic = unique_topic()
            redis_server.stop()
            started = time.monotonic()
            with pytest.raises(BackendUnavailable) as info:
                await driver.enqueue(topic, [NewJob(id="a", payload=b"")])
            assert info.value.retryable
            assert info.value.__cause__ is not None
            assert time.monotonic() - started < 10.0
            # a waiting consumer is not stuck either: wait returns (a hint)
            await asyncio.wait_for(driver.wait(topic, 0.2), 3.0)
            redis_server.start()
            assert await driver.enqueue(topic, [NewJob(id="a", payload=b"")]) == [True]
            await driver.close()

    asyncio.run(main())


def test_a_frozen_server_gives_errors_not_hangs(redis_server: RedisServer) -> None:
    async def main() -> None:
        async with connect(redis_server.url) as client:
            driver = RedisDriver(client, command_timeout=0.5, block_timeout=0.5)
            topic = unique_topic()
            await driver.enqueue(topic, [NewJob(id="a", payload=b"")])
            (job,) = await driver.claim(topic, max_jobs=1, lease=30)
            await driver.ack_many(topic, [(job.id, job.lease_token or "")])
            waiting = asyncio.create_task(driver.wait(topic, 0.5))
            await asyncio.sleep(0.1)  # let the blocking pop reach the server
            assert redis_server.process is not None
            os.kill(redis_server.process.pid, signal.SIGSTOP)
            try:
                # the watchdog ends the blocked pop (0.5 s + 1 s)
                await asyncio.wait_for(waiting, 5.0)
                with pytest.raises(BackendUnavailable):
                    await driver.enqueue(topic, [NewJob(id="b", payload=b"")])
            finally:
                os.kill(redis_server.process.pid, signal.SIGCONT)
            await driver.close()

    asyncio.run(main())
