"""Lease renewal and lease loss in the runtime (contract points 5-7)."""

from __future__ import annotations

import asyncio

import pytest

from queue_core import Job, Outcome, QueueService, SubscribeOptions
from queue_memory import MemoryDriver
from tests.fakes import (
    ExpiredDriver,
    LostOnSettleDriver,
    RecordingHooks,
    RenewalRacesAckDriver,
    ScriptedDriver,
    async_test,
    log_messages,
    make_job,
)


@async_test
async def test_a_long_handler_has_its_lease_renewed_every_third_of_the_lease() -> None:
    lease = 0.9
    job = make_job(lease=lease)
    driver = ScriptedDriver([job])
    service = QueueService(driver)
    renewed_three_times = asyncio.Event()

    async def handler(job: Job) -> None:
        await driver.called("extend", 3)
        renewed_three_times.set()

    consumer = await service.subscribe("t", handler, SubscribeOptions(lease=lease))
    await asyncio.wait_for(renewed_three_times.wait(), 10)
    await consumer.wait_idle()
    extends = driver.of("extend")
    assert len(extends) >= 3
    for call in extends:
        assert call.args == ("t", job.id, job.lease_token)
        assert call.kwargs == {"lease": lease}
    # renewed every lease / 3 (0.3 s): never more often, and never so late
    # that the lease would be at risk (the keeper checks every lease / 6)
    claimed_at = driver.of("claim")[0].at
    times = [claimed_at] + [call.at for call in extends]
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert all(lease / 3 - 0.005 <= gap < lease * 0.75 for gap in gaps), gaps
    assert driver.of("ack_many")[0].args == ("t", [(job.id, job.lease_token)])
    await service.close()


@async_test
async def test_renewal_stops_once_the_job_is_settled() -> None:
    job = make_job()
    driver = ScriptedDriver([job])
    service = QueueService(driver)
    hooks = RecordingHooks()
    service.add_hook(hooks)

    async def handler(job: Job) -> None:
        await driver.called("extend", 1)

    consumer = await service.subscribe("t", handler, SubscribeOptions(lease=0.3))
    await hooks.finished(1)
    settled_after = driver.count("extend")
    # give the keeper several intervals: it must not renew a settled job
    second = make_job()
    driver.feed(second)
    await consumer.wait_idle()
    extends_of_first = [c for c in driver.of("extend") if c.args[1] == job.id]
    assert len(extends_of_first) == settled_after
    await service.close()


@async_test
async def test_a_long_handler_is_not_redelivered_on_a_real_driver() -> None:
    """Two consumers on one MemoryDriver (real clock): a handler running past
    its lease keeps its job; nobody else gets it. (A 1 s lease: renewals come
    every 0.33 s, so only a stalled event loop could make this flaky.)"""
    driver = MemoryDriver()
    service = QueueService(driver)
    deliveries: list[tuple[str, int]] = []
    extended = asyncio.Event()

    original_extend = driver.extend
    extend_calls = 0

    async def counting_extend(topic: str, job_id: str, token: str, lease: float) -> float:
        nonlocal extend_calls
        extend_calls += 1
        if extend_calls >= 4:  # 4 renewals: about 1.3 s, past the 1 s lease
            extended.set()
        return await original_extend(topic, job_id, token, lease)

    driver.extend = counting_extend  # type: ignore[method-assign]

    async def slow(job: Job) -> None:
        deliveries.append((job.id, job.attempt))
        await extended.wait()

    options = SubscribeOptions(lease=1.0, poll_interval=0.05)
    job_id = await service.enqueue("t", b"long")
    first = await service.subscribe("t", slow, options)
    second = await service.subscribe("t", slow, options)
    await asyncio.wait_for(extended.wait(), 10)
    await first.wait_idle()
    await second.wait_idle()
    assert deliveries == [(job_id, 1)]
    assert await service.get("t", job_id) is None
    await service.close()


@async_test
async def test_a_lease_found_lost_by_renewal_is_reported_once_by_its_refused_settle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A renewal that finds the lease gone stops renewing it; the loss is
    reported (counted, logged, hooked) once, when the settle is refused."""
    job = make_job()
    driver = ExpiredDriver([job])
    hooks = RecordingHooks()
    service = QueueService(driver, hooks=[hooks])

    async def handler(job: Job) -> None:
        await driver.called("extend")
        await asyncio.sleep(0.3)  # long enough for a second renewal, were there one

    consumer = await service.subscribe("t", handler, SubscribeOptions(lease=0.3))
    await hooks.finished(1)
    await consumer.wait_idle()
    assert consumer.statistics().lease_lost == 1
    assert [e.job_id for e in hooks.of("on_lease_lost")] == [job.id]
    assert [e.outcome for e in hooks.of("after_job")] == [Outcome.LEASE_LOST]
    assert driver.count("extend") == 1  # a lost lease is not renewed again
    assert sum("lease lost" in m for m in log_messages(caplog.records)) == 1
    await service.close()


@async_test
async def test_a_renewal_racing_the_ack_is_not_a_lost_lease(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A renewal that lands after the job's ack (another connection) finds no
    job: that is not a lost lease, and nothing reports one."""
    job = make_job()
    driver = RenewalRacesAckDriver([job])
    hooks = RecordingHooks()
    service = QueueService(driver, hooks=[hooks])

    async def handler(job: Job) -> None:
        await driver.called("extend")

    consumer = await service.subscribe("t", handler, SubscribeOptions(lease=0.3))
    await hooks.finished(1)
    await consumer.wait_idle()
    stats = consumer.statistics()
    assert (stats.acked, stats.lease_lost) == (1, 0)
    assert hooks.of("on_lease_lost") == []
    assert [e.outcome for e in hooks.of("after_job")] == [Outcome.ACKED]
    assert not any("lease lost" in m for m in log_messages(caplog.records))
    await service.close()


@async_test
async def test_lease_lost_on_ack_is_counted_and_the_consumer_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, second = make_job(), make_job()
    driver = LostOnSettleDriver([first, second])
    hooks = RecordingHooks()
    service = QueueService(driver, hooks=[hooks])
    handled: list[str] = []

    async def handler(job: Job) -> None:
        handled.append(job.id)

    consumer = await service.subscribe("t", handler, SubscribeOptions(concurrency=1))
    await consumer.wait_idle()
    assert handled == [first.id, second.id]
    stats = consumer.statistics()
    assert (stats.acked, stats.lease_lost, stats.running) == (0, 2, 0)
    assert [e.outcome for e in hooks.of("after_job")] == [Outcome.LEASE_LOST] * 2
    assert len(hooks.of("on_lease_lost")) == 2
    assert sum("lease lost" in m for m in log_messages(caplog.records)) == 2
    await service.close()


@async_test
async def test_lease_lost_on_retry_and_dead_letter_is_counted_not_raised() -> None:
    failing = make_job(attempt=1, max_attempts=3)
    exhausted = make_job(attempt=3, max_attempts=3)
    driver = LostOnSettleDriver([failing, exhausted])
    hooks = RecordingHooks()
    service = QueueService(driver, hooks=[hooks])

    async def handler(job: Job) -> None:
        raise RuntimeError("boom")

    consumer = await service.subscribe("t", handler, SubscribeOptions(concurrency=1))
    await consumer.wait_idle()
    assert driver.count("retry") == 1
    assert driver.count("dead_letter") == 1
    stats = consumer.statistics()
    assert (stats.retried, stats.dead_lettered, stats.lease_lost) == (0, 0, 2)
    assert hooks.of("on_retry") == []
    assert hooks.of("on_dead_letter") == []
    assert [e.outcome for e in hooks.of("after_job")] == [Outcome.LEASE_LOST] * 2
    await service.close()
