"""Redis-only: ``ack_and_claim`` (one script) answers exactly as
``ack_many`` then ``claim`` do on the reference driver."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from queue_core import Driver, FakeClock, Job, NewJob, Settled
from queue_memory import MemoryDriver
from queue_redis import RedisDriver
from tests.redis_support import connect, unique_topic

pytestmark = pytest.mark.redis


def _view(job: Job) -> tuple[Any, ...]:
    """A job without its lease token (tokens differ between drivers)."""
    return (job.id, job.attempt, job.fencing_token, job.priority, job.payload, job.run_at)


async def _step(
    driver: Driver, topic: str, leases: list[tuple[str, str]], max_jobs: int
) -> tuple[list[Settled], list[Job]]:
    return await driver.ack_and_claim(topic, leases, max_jobs=max_jobs, lease=5)


def test_ack_and_claim_matches_the_reference(redis_url: str) -> None:
    async def main() -> None:
        async with connect(redis_url) as client:
            rng = random.Random(5)
            clock = FakeClock()
            drivers: list[Driver] = [
                RedisDriver(client, clock=clock, max_batch=7),
                MemoryDriver(clock=clock),
            ]
            topic = unique_topic()
            held: list[list[Job]] = [[], []]
            stale: list[list[tuple[str, str]]] = [[], []]
            for step in range(60):
                if step % 5 == 0:
                    jobs = [
                        NewJob(id=f"j{step}-{i}", payload=b"p", priority=rng.randint(-2, 2))
                        for i in range(rng.randint(0, 9))
                    ]
                    for driver in drivers:
                        await driver.enqueue(topic, jobs)
                picks = sorted(rng.sample(range(len(held[0])), rng.randint(0, len(held[0]))))
                max_jobs = rng.choice([0, 1, 3, 10])
                if rng.random() < 0.2:
                    clock.advance(6)  # every lease runs out: reaped by the claim
                answers = []
                for n, driver in enumerate(drivers):
                    leases = [(held[n][i].id, held[n][i].lease_token or "") for i in picks]
                    if leases and step % 3 == 0:
                        leases.append(leases[0])  # the same lease twice: GONE the second time
                    leases += stale[n]
                    leases.append(("missing", "x"))
                    outcomes, claimed = await _step(driver, topic, leases, max_jobs)
                    stale[n] = leases[: len(picks)][:2]  # re-acked later: GONE
                    kept = [job for i, job in enumerate(held[n]) if i not in picks]
                    held[n] = kept + claimed
                    answers.append((outcomes, [_view(job) for job in claimed]))
                assert answers[0] == answers[1], step
                counts = [await driver.counts(topic) for driver in drivers]
                assert counts[0] == counts[1], step
            await drivers[0].close()
            await drivers[1].close()

    asyncio.run(main())


def test_ack_and_claim_recovers_from_a_script_flush(redis_url: str) -> None:
    async def main() -> None:
        async with connect(redis_url) as client:
            driver = RedisDriver(client)
            topic = unique_topic()
            await driver.enqueue(topic, [NewJob(id=i, payload=b"") for i in "abc"])
            (job,) = await driver.claim(topic, max_jobs=1, lease=5)
            await client.script_flush()
            leases = [(job.id, job.lease_token or "")]
            outcomes, jobs = await driver.ack_and_claim(topic, leases, max_jobs=5, lease=5)
            assert outcomes == [Settled.ACKED]
            assert [j.id for j in jobs] == ["b", "c"]
            await driver.close()

    asyncio.run(main())


def test_a_wait_right_after_an_empty_claim_still_wakes_on_enqueue(redis_url: str) -> None:
    async def main() -> None:
        async with connect(redis_url) as client:
            consumer = RedisDriver(client, block_timeout=30)
            producer = RedisDriver(client)
            topic = unique_topic()
            assert await consumer.claim(topic, max_jobs=1, lease=5) == []
            await producer.enqueue(topic, [NewJob(id="a", payload=b"")])
            # the wait uses the claim's idle hint (no peek): the enqueue's
            # wake-up token ends it, not its 30 s timeout
            await asyncio.wait_for(consumer.wait(topic, 30), 10)
            assert [job.id for job in await consumer.claim(topic, max_jobs=1, lease=5)] == ["a"]
            await consumer.close()
            await producer.close()

    asyncio.run(main())
