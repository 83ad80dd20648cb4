"""Redis-only: an idle consumer's claim rides on its wake-up (the claim is
sent behind the blocking pop on one connection), and a wait cut short never
leaves a job leased to nobody."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from queue_core import JobState, NewJob
from queue_redis import RedisDriver, make_client
from tests.redis_support import blocked_client_ids, unique_topic, until

pytestmark = pytest.mark.redis


async def _blocked(client: Any, before: set[int]) -> bool:
    return bool(await blocked_client_ids(client) - before)


async def _not_blocked(client: Any, before: set[int]) -> bool:
    return not await blocked_client_ids(client) - before


def test_the_claim_rides_on_the_wake_up(redis_url: str) -> None:
    async def main() -> None:
        client: Any = make_client(redis_url)
        driver = RedisDriver(client)
        topic = unique_topic()
        try:
            assert await driver.claim(topic, max_jobs=1, lease=30) == []
            before = await blocked_client_ids(client)
            waiting = asyncio.ensure_future(driver.wait_and_claim(topic, 5.0, max_jobs=2, lease=30))
            await until(lambda: _blocked(client, before))
            await driver.enqueue(topic, [NewJob(id="a", payload=b"x")])
            jobs = await asyncio.wait_for(waiting, 5)
            assert [job.id for job in jobs] == ["a"]
            assert jobs[0].state is JobState.IN_FLIGHT
            assert jobs[0].attempt == 1
        finally:
            await driver.close()
            await client.aclose()

    asyncio.run(main())


def test_a_wait_cut_short_while_blocked_leaves_nothing_leased(redis_url: str) -> None:
    """Cut short while the pop still blocks: the pop's connection is dropped,
    so the server drops the claim behind it; a job that arrives afterwards
    was never claimed by it."""

    async def main() -> None:
        client: Any = make_client(redis_url)
        driver = RedisDriver(client)
        producer = RedisDriver(client)
        topic = unique_topic()
        try:
            assert await driver.claim(topic, max_jobs=1, lease=30) == []
            before = await blocked_client_ids(client)
            interrupt: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiting = asyncio.ensure_future(
                driver.wait_and_claim(topic, 5.0, max_jobs=1, lease=30, interrupt=interrupt)
            )
            await until(lambda: _blocked(client, before))
            interrupt.set_result(None)
            assert await asyncio.wait_for(waiting, 5) == []  # nothing was there yet
            await until(lambda: _not_blocked(client, before))
            await producer.enqueue(topic, [NewJob(id="late", payload=b"x")])
            job = await producer.get(topic, "late")
            assert job is not None
            assert (job.state, job.fencing_token) == (JobState.READY, 0)
        finally:
            await driver.close()
            await client.aclose()

    asyncio.run(main())


def test_a_wait_cut_short_as_its_claim_runs_returns_the_claimed_jobs(redis_url: str) -> None:
    """The wake-up token and the interrupt come together: the claim behind
    the pop has run, its reply is on the wire; the wait gives the pop a
    moment and returns those jobs instead of dropping them."""

    async def main() -> None:
        client: Any = make_client(redis_url)
        driver = RedisDriver(client)
        producer = RedisDriver(client)
        topic = unique_topic()
        try:
            assert await driver.claim(topic, max_jobs=1, lease=30) == []
            before = await blocked_client_ids(client)
            interrupt: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiting = asyncio.ensure_future(
                driver.wait_and_claim(topic, 5.0, max_jobs=1, lease=30, interrupt=interrupt)
            )
            await until(lambda: _blocked(client, before))
            await producer.enqueue(topic, [NewJob(id="now", payload=b"x")])
            interrupt.set_result(None)
            jobs = await asyncio.wait_for(waiting, 5)
            assert [job.id for job in jobs] == ["now"]
            job = await producer.get(topic, "now")
            assert job is not None
            assert job.state is JobState.IN_FLIGHT
            assert job.lease_token == jobs[0].lease_token
        finally:
            await driver.close()
            await client.aclose()

    asyncio.run(main())


def test_a_flushed_script_behind_the_pop_falls_back_to_a_plain_claim(redis_url: str) -> None:
    async def main() -> None:
        client: Any = make_client(redis_url)
        driver = RedisDriver(client)
        topic = unique_topic()
        try:
            assert await driver.claim(topic, max_jobs=1, lease=30) == []
            await client.script_flush()
            before = await blocked_client_ids(client)
            waiting = asyncio.ensure_future(driver.wait_and_claim(topic, 5.0, max_jobs=1, lease=30))
            await until(lambda: _blocked(client, before))
            await driver.enqueue(topic, [NewJob(id="b", payload=b"y")])
            jobs = await asyncio.wait_for(waiting, 5)
            assert [job.id for job in jobs] == ["b"]
        finally:
            await driver.close()
            await client.aclose()

    asyncio.run(main())
