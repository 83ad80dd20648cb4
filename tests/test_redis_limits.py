"""Redis-only, end to end: a global in-flight limit holds across 50
consumers (each its own driver and connection, as separate processes would
have), and a rate limit spaces the claims."""

from __future__ import annotations

import asyncio

import pytest

from queue_core import Job, QueueService, SubscribeOptions, TopicLimits
from queue_redis import RedisDriver, make_client
from tests.redis_support import unique_topic

pytestmark = pytest.mark.redis


def test_a_limit_of_three_in_flight_holds_with_fifty_consumers(redis_url: str) -> None:
    async def main() -> None:
        topic = unique_topic("limited")
        services = [
            QueueService(RedisDriver(make_client(redis_url), owns_client=True)) for _ in range(50)
        ]
        producer = services[0]
        await producer.set_limits(topic, TopicLimits(max_in_flight=3))
        await producer.enqueue_many(topic, [str(i).encode() for i in range(60)])
        running = 0
        most = 0
        done: set[bytes] = set()
        finished = asyncio.Event()

        async def handler(job: Job) -> None:
            nonlocal running, most
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.01)
            running -= 1
            done.add(job.payload)
            if len(done) == 60:
                finished.set()

        options = SubscribeOptions(concurrency=2, poll_interval=1.0)
        try:
            for service in services:
                await service.subscribe(topic, handler, options)
            async with asyncio.timeout(60):
                await finished.wait()
            assert most <= 3, f"{most} jobs ran at once under max_in_flight=3"
            assert most == 3, "the limit was never reached: the test proves nothing"
            await producer.wait_empty(topic, timeout=30)  # every ack landed
        finally:
            for service in services:
                await service.close(grace=1.0)

    asyncio.run(main())


def test_a_rate_limit_spaces_claims_across_consumers(redis_url: str) -> None:
    async def main() -> None:
        topic = unique_topic("rated")
        services = [
            QueueService(RedisDriver(make_client(redis_url), owns_client=True)) for _ in range(5)
        ]
        await services[0].set_limits(topic, TopicLimits(rate=5, per=0.5))
        await services[0].enqueue_many(topic, [b"x"] * 15)
        starts: list[float] = []
        finished = asyncio.Event()

        lease = SubscribeOptions().lease

        async def handler(job: Job) -> None:
            assert job.lease_deadline is not None
            starts.append(job.lease_deadline - lease)  # the claim's time on the server
            if len(starts) == 15:
                finished.set()

        try:
            for service in services:
                await service.subscribe(topic, handler, SubscribeOptions(concurrency=5))
            async with asyncio.timeout(30):
                await finished.wait()
        finally:
            for service in services:
                await service.close(grace=1.0)
        starts.sort()
        # at most 5 claims within any 0.5 s window (claim times in whole ms)
        for i in range(len(starts) - 5):
            assert starts[i + 5] - starts[i] >= 0.5 - 0.001, f"6 claims within 0.5 s: {starts}"

    asyncio.run(main())
