"""Redis-only: the caller's client decides how to reach Redis (Sentinel, an
ACL user restricted to the queue's keys)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import NoPermissionError

from queue_core import NewJob, QueueError, Settled
from queue_redis import RedisDriver
from tests.redis_support import RedisSentinel, RedisServer, connect, unique_topic

pytestmark = pytest.mark.redis


async def _round_trip(driver: RedisDriver) -> None:
    """Enqueue while a consumer blocks in wait (push wake-up), then claim
    and ack."""
    topic = unique_topic()
    waiting = asyncio.create_task(driver.wait(topic, 10.0))
    await asyncio.sleep(0.1)  # let the blocking pop reach the server
    started = time.monotonic()
    await driver.enqueue(topic, [NewJob(id="a", payload=b"x")])
    await waiting
    assert time.monotonic() - started < 5.0  # pushed, not the 10 s timeout
    (job,) = await driver.claim(topic, max_jobs=1, lease=5)
    assert await driver.ack_many(topic, [(job.id, job.lease_token or "")]) == [Settled.ACKED]


def test_a_client_from_sentinel(redis_server: RedisServer, tmp_path: Path) -> None:
    sentinel = RedisSentinel(tmp_path / "sentinel", redis_server)
    sentinel.start()

    async def main() -> None:
        sentinels = Sentinel([("127.0.0.1", sentinel.port)])  # type: ignore[no-untyped-call]
        client = sentinels.master_for("master")
        driver = RedisDriver(client)
        try:
            await _round_trip(driver)
        finally:
            await driver.close()
            await client.aclose()
            for each in sentinels.sentinels:
                await each.aclose()

    try:
        asyncio.run(main())
    finally:
        sentinel.stop()


def test_an_acl_user_limited_to_the_queue_keys(redis_server: RedisServer) -> None:
    """The permissions docs/redis.md lists are enough."""

    async def main() -> None:
        async with connect(redis_server.url) as admin:
            await admin.execute_command(
                "ACL", "SETUSER", "worker", "on", ">secret", "~queue:*", "resetchannels",
                "-@all", "+evalsha", "+eval", "+blpop", "+info", "+ping", "+time",
                "+@hash", "+@sortedset", "+@list", "+@string", "+@set", "+exists", "+del",
                "+scan", "+config|get",
            )  # fmt: skip
        client = Redis(port=redis_server.port, username="worker", password="secret")
        driver = RedisDriver(client)
        try:
            await _round_trip(driver)
            assert (await driver.diagnostics()).appendfsync == "always"
            # a key outside the prefix is out of reach for this user
            with pytest.raises(NoPermissionError):
                await client.set("elsewhere", b"x")
        finally:
            await driver.close()
            await client.aclose()
        # bad credentials are not worth retrying: QueueError, not BackendUnavailable
        client = Redis(
            port=redis_server.port, username="worker", password="wrong", retry=Retry(NoBackoff(), 0)
        )
        try:
            with pytest.raises(QueueError) as info:
                await RedisDriver(client).counts(unique_topic())
            assert not info.value.retryable
        finally:
            await client.aclose()

    asyncio.run(main())
