"""Edge cases of the runtime: settling against a half-broken backend, a
closed driver, handlers that return awaitables."""

from __future__ import annotations

import asyncio

import pytest

from queue_core import (
    Closed,
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
    async_test,
    make_job,
)


@async_test
async def test_acks_failing_while_renewals_succeed_give_up_by_the_first_deadline() -> None:
    # the lease keeper keeps extending the job; the ack retries must still
    # stop at the deadline the lease had when the first ack failed
    driver = FlakyAckDriver([make_job("j")], failures=10_000)
    hooks = RecordingHooks()
    fast = RetryPolicy(initial_delay=0.02, max_delay=0.05, jitter=0.0)
    service = QueueService(driver, QueueOptions(backend_retry=fast), hooks=[hooks])

    async def handler(job: Job) -> None:
        return None

    await service.subscribe("t", handler, SubscribeOptions(lease=0.6))
    await hooks.finished(1)  # without a fixed give-up point this never comes
    assert hooks.of("after_job")[0].outcome is Outcome.UNKNOWN  # no answer from the backend
    assert driver.count("extend") >= 1, "the keeper should have renewed meanwhile"
    # retries 0.02, 0.04, then 0.05 s apart fit at most ~14 into the 0.6 s lease
    assert driver.count("ack_many_failed") <= 14, "ack retries outlived the job's lease"
    await service.close()


@async_test
async def test_a_sync_callable_returning_a_coroutine_runs_it() -> None:
    driver = FlakyAckDriver([make_job("j")], failures=0)
    service = QueueService(driver)
    ran = asyncio.Event()

    async def real(job: Job) -> None:
        ran.set()

    await service.subscribe("t", lambda job: real(job))
    await asyncio.wait_for(ran.wait(), 5)
    await driver.called("ack_many")
    await service.close()


@async_test
async def test_a_driver_closed_underneath_stops_the_consumer_and_fails_idle_waits() -> None:
    driver = FailingClaimDriver([], failures=1, error=Closed)
    service = QueueService(driver)

    async def handler(job: Job) -> None:
        return None

    consumer = await service.subscribe("t", handler)
    await driver.called("claim_failed")
    with pytest.raises(Closed):
        await consumer.wait_idle()
    assert consumer.closed
    await service.close()
