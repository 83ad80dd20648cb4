"""Redis-only: scripts survive a script-cache flush and a re-sent call."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from redis.asyncio import Redis

from queue_core import (
    Closed,
    FakeClock,
    InvalidArgument,
    JobState,
    LeaseLost,
    NewJob,
    PayloadTooLarge,
    Settled,
)
from queue_redis import RedisDriver
from tests.redis_support import connect, unique_topic

pytestmark = pytest.mark.redis


def test_every_operation_works_after_script_flush(redis_url: str) -> None:
    async def main() -> None:
        async with connect(redis_url) as client:
            clock = FakeClock()
            driver = RedisDriver(client, clock=clock)
            topic = unique_topic()

            async def flushed(call: Any) -> Any:
                await client.script_flush()
                return await call

            assert await flushed(driver.enqueue(topic, [NewJob(id="a", payload=b"1")])) == [True]
            (job,) = await flushed(driver.claim(topic, max_jobs=1, lease=5))
            token = job.lease_token or ""
            await flushed(driver.extend(topic, "a", token, 10))
            await flushed(driver.retry(topic, "a", token, delay=0, error="x"))
            (job,) = await flushed(driver.claim(topic, max_jobs=1, lease=5))
            await flushed(driver.release(topic, "a", job.lease_token or ""))
            (job,) = await flushed(driver.claim(topic, max_jobs=1, lease=5))
            await flushed(driver.dead_letter(topic, "a", job.lease_token or "", error="y"))
            assert (await flushed(driver.counts(topic))).dead == 1
            assert await flushed(driver.redrive(topic)) == 1
            (job,) = await flushed(driver.claim(topic, max_jobs=1, lease=1))
            clock.advance(2)
            assert await flushed(driver.reap(topic)) == 1
            assert (await flushed(driver.get(topic, "a"))) is not None
            assert len(await flushed(driver.list_jobs(topic, JobState.READY))) == 1
            await flushed(driver.wait(topic, 0.01))
            (job,) = await flushed(driver.claim(topic, max_jobs=1, lease=5))
            leases = [("a", job.lease_token or "")]
            assert await flushed(driver.ack_many(topic, leases)) == [Settled.ACKED]
            await driver.enqueue(topic, [NewJob(id="b", payload=b"")])
            assert await flushed(driver.purge(topic)) == 1
            await driver.close()

    asyncio.run(main())


class _TwiceRunner:
    """Runs every script the driver lets be re-sent twice with the same
    arguments, as a client re-sends a command after a connection drops once
    the server ran it; returns the second reply. A call the driver marks
    not re-sendable is delivered once (the driver never re-sends it)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.resends_on_its_own = inner.resends_on_its_own
        self.once: list[str] = []

    async def __call__(
        self, name: str, keys: Sequence[str], args: Sequence[Any], *, resend: bool = True
    ) -> Any:
        if not resend:
            self.once.append(name)
            return await self.inner(name, keys, args, resend=False)
        await self.inner(name, keys, args)
        return await self.inner(name, keys, args)

    async def close(self) -> None:
        await self.inner.close()


def test_a_resent_script_gives_the_first_answer(redis_url: str) -> None:
    async def main() -> None:
        async with connect(redis_url) as client:
            clock = FakeClock()
            driver = RedisDriver(client, clock=clock)
            runner = _TwiceRunner(driver._run)
            driver._run = runner  # type: ignore[assignment]
            topic = unique_topic()
            # ids forgotten when their job ends: never re-sent (a second
            # delivery after the job ran would create it again)
            jobs = [NewJob(id=f"j{i}", payload=b"x") for i in range(4)]
            assert await driver.enqueue(topic, jobs) == [True] * 4
            assert runner.once == ["enqueue"]
            # remembered ids: a second delivery creates nothing, even after
            # the job ran, and its request key gives it the first answer
            kept = [NewJob(id="k", payload=b"x", idempotency_window=60)]
            assert await driver.enqueue(topic, kept) == [True]
            assert runner.once == ["enqueue"]  # this one was sent twice
            assert (await driver.counts(topic)).ready == 5
            await driver.purge(topic, ["k"])
            claimed = await driver.claim(topic, max_jobs=2, lease=5)
            # the re-sent claim returned the first run's jobs and leased no more
            assert [job.id for job in claimed] == ["j0", "j1"]
            counts = await driver.counts(topic)
            assert (counts.ready, counts.in_flight) == (2, 2)
            j0, j1 = claimed
            assert (await driver.get(topic, "j0")).lease_token == j0.lease_token  # type: ignore[union-attr]
            await driver.retry(topic, "j0", j0.lease_token or "", delay=0, error="e")
            await driver.release(topic, "j1", j1.lease_token or "")
            j0, j1 = await driver.claim(topic, max_jobs=2, lease=5)
            await driver.dead_letter(topic, j0.id, j0.lease_token or "", error="dead")
            # a re-sent ack finds the job gone: the documented no-op
            assert await driver.ack_many(topic, [(j1.id, j1.lease_token or "")]) == [Settled.GONE]
            counts = await driver.counts(topic)
            assert (counts.ready, counts.in_flight, counts.dead) == (2, 0, 1)
            # a stale token is still refused (a different call, not a re-send)
            with pytest.raises(LeaseLost):
                await driver.retry(topic, j0.id, j0.lease_token or "", delay=0, error=None)
            await driver.close()

    asyncio.run(main())


def test_arguments_checked_before_any_write(redis_url: str) -> None:
    async def main() -> None:
        async with connect(redis_url) as client:
            driver = RedisDriver(client, max_payload_bytes=10)
            topic = unique_topic()
            with pytest.raises(PayloadTooLarge):
                await driver.enqueue(
                    topic, [NewJob(id="ok", payload=b""), NewJob(id="big", payload=b"x" * 11)]
                )
            for bad in ("{t}", "a b", "", "x\n"):
                with pytest.raises(InvalidArgument):
                    await driver.enqueue(bad, [NewJob(id="a", payload=b"")])
            assert (await driver.counts(topic)).total == 0
            await driver.close()
            with pytest.raises(Closed):
                await driver.counts(topic)
            assert await client.ping()  # the caller's client stays open
        async with Redis.from_url(redis_url, decode_responses=True) as decoding:
            with pytest.raises(InvalidArgument):
                RedisDriver(decoding)

    asyncio.run(main())


def test_a_waiting_job_is_stored_compactly(redis_url: str) -> None:
    """The layout of docs/redis.md: times in hex, zero counts as empty
    fields (bytes per waiting job are a benchmark figure)."""

    async def main() -> None:
        async with connect(redis_url) as client:
            clock = FakeClock(start=1_700_000_000.0)
            driver = RedisDriver(client, clock=clock)
            topic = unique_topic()
            key = f"queue:{{{topic}}}:jobs"
            enqueued = 1_700_000_000_000
            await driver.enqueue(topic, [NewJob(id="a", payload=b"p", delay=2.5, priority=-7)])
            assert await client.hget(key, "a") == (
                f"s|-7|5|{enqueued:x}|{enqueued + 2500:x}|1|||||||p".encode()
            )
            clock.advance(3)
            (job,) = await driver.claim(topic, max_jobs=1, lease=10)
            deadline = enqueued + 13_000
            raw = await client.hget(key, "a")
            token = job.lease_token or ""
            assert raw == (
                f"f|-7|5|{enqueued:x}|{enqueued + 2500:x}|1|1|{job.fencing_token}|"
                f"{deadline:x}|{token}|||p".encode()
            )
            assert job.lease_deadline == deadline / 1000
            assert job.run_at == enqueued / 1000 + 2.5

    asyncio.run(main())
