"""Redis-only: an idle consumer's claim rides on its wake-up (the claim is
sent behind the blocking pop on one connection), and a wait cut short never
leaves a job leased to nobody."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from queue_core import Closed, Job, JobState, NewJob
from queue_redis import RedisDriver, make_client
from tests.redis_support import blocked_client_ids, unique_topic, until

pytestmark = pytest.mark.redis


@dataclass
class BlockedWait:
    """A ``wait_and_claim`` blocked in its pop, on a topic of its own."""

    client: Any
    driver: RedisDriver
    topic: str
    before: set[int]  # the blocked clients before the wait began
    interrupt: asyncio.Future[None]
    waiting: asyncio.Future[list[Job]]

    async def enqueue(self, job_id: str) -> None:
        await self.driver.enqueue(self.topic, [NewJob(id=job_id, payload=b"x")])

    async def get(self, job_id: str) -> Job:
        job = await self.driver.get(self.topic, job_id)
        assert job is not None, f"job {job_id} is gone"
        return job

    async def still_blocked(self) -> bool:
        return bool(await blocked_client_ids(self.client) - self.before)


@contextlib.asynccontextmanager
async def blocked_wait(
    redis_url: str, *, max_jobs: int = 1, flush_scripts: bool = False
) -> AsyncIterator[BlockedWait]:
    client: Any = make_client(redis_url)
    driver = RedisDriver(client)
    topic = unique_topic()
    try:
        assert await driver.claim(topic, max_jobs=1, lease=30) == []  # scripts loaded
        if flush_scripts:
            await client.script_flush()
        interrupt: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        wait = BlockedWait(
            client,
            driver,
            topic,
            await blocked_client_ids(client),
            interrupt,
            asyncio.ensure_future(
                driver.wait_and_claim(topic, 5.0, max_jobs=max_jobs, lease=30, interrupt=interrupt)
            ),
        )
        await until(wait.still_blocked)
        yield wait
    finally:
        await driver.close()
        await client.aclose()


def test_the_claim_rides_on_the_wake_up(redis_url: str) -> None:
    async def main() -> None:
        async with blocked_wait(redis_url, max_jobs=2) as wait:
            await wait.enqueue("a")
            jobs = await asyncio.wait_for(wait.waiting, 5)
            assert [job.id for job in jobs] == ["a"]
            assert jobs[0].state is JobState.IN_FLIGHT
            assert jobs[0].attempt == 1

    asyncio.run(main())


def test_a_wait_cut_short_while_blocked_leaves_nothing_leased(redis_url: str) -> None:
    """Cut short while the pop still blocks: the pop's connection is dropped,
    so the server drops the claim behind it; a job that arrives afterwards
    was never claimed by it."""

    async def main() -> None:
        async with blocked_wait(redis_url) as wait:
            wait.interrupt.set_result(None)
            assert await asyncio.wait_for(wait.waiting, 5) == []  # nothing was there yet

            async def unblocked() -> bool:
                return not await wait.still_blocked()

            await until(unblocked)
            await wait.enqueue("late")
            job = await wait.get("late")
            assert (job.state, job.fencing_token) == (JobState.READY, 0)

    asyncio.run(main())


def test_a_wait_cut_short_as_its_claim_runs_returns_the_claimed_jobs(redis_url: str) -> None:
    """The wake-up token and the interrupt come together: the claim behind
    the pop has run, its reply is on the wire; the wait gives the pop a
    moment and returns those jobs instead of dropping them."""

    async def main() -> None:
        async with blocked_wait(redis_url) as wait:
            await wait.enqueue("now")
            wait.interrupt.set_result(None)
            jobs = await asyncio.wait_for(wait.waiting, 5)
            assert [job.id for job in jobs] == ["now"]
            job = await wait.get("now")
            assert job.state is JobState.IN_FLIGHT
            assert job.lease_token == jobs[0].lease_token

    asyncio.run(main())


def test_a_flushed_script_behind_the_pop_falls_back_to_a_plain_claim(redis_url: str) -> None:
    async def main() -> None:
        async with blocked_wait(redis_url, flush_scripts=True) as wait:
            await wait.enqueue("b")
            jobs = await asyncio.wait_for(wait.waiting, 5)
            assert [job.id for job in jobs] == ["b"]

    asyncio.run(main())


def test_a_claim_whose_reply_was_lost_behind_the_pop_is_not_leased_to_nobody(
    redis_url: str,
) -> None:
    """The claim behind the pop ran, but the wait was cut before its reply
    was read (a reply slower than the grace, a dropped connection): the
    jobs it leased are returned, not left leased to nobody."""

    async def main() -> None:
        client: Any = make_client(redis_url)
        driver = RedisDriver(client)
        topic = unique_topic()
        pop_unless = driver._pop_unless

        async def cut_after_the_claim_ran(pop: Any, interrupt: Any) -> Any:
            await pop_unless(pop, interrupt)  # the claim runs on the server...
            return None  # ...and its reply is lost

        driver._pop_unless = cut_after_the_claim_ran  # type: ignore[method-assign]
        try:
            assert await driver.claim(topic, max_jobs=1, lease=30) == []
            before = await blocked_client_ids(client)
            waiting = asyncio.ensure_future(driver.wait_and_claim(topic, 5.0, max_jobs=1, lease=30))

            async def blocked() -> bool:
                return bool(await blocked_client_ids(client) - before)

            await until(blocked)
            await driver.enqueue(topic, [NewJob(id="j", payload=b"x")])
            jobs = await asyncio.wait_for(waiting, 5)
            assert [job.id for job in jobs] == ["j"]
            job = await driver.get(topic, "j")
            assert job is not None
            assert job.lease_token == jobs[0].lease_token
        finally:
            await driver.close()
            await client.aclose()

    asyncio.run(main())


def test_a_driver_closed_while_its_wait_looks_claims_nothing_later(redis_url: str) -> None:
    async def main() -> None:
        client: Any = make_client(redis_url)
        driver = RedisDriver(client)
        producer = RedisDriver(client)
        topic = unique_topic()
        block_for = driver._block_for
        closing: list[asyncio.Future[None]] = []

        async def closed_meanwhile(*args: Any) -> Any:
            block = await block_for(*args)
            closing.append(asyncio.ensure_future(driver.close()))
            await asyncio.sleep(0)  # close() has begun, not ended
            return block

        driver._block_for = closed_meanwhile  # type: ignore[method-assign,assignment]
        try:
            waiting = asyncio.ensure_future(driver.wait_and_claim(topic, 2.0, max_jobs=1, lease=30))

            async def is_closed() -> bool:
                return driver._closed

            await until(is_closed)
            await producer.enqueue(topic, [NewJob(id="j", payload=b"x")])
            with pytest.raises(Closed):  # not a job leased to a closed driver
                await asyncio.wait_for(waiting, 5)
            job = await producer.get(topic, "j")
            assert job is not None
            assert job.state is JobState.READY
        finally:
            await asyncio.gather(*closing)
            await producer.close()
            await client.aclose()

    asyncio.run(main())
