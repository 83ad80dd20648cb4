"""Backend failures seen by the runtime (contract point 14): a consumer
survives BackendUnavailable with capped backoff and never crashes."""

from __future__ import annotations

import asyncio
import logging

import pytest

from queue_core import (
    BackendUnavailable,
    Job,
    Outcome,
    QueueOptions,
    QueueService,
    RetryPolicy,
    SubscribeOptions,
)
from tests.fakes import (
    FailingClaimDriver,
    FlakyAckDriver,
    RecordingHooks,
    ScriptedDriver,
    async_test,
    log_messages,
    make_job,
)

STEADY = RetryPolicy(initial_delay=0.02, multiplier=2.0, max_delay=0.08, jitter=0.0)


@async_test
async def test_claim_failures_back_off_exponentially_then_the_consumer_resumes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = make_job()
    driver = FailingClaimDriver([job], failures=5)
    service = QueueService(driver, QueueOptions(backend_retry=STEADY))
    handled = asyncio.Event()

    async def handler(job: Job) -> None:
        handled.set()

    consumer = await service.subscribe("t", handler)
    await asyncio.wait_for(handled.wait(), 10)
    assert driver.count("claim_failed") == 5
    gaps = [b - a for a, b in zip(driver.loop_times, driver.loop_times[1:], strict=False)][:5]
    # waits of 0.02, 0.04, 0.08, 0.08, 0.08 s: exponential, capped (asyncio
    # never wakes early, allow for its clock resolution)
    for gap, wanted in zip(gaps, [0.02, 0.04, 0.08, 0.08, 0.08], strict=True):
        assert gap >= wanted - 0.002, gaps
    warnings = [m for m in log_messages(caplog.records) if "claim from 't' failed" in m]
    assert len(warnings) == 5
    await consumer.wait_idle()
    assert consumer.statistics().acked == 1
    await service.close()


@async_test
async def test_an_unexpected_claim_error_is_logged_with_its_traceback_and_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    driver = FailingClaimDriver([make_job()], failures=1, error=KeyError)
    service = QueueService(driver, QueueOptions(backend_retry=STEADY))
    handled = asyncio.Event()

    async def handler(job: Job) -> None:
        handled.set()

    await service.subscribe("t", handler)
    await asyncio.wait_for(handled.wait(), 10)
    errors = [r for r in caplog.records if r.name == "queue_core" and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    await service.close()


@async_test
async def test_an_ack_that_fails_is_retried_until_it_succeeds() -> None:
    job = make_job()
    driver = FlakyAckDriver([job], failures=3)
    hooks = RecordingHooks()
    service = QueueService(driver, QueueOptions(backend_retry=STEADY), hooks=[hooks])

    async def handler(job: Job) -> None:
        pass

    consumer = await service.subscribe("t", handler)
    await consumer.wait_idle()
    lease = [(job.id, job.lease_token)]
    assert [c.args[1] for c in driver.of("ack_many_failed")] == [lease] * 3
    assert [c.args[1] for c in driver.of("ack_many")] == [lease]
    assert consumer.statistics().acked == 1
    assert [e.outcome for e in hooks.of("after_job")] == [Outcome.ACKED]
    await service.close()


class OutageDriver(FlakyAckDriver):
    """Acks fail, and so do renewals (a real outage hits both)."""

    async def extend(self, topic: str, job_id: str, token: str, lease: float) -> float:
        if self.failures:
            raise BackendUnavailable("extend: connection refused (fake)")
        return await super().extend(topic, job_id, token, lease)


@async_test
async def test_settling_gives_up_before_the_lease_would_expire(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An ack the backend never takes is abandoned (the job comes back after
    its lease) instead of being retried forever or crashing the consumer."""
    job, later = make_job(), make_job()
    driver = OutageDriver([job], failures=1_000_000)
    hooks = RecordingHooks()
    service = QueueService(driver, QueueOptions(backend_retry=STEADY), hooks=[hooks])

    async def handler(job: Job) -> None:
        pass

    consumer = await service.subscribe("t", handler, SubscribeOptions(lease=0.3))
    await hooks.finished(1)
    # no answer from the backend: the runtime cannot know whether the ack applied
    assert [e.outcome for e in hooks.of("after_job")] == [Outcome.UNKNOWN]
    messages = log_messages(caplog.records)
    assert any("gave up settling" in m and "outcome is unknown" in m for m in messages)
    assert len(hooks.of("on_settle_unknown")) == 1
    assert consumer.statistics().unknown == 1
    assert 1 < driver.count("ack_many_failed") < 20
    driver.failures = 0
    driver.feed(later)
    await consumer.wait_idle()
    assert consumer.statistics().acked == 1  # the consumer carried on
    await service.close()


@async_test
async def test_a_retry_call_that_fails_is_retried_too() -> None:
    job = make_job()

    class FlakyRetryDriver(ScriptedDriver):
        failures = 2

        async def retry(
            self, topic: str, job_id: str, token: str, *, delay: float, error: str | None
        ) -> None:
            if self.failures:
                self.failures -= 1
                raise BackendUnavailable("retry: timeout (fake)")
            await super().retry(topic, job_id, token, delay=delay, error=error)

    driver = FlakyRetryDriver([job])
    service = QueueService(driver, QueueOptions(backend_retry=STEADY))

    async def handler(job: Job) -> None:
        raise ValueError("boom")

    consumer = await service.subscribe("t", handler)
    await consumer.wait_idle()
    assert driver.count("retry") == 1
    assert consumer.statistics().retried == 1
    await service.close()


@async_test
async def test_a_failing_wait_does_not_stop_the_consumer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BrokenWaitDriver(ScriptedDriver):
        async def wait(self, topic: str, timeout: float) -> None:
            self.record("wait")
            raise BackendUnavailable("wait: connection refused (fake)")

    driver = BrokenWaitDriver()
    service = QueueService(driver)
    handled = asyncio.Event()

    async def handler(job: Job) -> None:
        handled.set()

    await service.subscribe("t", handler, SubscribeOptions(poll_interval=0.05))
    await driver.called("wait")
    driver.feed(make_job())
    await asyncio.wait_for(handled.wait(), 10)
    assert any("waiting on 't' failed" in m for m in log_messages(caplog.records))
    await service.close()


@async_test
async def test_a_handler_that_raises_cancelled_error_does_not_kill_its_worker() -> None:
    """A handler may raise CancelledError without being cancelled (it awaited
    a future someone else cancelled). That is a failed attempt; the worker
    must survive it, or the consumer silently stalls."""
    first, second = make_job("first"), make_job("second")
    driver = ScriptedDriver([first, second])
    service = QueueService(driver)
    handled: list[str] = []

    async def handler(job: Job) -> None:
        handled.append(job.id)
        if job.id == "first":
            raise asyncio.CancelledError

    consumer = await service.subscribe("t", handler, SubscribeOptions(concurrency=1))
    await asyncio.wait_for(consumer.wait_idle(), 10)
    assert handled == ["first", "second"]
    assert driver.of("retry")[0].kwargs["error"] == "CancelledError"
    assert driver.count("ack_many") == 1
    await service.close()


@async_test
async def test_every_job_of_a_batched_ack_given_up_is_counted_and_reported() -> None:
    jobs = [make_job() for _ in range(3)]
    driver = OutageDriver(jobs, failures=1_000_000)
    hooks = RecordingHooks()
    service = QueueService(driver, QueueOptions(backend_retry=STEADY), hooks=[hooks])
    started = 0
    all_started = asyncio.Event()

    async def handler(job: Job) -> None:
        nonlocal started
        started += 1
        if started == len(jobs):
            all_started.set()
        await all_started.wait()  # all three finish together: one batched ack

    consumer = await service.subscribe("t", handler, SubscribeOptions(concurrency=3, lease=0.3))
    await hooks.finished(3)
    assert [e.outcome for e in hooks.of("after_job")] == [Outcome.UNKNOWN] * 3
    assert sorted(e.job_id for e in hooks.of("on_settle_unknown")) == sorted(j.id for j in jobs)
    assert consumer.statistics().unknown == 3
    await service.close()
