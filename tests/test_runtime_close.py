"""Graceful close (contract point 13): stop claiming, let running handlers
finish within the grace period, release what is still held, then refuse
further operations with Closed."""

from __future__ import annotations

import asyncio
import threading

import pytest

from queue_core import (
    Closed,
    EnqueueOptions,
    Job,
    JobState,
    Outcome,
    QueueConsumer,
    QueueService,
    SubscribeOptions,
)
from queue_memory import MemoryDriver
from tests.fakes import (
    BlockingClaimDriver,
    RecordingHooks,
    ScriptedDriver,
    async_test,
    make_job,
)


async def _until_closing(consumer: QueueConsumer) -> None:
    """Let a close() that was just started begin (a few loop iterations)."""
    for _ in range(100):
        if consumer.closed:
            return
        await asyncio.sleep(0)
    raise AssertionError("close() did not start")


@async_test
async def test_close_stops_claiming() -> None:
    driver = ScriptedDriver()
    service = QueueService(driver)
    handled: list[str] = []

    async def handler(job: Job) -> None:
        handled.append(job.id)

    consumer = await service.subscribe("t", handler)
    await consumer.wait_idle()
    await consumer.close()
    claims = driver.count("claim")
    driver.feed(make_job())
    for _ in range(20):
        await asyncio.sleep(0)
    assert driver.count("claim") == claims
    assert handled == []
    assert consumer.closed
    await service.close()


@async_test
async def test_a_running_handler_finishes_within_the_grace_period() -> None:
    job = make_job()
    driver = ScriptedDriver([job])
    hooks = RecordingHooks()
    service = QueueService(driver, hooks=[hooks])
    started = asyncio.Event()

    async def handler(job: Job) -> None:
        started.set()
        await asyncio.sleep(0.3)  # work that is still running when close() starts

    consumer = await service.subscribe("t", handler)
    await started.wait()
    await asyncio.wait_for(consumer.close(grace=30), 10)
    assert driver.of("ack_many")[0].args == ("t", [(job.id, job.lease_token)])
    assert driver.of("release") == []
    assert [e.outcome for e in hooks.of("after_job")] == [Outcome.ACKED]
    await service.close()


@async_test
async def test_a_handler_past_the_grace_period_is_cancelled_and_its_job_released() -> None:
    job = make_job()
    driver = ScriptedDriver([job])
    hooks = RecordingHooks()
    service = QueueService(driver, hooks=[hooks])
    started = asyncio.Event()
    cancelled: list[str] = []

    async def handler(job: Job) -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # never finishes by itself
        except asyncio.CancelledError:
            cancelled.append(job.id)
            raise

    consumer = await service.subscribe("t", handler)
    await started.wait()
    await asyncio.wait_for(consumer.close(grace=0.05), 10)
    assert cancelled == [job.id]
    assert driver.of("release")[0].args == ("t", job.id, job.lease_token)
    assert driver.of("ack_many") == []
    assert driver.of("retry") == []
    assert consumer.statistics().released == 1
    assert consumer.statistics().running == 0
    assert [e.outcome for e in hooks.of("after_job")] == [Outcome.RELEASED]
    await service.close()


@async_test
async def test_jobs_claimed_but_not_started_are_released_on_close() -> None:
    jobs = [make_job(), make_job()]
    driver = BlockingClaimDriver(jobs)
    service = QueueService(driver)
    handled: list[str] = []

    async def handler(job: Job) -> None:
        handled.append(job.id)

    consumer = await service.subscribe("t", handler, SubscribeOptions(concurrency=2))
    await driver.called("claim_blocked")
    closing = asyncio.create_task(consumer.close(grace=30))
    await _until_closing(consumer)
    driver.unblock.set()  # the claim in flight returns two jobs after close began
    await asyncio.wait_for(closing, 10)
    assert handled == []
    released = sorted(call.args[1:] for call in driver.of("release"))
    assert released == sorted((job.id, job.lease_token) for job in jobs)
    assert consumer.statistics().released == 2
    await service.close()


@async_test
async def test_close_returns_even_if_a_claim_hangs() -> None:
    driver = BlockingClaimDriver()
    service = QueueService(driver)

    async def handler(job: Job) -> None:
        raise AssertionError("never called")

    consumer = await service.subscribe("t", handler)
    await driver.called("claim_blocked")
    await asyncio.wait_for(consumer.close(grace=0.05), 10)
    assert driver.cancelled == 1  # the claim was given up after the grace period
    await service.close()


@async_test
async def test_a_release_on_close_does_not_use_up_an_attempt() -> None:
    """End to end on the reference driver: the released job goes to the next
    consumer at once, with the attempt it would have had."""
    service = QueueService(MemoryDriver())
    started = asyncio.Event()

    async def stuck(job: Job) -> None:
        started.set()
        await asyncio.Event().wait()

    job_id = await service.enqueue("t", b"job", EnqueueOptions(max_attempts=1))
    first = await service.subscribe("t", stuck)
    await started.wait()
    await first.close(grace=0)
    job = await service.get("t", job_id)
    assert job is not None
    assert (job.state, job.attempt, job.fencing_token) == (JobState.READY, 0, 1)

    attempts: list[tuple[int, int]] = []

    async def record(job: Job) -> None:
        attempts.append((job.attempt, job.fencing_token))

    second = await service.subscribe("t", record)
    await second.wait_idle()
    assert attempts == [(1, 2)]  # not dead-lettered, though max_attempts is 1
    assert (await service.counts("t")).total == 0
    await service.close()


@async_test
async def test_a_sync_handler_past_the_grace_period_keeps_its_job_until_it_returns() -> None:
    """A thread cannot be stopped: releasing its job at the end of the grace
    would let a second worker run the job while the thread still runs it.
    The job stays held, its lease renewed, and is settled by the handler's
    own result when the thread returns."""
    job = make_job()
    driver = ScriptedDriver([job])
    service = QueueService(driver)
    started = threading.Event()
    finish = threading.Event()

    def handler(job: Job) -> None:
        started.set()
        finish.wait(30)

    consumer = await service.subscribe("t", handler, SubscribeOptions(lease=0.3))
    await asyncio.to_thread(started.wait, 30)
    closing = asyncio.ensure_future(consumer.close(grace=0.05))
    # renewed twice after the grace ended (a lease is renewed every third of it)
    await asyncio.wait_for(driver.called("extend", 3), 10)
    assert len(driver.of("extend")) >= 2, "the lease was not renewed while the thread ran"
    assert not closing.done(), "close() returned while the sync handler still ran"
    assert driver.of("release") == [], "the job was released while its thread still ran it"
    assert consumer.statistics().running == 1
    finish.set()
    await asyncio.wait_for(closing, 10)
    assert driver.of("release") == []
    (ack,) = driver.of("ack_many")
    assert ack.args == ("t", [(job.id, job.lease_token)])
    assert consumer.statistics().acked == 1
    await service.close()


@async_test
async def test_close_with_abandon_leaves_a_running_sync_job_to_its_lease() -> None:
    """close(abandon=True) stops waiting for the thread: the job is neither
    released (another worker would run it beside the thread) nor settled."""
    job = make_job()
    driver = ScriptedDriver([job])
    hooks = RecordingHooks()
    service = QueueService(driver, hooks=[hooks])
    started = threading.Event()
    finish = threading.Event()

    def handler(job: Job) -> None:
        started.set()
        finish.wait(30)

    consumer = await service.subscribe("t", handler)
    await asyncio.to_thread(started.wait, 30)
    closing = asyncio.ensure_future(consumer.close(grace=0.05))
    await asyncio.sleep(0.2)
    assert not closing.done()
    await asyncio.wait_for(consumer.close(abandon=True), 10)
    assert closing.done()
    finish.set()
    assert driver.of("release") == []
    assert driver.of("ack_many") == []
    assert [e.outcome for e in hooks.of("after_job")] == [Outcome.UNKNOWN]
    await service.close()


@async_test
async def test_operations_after_close_raise_closed() -> None:
    driver = ScriptedDriver()
    service = QueueService(driver)

    async def handler(job: Job) -> None:
        pass

    consumer = await service.subscribe("t", handler)
    await service.close()
    assert consumer.closed
    with pytest.raises(Closed):
        await consumer.wait_idle()
    with pytest.raises(Closed):
        await service.enqueue("t", b"x")
    with pytest.raises(Closed):
        await service.enqueue_many("t", [b"x"])
    with pytest.raises(Closed):
        await service.subscribe("t", handler)
    with pytest.raises(Closed):
        await service.counts("t")
    with pytest.raises(Closed):
        await service.get("t", "id")
    with pytest.raises(Closed):
        await service.list_dead("t")
    with pytest.raises(Closed):
        await service.redrive("t")
    with pytest.raises(Closed):
        await service.purge("t")
    with pytest.raises(Closed):
        await service.purge_dead("t")
    assert [c.name for c in driver.calls if c.name not in ("claim",)] == ["close"]
    await service.close()  # idempotent
    await consumer.close()
    assert driver.count("close") == 1


@async_test
async def test_a_pending_wait_idle_fails_with_closed_when_the_consumer_closes() -> None:
    driver = BlockingClaimDriver()
    service = QueueService(driver)

    async def handler(job: Job) -> None:
        pass

    consumer = await service.subscribe("t", handler)
    waiting = asyncio.create_task(consumer.wait_idle())
    await driver.called("claim_blocked")
    closing = asyncio.create_task(consumer.close(grace=0.05))
    await _until_closing(consumer)
    driver.unblock.set()  # the claim finds nothing, but the consumer is closing
    await asyncio.wait_for(closing, 10)
    with pytest.raises(Closed):
        await asyncio.wait_for(waiting, 10)
    await service.close()


@async_test
async def test_the_consumer_is_an_async_context_manager() -> None:
    driver = ScriptedDriver([make_job()])
    service = QueueService(driver)
    handled: list[str] = []

    async def handler(job: Job) -> None:
        handled.append(job.id)

    async with service, await service.subscribe("t", handler) as consumer:
        await consumer.wait_idle()
    assert consumer.closed
    assert len(handled) == 1
    assert driver.count("close") == 1


@async_test
async def test_a_second_close_with_abandon_cuts_the_grace_short() -> None:
    """The worker command's second signal: a close already waiting out a
    long grace releases the running async job at once."""
    job = make_job()
    driver = ScriptedDriver([job])
    service = QueueService(driver)
    entered = asyncio.Event()

    async def handler(job: Job) -> None:
        entered.set()
        await asyncio.Event().wait()

    consumer = await service.subscribe("t", handler)
    await entered.wait()
    first = asyncio.ensure_future(consumer.close(grace=60))
    await _until_closing(consumer)
    await asyncio.wait_for(consumer.close(grace=0, abandon=True), 5)
    assert first.done()
    assert [call.args[1] for call in driver.of("release")] == [job.id]
    await service.close()
