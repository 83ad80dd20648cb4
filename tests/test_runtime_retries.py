"""Retries, backoff, handler signals, poison jobs and dead-lettering in the
runtime (contract points 8 and 9)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from queue_core import (
    DeadLetter,
    Handler,
    InvalidArgument,
    Job,
    Outcome,
    QueueConsumer,
    QueueOptions,
    QueueService,
    Retry,
    RetryPolicy,
    SubscribeOptions,
)
from tests.fakes import RecordingHooks, ScriptedDriver, async_test, make_job

# -- the policy itself -------------------------------------------------------


def test_backoff_is_exponential_then_capped() -> None:
    policy = RetryPolicy(initial_delay=1.0, multiplier=2.0, max_delay=10.0, jitter=0.0)
    assert [policy.bounds(n)[1] for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert [policy.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_jitter_only_shortens_the_delay_by_at_most_its_fraction() -> None:
    policy = RetryPolicy(initial_delay=1.0, multiplier=3.0, max_delay=60.0, jitter=0.25)
    rng = random.Random(7)
    for attempt in range(1, 12):
        low, high = policy.bounds(attempt)
        assert high == min(60.0, 3.0 ** (attempt - 1))
        assert low == pytest.approx(high * 0.75)
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(low <= d <= high for d in delays)
        assert max(delays) - min(delays) > 0  # jitter really varies


def test_huge_attempt_numbers_do_not_overflow() -> None:
    policy = RetryPolicy(initial_delay=1.0, multiplier=10.0, max_delay=30.0, jitter=0.0)
    assert policy.bounds(10_000) == (30.0, 30.0)
    assert policy.bounds(0) == (1.0, 1.0)  # attempt 0 behaves like attempt 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_delay": -1.0},
        {"initial_delay": float("nan")},
        {"max_delay": float("inf")},
        {"multiplier": 0.5},
        {"multiplier": True},
        {"jitter": 1.5},
        {"jitter": -0.1},
        {"initial_delay": 10.0, "max_delay": 1.0},
    ],
)
def test_bad_retry_policies_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidArgument):
        RetryPolicy(**kwargs)


# -- the runtime applying it -------------------------------------------------

FAST = RetryPolicy(initial_delay=1.0, multiplier=2.0, max_delay=5.0, jitter=0.5)


@dataclass
class Run:
    driver: ScriptedDriver
    hooks: RecordingHooks
    service: QueueService
    consumer: QueueConsumer


async def _run(
    jobs: list[Job],
    handler: Handler,
    *,
    queue: QueueOptions | None = None,
    options: SubscribeOptions | None = None,
) -> Run:
    """Serve ``jobs`` to ``handler`` until the consumer is idle."""
    driver = ScriptedDriver(jobs)
    hooks = RecordingHooks()
    service = QueueService(driver, queue, hooks=[hooks])
    consumer = await service.subscribe("t", handler, options or SubscribeOptions(concurrency=1))
    await consumer.wait_idle()
    return Run(driver, hooks, service, consumer)


@async_test
async def test_a_failing_handler_is_retried_with_a_delay_within_the_policy_bounds() -> None:
    jobs = [make_job(attempt=n, max_attempts=10) for n in range(1, 9)]

    async def handler(job: Job) -> None:
        raise ValueError(f"boom {job.attempt}")

    run = await _run(jobs, handler, queue=QueueOptions(retry=FAST))
    retries = run.driver.of("retry")
    assert [call.args[1] for call in retries] == [job.id for job in jobs]
    for job, call in zip(jobs, retries, strict=True):
        low, high = FAST.bounds(job.attempt)
        assert low <= call.kwargs["delay"] <= high
        assert call.args[2] == job.lease_token
        assert call.kwargs["error"] == f"ValueError: boom {job.attempt}"
    assert run.driver.of("dead_letter") == []
    assert run.driver.of("ack_many") == []
    assert [e.delay for e in run.hooks.of("on_retry")] == [c.kwargs["delay"] for c in retries]
    assert [e.outcome for e in run.hooks.of("after_job")] == [Outcome.RETRIED] * len(jobs)
    await run.service.close()


@async_test
async def test_the_subscription_retry_policy_overrides_the_queue_policy() -> None:
    slow = RetryPolicy(initial_delay=100.0, max_delay=100.0, jitter=0.0)
    quick = RetryPolicy(initial_delay=0.5, max_delay=0.5, jitter=0.0)

    async def handler(job: Job) -> None:
        raise ValueError("boom")

    run = await _run(
        [make_job()],
        handler,
        queue=QueueOptions(retry=slow),
        options=SubscribeOptions(concurrency=1, retry=quick),
    )
    assert run.driver.of("retry")[0].kwargs["delay"] == 0.5
    await run.service.close()


@async_test
async def test_handler_retry_signal_uses_the_requested_delay() -> None:
    job = make_job(attempt=2, max_attempts=5)

    async def handler(job: Job) -> None:
        raise Retry(7.5, reason="rate limited")

    run = await _run([job], handler, queue=QueueOptions(retry=FAST))
    (call,) = run.driver.of("retry")
    assert call.kwargs == {"delay": 7.5, "error": "Retry: rate limited"}
    assert isinstance(run.hooks.of("on_retry")[0].error, Retry)
    await run.service.close()


@async_test
async def test_a_retry_signal_on_the_last_attempt_dead_letters() -> None:
    job = make_job(attempt=3, max_attempts=3)

    async def handler(job: Job) -> None:
        raise Retry(1.0)

    run = await _run([job], handler)
    assert run.driver.of("retry") == []
    (call,) = run.driver.of("dead_letter")
    assert call.args[1:] == (job.id, job.lease_token)
    await run.service.close()


@async_test
async def test_handler_dead_letter_signal_dead_letters_at_once() -> None:
    job = make_job(attempt=1, max_attempts=5)

    async def handler(job: Job) -> None:
        raise DeadLetter("payload is not JSON")

    run = await _run([job], handler, options=SubscribeOptions(concurrency=1, on_exhausted="drop"))
    assert run.driver.of("retry") == []
    (call,) = run.driver.of("dead_letter")
    assert call.kwargs == {"error": "DeadLetter: payload is not JSON"}
    assert [e.outcome for e in run.hooks.of("after_job")] == [Outcome.DEAD_LETTERED]
    assert len(run.hooks.of("on_dead_letter")) == 1
    await run.service.close()


@async_test
async def test_a_poison_job_out_of_attempts_is_dead_lettered_with_its_error() -> None:
    job = make_job(attempt=4, max_attempts=4)

    async def handler(job: Job) -> None:
        raise KeyError("missing field")

    run = await _run([job], handler)
    assert run.driver.of("retry") == []
    (call,) = run.driver.of("dead_letter")
    assert call.args == ("t", job.id, job.lease_token)
    assert call.kwargs == {"error": "KeyError: 'missing field'"}
    assert [e.hook for e in run.hooks.events] == ["before_job", "on_dead_letter", "after_job"]
    assert isinstance(run.hooks.of("after_job")[0].error, KeyError)
    stats = run.consumer.statistics()
    assert (stats.dead_lettered, stats.retried, stats.acked) == (1, 0, 0)
    await run.service.close()


@async_test
async def test_on_exhausted_drop_acks_instead_of_dead_lettering() -> None:
    job = make_job(attempt=2, max_attempts=2)

    async def handler(job: Job) -> None:
        raise RuntimeError("still broken")

    run = await _run([job], handler, options=SubscribeOptions(concurrency=1, on_exhausted="drop"))
    assert run.driver.of("dead_letter") == []
    assert run.driver.of("ack_many")[0].args == ("t", [(job.id, job.lease_token)])
    assert [e.outcome for e in run.hooks.of("after_job")] == [Outcome.DROPPED]
    stats = run.consumer.statistics()
    assert (stats.dropped, stats.dead_lettered) == (1, 0)
    await run.service.close()


@async_test
async def test_long_error_text_is_truncated_but_recorded() -> None:
    job = make_job(attempt=1, max_attempts=1)

    async def handler(job: Job) -> None:
        raise ValueError("x" * 100_000)

    run = await _run([job], handler)
    error = run.driver.of("dead_letter")[0].kwargs["error"]
    assert error.startswith("ValueError: xxx")
    assert 100 < len(error) <= 4096
    await run.service.close()


@async_test
async def test_an_exception_without_a_message_is_recorded_by_its_type() -> None:
    async def handler(job: Job) -> None:
        raise TimeoutError

    run = await _run([make_job()], handler)
    assert run.driver.of("retry")[0].kwargs["error"] == "TimeoutError"
    await run.service.close()


@async_test
async def test_a_returning_handler_acks() -> None:
    jobs = [make_job() for _ in range(5)]
    seen: list[bytes] = []

    async def handler(job: Job) -> None:
        seen.append(job.payload)

    run = await _run(jobs, handler)
    acked = [lease for call in run.driver.of("ack_many") for lease in call.args[1]]
    assert acked == [(job.id, job.lease_token) for job in jobs]
    assert [e.outcome for e in run.hooks.of("after_job")] == [Outcome.ACKED] * 5
    await run.service.close()
