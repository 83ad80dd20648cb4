"""What the runtime does when a handler does not end the usual way: a
BaseException, a time limit, a cancel request; and what it reports."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

import pytest

from queue_core import (
    Job,
    JobCancelled,
    Outcome,
    QueueService,
    SubscribeOptions,
    TimeLimitExceeded,
)
from tests.fakes import (
    CancellingDriver,
    RecordingHooks,
    ScriptedDriver,
    SlowAckDriver,
    async_test,
    log_messages,
    make_job,
)


class Fatal(BaseException):
    """Not an Exception: a test framework's failure type, say."""


@pytest.mark.parametrize("error", [GeneratorExit, Fatal])
@async_test
async def test_a_base_exception_fails_the_job_and_the_consumer_keeps_running(
    error: type[BaseException], caplog: pytest.LogCaptureFixture
) -> None:
    first, second = make_job("first"), make_job("second")
    driver = ScriptedDriver([first, second])
    service = QueueService(driver)

    async def handler(job: Job) -> None:
        if job.id == "first":
            raise error("boom")

    consumer = await service.subscribe("t", handler, SubscribeOptions(concurrency=1))
    await consumer.wait_idle()
    (retry,) = driver.of("retry")
    assert retry.args[:2] == ("t", "first")
    assert retry.kwargs["error"].startswith(error.__name__)
    assert [lease for call in driver.of("ack_many") for lease in call.args[1]] == [
        ("second", second.lease_token)
    ]
    assert any(error.__name__ in m for m in log_messages(caplog.records, logging.ERROR))
    assert consumer.statistics().running == 0
    await service.close()


@async_test
async def test_a_sync_handler_raising_a_base_exception_fails_the_job() -> None:
    driver = ScriptedDriver([make_job("one"), make_job("two")])
    service = QueueService(driver)

    def handler(job: Job) -> None:
        if job.id == "one":
            raise Fatal("boom")

    consumer = await service.subscribe("t", handler, SubscribeOptions(concurrency=1))
    await consumer.wait_idle()
    assert [call.args[1] for call in driver.of("retry")] == ["one"]
    assert consumer.statistics().acked == 1
    await service.close()


@async_test
async def test_statistics_count_jobs_waiting_for_their_ack_apart() -> None:
    jobs = [make_job() for _ in range(4)]
    driver = SlowAckDriver(jobs)
    service = QueueService(driver)

    async def handler(job: Job) -> None:
        pass

    consumer = await service.subscribe("t", handler, SubscribeOptions(concurrency=2))
    for _ in range(500):  # all four handlers return; their acks hang
        if consumer.statistics().settling == 4:
            break
        await asyncio.sleep(0.01)
    stats = consumer.statistics()
    assert stats.running == 0, "finished handlers counted as running"
    assert stats.settling == 4
    driver.proceed.set()
    await consumer.wait_idle()
    assert (consumer.statistics().acked, consumer.statistics().settling) == (4, 0)
    await service.close()


@async_test
async def test_a_hanging_async_handler_fails_with_time_limit_exceeded() -> None:
    job = make_job()
    driver = ScriptedDriver([job])
    hooks = RecordingHooks()
    service = QueueService(driver, hooks=[hooks])

    async def handler(job: Job) -> None:
        await asyncio.Event().wait()

    options = SubscribeOptions(time_limit=0.2, lease=0.3)
    consumer = await service.subscribe("t", handler, options)
    await hooks.finished(1)
    (retry,) = driver.of("retry")
    assert "time limit" in retry.kwargs["error"]
    assert retry.kwargs["error"].startswith("TimeLimitExceeded")
    (event,) = hooks.of("after_job")
    assert event.outcome is Outcome.RETRIED
    assert isinstance(event.error, TimeLimitExceeded)
    assert consumer.statistics().timed_out == 1
    await service.close()


@async_test
async def test_a_sleeping_sync_handler_is_abandoned_at_its_time_limit() -> None:
    job, later = make_job("slow"), make_job("later")
    driver = ScriptedDriver([job, later])
    hooks = RecordingHooks()
    service = QueueService(driver, hooks=[hooks])
    stop = threading.Event()

    def handler(job: Job) -> None:
        if job.id == "slow":
            stop.wait(10)

    await service.subscribe(
        "t", handler, SubscribeOptions(time_limit=0.2, lease=0.3, concurrency=1)
    )
    await hooks.finished(2)
    assert [call.args[1] for call in driver.of("retry")] == ["slow"]
    assert "time limit" in driver.of("retry")[0].kwargs["error"]
    # the next job did not wait for the abandoned thread
    assert [lease[0] for call in driver.of("ack_many") for lease in call.args[1]] == ["later"]
    stop.set()
    await service.close()


@async_test
async def test_the_lease_is_never_renewed_past_the_time_limit() -> None:
    driver = ScriptedDriver([make_job()])
    service = QueueService(driver)
    release = threading.Event()

    def handler(job: Job) -> None:
        release.wait(10)

    consumer = await service.subscribe(
        "t", handler, SubscribeOptions(time_limit=0.35, lease=0.3, concurrency=1)
    )
    await driver.called("retry")
    renewals = [call.at for call in driver.of("extend")]
    started = driver.of("claim")[0].at
    assert all(at - started < 0.35 + 0.05 for at in renewals), renewals
    await asyncio.sleep(0.4)
    assert len(driver.of("extend")) == len(renewals), "renewed after the limit"
    release.set()
    await consumer.close()
    await service.close()


@async_test
async def test_a_cancel_request_cancels_an_async_handler_at_its_next_await() -> None:
    job = make_job("victim")
    driver = CancellingDriver([job])
    hooks = RecordingHooks()
    service = QueueService(driver, hooks=[hooks])
    entered = asyncio.Event()

    async def handler(job: Job) -> None:
        entered.set()
        await asyncio.sleep(30)

    consumer = await service.subscribe("t", handler, SubscribeOptions(cancel_poll_interval=0.02))
    await entered.wait()
    driver.requests.add("victim")
    await hooks.finished(1)
    assert [e.outcome for e in hooks.of("after_job")] == [Outcome.CANCELLED]
    assert driver.of("retry") == []
    assert driver.of("dead_letter") == []
    (ack,) = driver.of("ack_many")
    assert ack.args[1] == [("victim", job.lease_token)]
    assert consumer.statistics().cancelled == 1
    await consumer.wait_idle()  # the consumer carries on
    await service.close()


@pytest.mark.parametrize("how", ["returns", "raises"])
@async_test
async def test_a_sync_handler_sees_the_cancel_request_on_its_job(how: str) -> None:
    driver = CancellingDriver([make_job("long")])
    hooks = RecordingHooks()
    service = QueueService(driver, hooks=[hooks])
    started = threading.Event()

    def handler(job: Job) -> None:
        started.set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if how == "raises":
                job.raise_if_cancelled()
            elif job.cancel_requested:
                return
            time.sleep(0.01)

    await service.subscribe("t", handler, SubscribeOptions(cancel_poll_interval=0.02))
    await asyncio.to_thread(started.wait, 10)
    driver.requests.add("long")
    await hooks.finished(1)
    assert [e.outcome for e in hooks.of("after_job")] == [Outcome.CANCELLED]
    assert driver.of("retry") == []
    await service.close()


@async_test
async def test_job_cancelled_raised_by_a_handler_ends_the_job_as_cancelled() -> None:
    driver = ScriptedDriver([make_job("self")])
    hooks = RecordingHooks()
    service = QueueService(driver, hooks=[hooks])

    async def handler(job: Job) -> None:
        raise JobCancelled("not needed any more")

    await service.subscribe("t", handler)
    await hooks.finished(1)
    assert [e.outcome for e in hooks.of("after_job")] == [Outcome.CANCELLED]
    assert driver.of("retry") == []
    assert driver.of("dead_letter") == []
    assert len(driver.of("ack_many")) == 1
    await service.close()


@async_test
async def test_a_handler_swallowing_a_cancel_request_leaves_the_worker_usable() -> None:
    """The runtime's own cancellations are undone whatever the handler does
    with them, so a later time limit is not mistaken for close()."""
    jobs = [make_job("swallows"), make_job("hangs"), make_job("returns")]
    driver = CancellingDriver(jobs)
    hooks = RecordingHooks()
    service = QueueService(driver, hooks=[hooks])
    entered = asyncio.Event()

    async def handler(job: Job) -> None:
        if job.id == "swallows":  # swallows its cancel request, then returns
            entered.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
        elif job.id == "hangs":  # runs into its time limit
            await asyncio.Event().wait()

    options = SubscribeOptions(concurrency=1, time_limit=1.0, cancel_poll_interval=0.02)
    consumer = await service.subscribe("t", handler, options)
    await entered.wait()
    driver.requests.add("swallows")
    await asyncio.wait_for(hooks.finished(3), 10)
    assert [(e.job_id, e.outcome) for e in hooks.of("after_job")] == [
        ("swallows", Outcome.CANCELLED),
        ("hangs", Outcome.RETRIED),
        ("returns", Outcome.ACKED),
    ]
    assert consumer.statistics().timed_out == 1
    await service.close()
