"""Redis-only: each known defect of the original Go design (docs/redis.md,
"Why it differs from the original design", 1-8), shown fixed on a real
server."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from redis.asyncio import Redis

from queue_core import (
    MAX_PRIORITY,
    MIN_PRIORITY,
    FakeClock,
    JobState,
    LeaseLost,
    NewJob,
    Settled,
)
from queue_redis import RedisDriver, topic_keys
from tests.redis_support import blocked_client_ids, connect, unique_topic, until

pytestmark = pytest.mark.redis


def _run(url: str, body) -> None:
    async def main() -> None:
        async with connect(url) as client:
            assert isinstance(client, Redis)
            clock = FakeClock()
            driver = RedisDriver(client, clock=clock)
            try:
                await body(client, driver, clock, unique_topic())
            finally:
                await driver.close()

    asyncio.run(main())


async def _drain(driver: RedisDriver, topic: str) -> list[str]:
    """Claim and ack one job at a time; the ids in claim order."""
    order = []
    while jobs := await driver.claim(topic, max_jobs=1, lease=60):
        order.append(jobs[0].id)
        await driver.ack(topic, jobs[0].id, jobs[0].lease_token or "")
    return order


def test_defect_1_priorities_cover_the_int32_range(redis_url: str) -> None:
    priorities = [MIN_PRIORITY, MIN_PRIORITY + 1, -2, -1, 0, 1, 2, 2**21 + 1]
    priorities += [2**31 - 2**20, MAX_PRIORITY - 1, MAX_PRIORITY]

    async def body(client, driver, clock, topic):
        shuffled = random.Random(1).sample(priorities, len(priorities))
        await driver.enqueue(topic, [NewJob(id=str(p), payload=b"", priority=p) for p in shuffled])
        assert await _drain(driver, topic) == [str(p) for p in sorted(priorities, reverse=True)]

    _run(redis_url, body)


def test_defect_2_a_delayed_high_priority_job_never_blocks_due_ones(redis_url: str) -> None:
    async def body(client, driver, clock, topic):
        urgent_later = NewJob(id="urgent", payload=b"", priority=MAX_PRIORITY, delay=3600)
        await driver.enqueue(topic, [urgent_later, NewJob(id="low", payload=b"", priority=-5)])
        keys = topic_keys("queue", topic)
        assert await client.zcard(f"{keys.stem}:scheduled") == 1  # :scheduled holds the delayed job
        assert await client.zcard(f"{keys.stem}:ready") == 1  # :ready only the due one
        assert await _drain(driver, topic) == ["low"]
        clock.advance(3600)
        assert await _drain(driver, topic) == ["urgent"]  # promoted inside claim

    _run(redis_url, body)


def test_defect_3_a_reaped_job_keeps_its_priority(redis_url: str) -> None:
    async def body(client, driver, clock, topic):
        await driver.enqueue(topic, [NewJob(id="crashed", payload=b"", priority=1)])
        await driver.claim(topic, max_jobs=1, lease=1)
        await driver.enqueue(
            topic,
            [NewJob(id="high", payload=b"", priority=5), NewJob(id="low", payload=b"", priority=0)],
        )
        clock.advance(2)
        await driver.enqueue(topic, [NewJob(id="same-later", payload=b"", priority=1)])
        assert await driver.reap(topic) == 1
        reaped = await driver.get(topic, "crashed")
        assert reaped.priority == 1
        assert reaped.run_at == reaped.enqueued_at + 1  # due at its lease deadline
        assert reaped.last_error == "lease expired"
        assert await _drain(driver, topic) == ["high", "crashed", "same-later", "low"]

    _run(redis_url, body)


def test_defect_4_stale_lease_tokens_are_fenced(redis_url: str) -> None:
    async def body(client, driver, clock, topic):
        await driver.enqueue(topic, [NewJob(id="j", payload=b"data")])
        (old,) = await driver.claim(topic, max_jobs=1, lease=1)
        clock.advance(2)
        (new,) = await driver.claim(topic, max_jobs=1, lease=30)  # reaped, then re-claimed
        assert new.lease_token != old.lease_token
        assert new.fencing_token == old.fencing_token + 1
        assert new.attempt == old.attempt + 1
        before = await driver.get(topic, "j")
        stale = old.lease_token
        assert await driver.ack_many(topic, [("j", stale)]) == [Settled.LEASE_LOST]
        for call in (
            driver.extend(topic, "j", stale, 60),
            driver.retry(topic, "j", stale, delay=0, error="x"),
            driver.release(topic, "j", stale),
            driver.dead_letter(topic, "j", stale, error="x"),
        ):
            with pytest.raises(LeaseLost):
                await call
        assert await driver.get(topic, "j") == before  # nothing changed
        assert await driver.ack(topic, "j", new.lease_token) is True

    _run(redis_url, body)


def test_defect_5_ordering_is_exact_within_a_millisecond_and_far_ahead(redis_url: str) -> None:
    async def body(client, driver, clock, topic):
        # 3000 jobs in one millisecond, two extreme priorities interleaved
        jobs = [
            NewJob(id=f"{i:05d}", payload=b"", priority=MAX_PRIORITY if i % 2 else MIN_PRIORITY)
            for i in range(3000)
        ]
        for start in range(0, len(jobs), 1000):
            await driver.enqueue(topic, jobs[start : start + 1000])
        claimed = []
        while batch := await driver.claim(topic, max_jobs=1000, lease=60):
            claimed += [job.id for job in batch]
        odd = [job.id for job in jobs if int(job.id) % 2]
        even = [job.id for job in jobs if not int(job.id) % 2]
        assert claimed == odd + even
        # far-future due times one millisecond apart keep their order
        year_9999 = 253_402_300_799.0
        await driver.enqueue(
            topic,
            [
                NewJob(id="b", payload=b"", run_at=year_9999 + 0.001),
                NewJob(id="a", payload=b"", run_at=year_9999),
                NewJob(id="c", payload=b"", run_at=year_9999 + 0.001),
            ],
        )
        scheduled = await driver.list_jobs(topic, JobState.SCHEDULED)
        assert [job.id for job in scheduled] == ["a", "b", "c"]
        assert scheduled[0].run_at == year_9999

    _run(redis_url, body)


def test_defect_6_time_is_the_servers_unless_a_clock_is_injected(redis_url: str) -> None:
    async def main() -> None:
        async with connect(redis_url) as client:
            topic = unique_topic()
            clock = FakeClock(start=1_000_000.0)
            fake = RedisDriver(client, clock=clock)
            await fake.enqueue(topic, [NewJob(id="f", payload=b"")])
            assert (await fake.get(topic, "f")).enqueued_at == 1_000_000.0  # type: ignore[union-attr]
            real = RedisDriver(client)
            await real.enqueue(topic, [NewJob(id="r", payload=b"")])
            seconds, micros = await client.time()
            enqueued = (await real.get(topic, "r")).enqueued_at  # type: ignore[union-attr]
            assert abs(enqueued - (seconds + micros / 1e6)) < 1.0
            assert abs(enqueued - time.time()) < 5.0  # sanity: a real clock
            # test_redis_clock.py skews the client's clock by a minute
            await fake.close()
            await real.close()

    asyncio.run(main())


def test_defect_7_a_job_that_kills_its_worker_is_dead_lettered(redis_url: str) -> None:
    async def body(client, driver, clock, topic):
        await driver.enqueue(topic, [NewJob(id="poison", payload=b"", max_attempts=3)])
        for attempt in (1, 2, 3):
            (job,) = await driver.claim(topic, max_jobs=1, lease=1)  # the worker dies
            assert job.attempt == attempt
            clock.advance(1)
        assert await driver.claim(topic, max_jobs=1, lease=1) == []  # reaped to the DLQ
        counts = await driver.counts(topic)
        assert (counts.ready, counts.in_flight, counts.scheduled, counts.dead) == (0, 0, 0, 1)
        (dead,) = await driver.list_jobs(topic + ":dead", JobState.READY)
        assert (dead.id, dead.attempt, dead.last_error) == ("poison", 3, "lease expired")

    _run(redis_url, body)


def test_defect_8_notify_is_bounded_and_wakeups_chain(redis_url: str) -> None:
    async def main() -> None:
        async with connect(redis_url) as client:
            assert isinstance(client, Redis)
            driver = RedisDriver(client, block_timeout=30.0)
            topic = unique_topic()
            notify = topic_keys("queue", topic).notify
            for i in range(200):  # nobody waits: tokens pile up, but only so far
                await driver.enqueue(topic, [NewJob(id=f"x{i}", payload=b"")])
            assert 0 < await client.llen(notify) <= 16
            await driver.purge(topic)
            await client.delete(notify)

            before = await blocked_client_ids(client)
            got: list[str] = []

            async def consumer() -> None:
                await driver.wait(topic, 30.0)
                jobs = await driver.claim(topic, max_jobs=1, lease=60)
                got.extend(job.id for job in jobs)

            waiters = [asyncio.create_task(consumer()) for _ in range(4)]

            async def all_blocked() -> bool:
                return len(await blocked_client_ids(client) - before) >= 4

            await until(all_blocked)
            # one enqueue call pushes one token; each claim that leaves work
            # behind pushes the next, so all four wake long before 30 s
            await driver.enqueue(topic, [NewJob(id=f"j{i}", payload=b"") for i in range(4)])
            await asyncio.wait_for(asyncio.gather(*waiters), 10.0)
            assert sorted(got) == ["j0", "j1", "j2", "j3"]
            await driver.close()

    asyncio.run(main())
