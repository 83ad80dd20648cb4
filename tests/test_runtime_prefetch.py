"""Prefetch: a consumer holds at most concurrency + prefetch jobs, and
releases the prefetched ones (without using an attempt) on close."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from queue_core import Job, QueueService, Settled, SubscribeOptions
from tests.fakes import ScriptedDriver, async_test, make_job


@async_test
async def test_holds_at_most_concurrency_plus_prefetch_and_releases_them_on_close() -> None:
    driver = ScriptedDriver([make_job(f"j{i}") for i in range(10)])
    service = QueueService(driver)
    started: list[str] = []
    two_running = asyncio.Event()

    async def handler(job: Job) -> None:
        started.append(job.id)
        if len(started) == 2:
            two_running.set()
        await asyncio.Event().wait()  # never finishes

    options = SubscribeOptions(concurrency=2, prefetch=3, lease=30)
    consumer = await service.subscribe("t", handler, options)
    await two_running.wait()
    await driver.called("claim", 3)  # batches of 2, 2, then 1 to fill 2 + 3
    await asyncio.sleep(0.05)  # a fourth claim would come now if room were miscounted
    assert [call.kwargs["max_jobs"] for call in driver.of("claim")] == [2, 2, 1]
    assert len(driver.script) == 5, "claimed more than concurrency + prefetch"
    await consumer.close(grace=0)
    released = sorted(call.args[1] for call in driver.of("release"))
    assert released == [f"j{i}" for i in range(5)]
    assert sorted(started) == ["j0", "j1"]
    await service.close()


@async_test
async def test_prefetch_zero_claims_only_for_idle_handlers() -> None:
    driver = ScriptedDriver([make_job(f"j{i}") for i in range(4)])
    service = QueueService(driver)
    running = asyncio.Event()

    async def handler(job: Job) -> None:
        running.set()
        await asyncio.Event().wait()

    options = SubscribeOptions(concurrency=1, prefetch=0)
    consumer = await service.subscribe("t", handler, options)
    await running.wait()
    assert len(driver.script) == 3
    await consumer.close(grace=0)
    await service.close()


class RecordingAckClaim(ScriptedDriver):
    async def ack_and_claim(
        self,
        topic: str,
        leases: Sequence[tuple[str, str]],
        *,
        max_jobs: int,
        lease: float,
    ) -> tuple[list[Settled], list[Job]]:
        self.record("ack_and_claim", topic, list(leases), max_jobs=max_jobs)
        return await super().ack_and_claim(topic, leases, max_jobs=max_jobs, lease=lease)


@async_test
async def test_a_full_consumer_acks_and_fetches_successors_in_one_call() -> None:
    driver = RecordingAckClaim([make_job(f"j{i}") for i in range(60)])
    service = QueueService(driver)
    seen: list[str] = []
    done = asyncio.Event()

    async def handler(job: Job) -> None:
        seen.append(job.id)
        await asyncio.sleep(0)
        if len(seen) == 60:
            done.set()

    options = SubscribeOptions(concurrency=3, prefetch=2)
    consumer = await service.subscribe("t", handler, options)
    await done.wait()
    await consumer.wait_idle()
    assert sorted(seen) == sorted(f"j{i}" for i in range(60)), "a job ran twice or never"
    assert driver.count("ack_and_claim") > 0, "successors were never fetched with the acks"
    assert all(call.kwargs["max_jobs"] <= 5 for call in driver.of("ack_and_claim"))
    acked = [job_id for call in driver.of("ack_many") for job_id, _ in call.args[1]]
    assert sorted(acked) == sorted(seen), "every job acked exactly once"
    await service.close()
