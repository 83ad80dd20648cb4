"""Schedules on a real redis-server: two schedulers, each with its own
client and driver (as two processes would have), share one backend and a
fake clock; every tick becomes exactly one job, also when the jobs have
run and ended (the idempotency records are the memory)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from queue_core import FakeClock, Job, QueueService, SubscribeOptions
from queue_core.schedules import Schedule, Scheduler, every
from queue_redis import RedisDriver, make_client

pytestmark = pytest.mark.redis

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp()


async def _two_schedulers(url: str, *, restart_second: bool) -> None:
    clock = FakeClock(START)
    prefix = f"sched-{uuid.uuid4().hex[:10]}"
    clients = [make_client(url), make_client(url)]
    services = [QueueService(RedisDriver(c, clock=clock, prefix=prefix)) for c in clients]
    ran: list[str] = []

    async def handle(job: Job) -> None:
        ran.append(job.id)

    minute = Schedule(
        name="minute", trigger=every(60, catch_up=100, grace=0), topic="t", payload=b"{}"
    )
    consumer = await services[0].subscribe("t", handle, SubscribeOptions(lease=600))
    first = Scheduler(services[0], [minute], clock=clock)
    second = Scheduler(services[1], [minute], clock=clock)
    made = [first, second]
    try:
        await first.start()
        await second.start()
        for n in range(100):
            if n:
                clock.advance(60)
            if restart_second and n == 50:  # a deploy: the second one restarts
                await second.stop()
                second = Scheduler(services[1], [minute], clock=clock)
                made.append(second)
                await second.start()
            for scheduler in (first, second):
                await asyncio.wait_for(scheduler.wait_idle(), 10)
            await services[0].wait_empty("t", timeout=10)  # the tick's job ran and ended
        await consumer.close()
        # every tick ran once: the 100 of the test, and the 100 caught up at the start
        expected = {minute.job_id(START + 60 * n) for n in range(-100, 100)}
        assert len(ran) == len(set(ran)) == 200
        assert set(ran) == expected
        assert sum(s.statistics().enqueued for s in made) == 200
        assert sum(s.statistics().failures for s in made) == 0
        counts = await services[1].counts("t")
        assert counts.total == 0
    finally:
        await first.stop()
        await second.stop()
        for service in services:
            await service.close()
        for client in clients:
            await client.aclose()


def test_two_schedulers_with_their_own_drivers_create_one_job_per_tick(redis_url: str) -> None:
    asyncio.run(_two_schedulers(redis_url, restart_second=False))


def test_a_scheduler_restarting_beside_another_repeats_no_tick(redis_url: str) -> None:
    asyncio.run(_two_schedulers(redis_url, restart_second=True))
