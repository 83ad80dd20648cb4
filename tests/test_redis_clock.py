"""Redis-only: time is the server's; a client clock off by a minute changes
nothing (leases, delays, retry backoff)."""

from __future__ import annotations

import asyncio
import time

import pytest

from queue_core import JobState, NewJob
from queue_redis import RedisDriver
from tests.redis_support import connect, unique_topic

pytestmark = pytest.mark.redis

STEP = 0.3  # seconds: delays and leases of this test
SLACK = 0.15  # how far a time may sit from the server's (round trips)


@pytest.mark.parametrize("skew", [-60.0, 60.0])
def test_a_skewed_client_clock_changes_nothing(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, skew: float
) -> None:
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + skew)

    async def main() -> None:
        async with connect(redis_url) as client:
            driver = RedisDriver(client)
            topic = unique_topic()

            async def server_now() -> float:
                seconds, micros = await client.time()
                return seconds + micros / 1e6

            start = await server_now()
            assert abs(time.time() - start - skew) < 1.0  # the skew is real
            await driver.enqueue(
                topic, [NewJob(id="later", payload=b"", delay=STEP), NewJob(id="now", payload=b"")]
            )
            later = await driver.get(topic, "later")
            assert later is not None
            assert later.state is JobState.SCHEDULED
            assert abs(later.run_at - (start + STEP)) < SLACK

            (now,) = await driver.claim(topic, max_jobs=5, lease=STEP)
            assert now.id == "now"
            assert now.lease_deadline is not None
            assert abs(now.lease_deadline - (start + STEP)) < SLACK
            extended = await driver.extend(topic, "now", now.lease_token or "", STEP)
            assert abs(extended - (await server_now() + STEP)) < SLACK

            await asyncio.sleep(STEP + 0.05)  # server time passes: "later" is due
            (later,) = await driver.claim(topic, max_jobs=1, lease=30)
            assert later.id == "later"
            # retry backoff is measured on the server's clock too
            await driver.retry(topic, "later", later.lease_token or "", delay=STEP, error="e")
            retried = await driver.get(topic, "later")
            assert retried is not None
            assert retried.state is JobState.SCHEDULED
            assert abs(retried.run_at - (await server_now() + STEP)) < SLACK

            await asyncio.sleep(STEP + 0.05)  # the lease of "now" expired
            ids = {job.id for job in await driver.claim(topic, max_jobs=5, lease=30)}
            assert ids == {"now", "later"}
            await driver.close()

    asyncio.run(main())
