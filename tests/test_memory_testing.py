"""queue_memory's helpers for application tests: run_until_idle with a
FakeClock, and the MemoryDriver inspection helpers; plus the whole service
end to end on the reference driver."""

from __future__ import annotations

import pytest

from queue_core import (
    DeadLetter,
    EnqueueOptions,
    FakeClock,
    Job,
    JobState,
    QueueOptions,
    QueueService,
    RetryPolicy,
    SubscribeOptions,
)
from queue_memory import MemoryDriver, run_until_idle
from tests.fakes import T0, async_test


def _service(**options: object) -> tuple[QueueService, MemoryDriver, FakeClock]:
    clock = FakeClock(T0)
    driver = MemoryDriver(clock=clock)
    return QueueService(driver, QueueOptions(**options)), driver, clock  # type: ignore[arg-type]


@async_test
async def test_run_until_idle_moves_the_fake_clock_through_delays_and_backoff() -> None:
    policy = RetryPolicy(initial_delay=10.0, multiplier=2.0, max_delay=100.0, jitter=0.0)
    service, driver, clock = _service(retry=policy)
    await service.enqueue("t", b"now")
    await service.enqueue("t", b"in an hour", EnqueueOptions(delay=3600.0))
    await service.enqueue("t", b"flaky")
    runs: dict[bytes, list[float]] = {}

    async def handler(job: Job) -> None:
        runs.setdefault(job.payload, []).append(clock.now() - T0)
        if job.payload == b"flaky" and job.attempt < 3:
            raise ConnectionError("downstream is down")

    report = await run_until_idle(service, "t", handler)
    assert runs == {b"now": [0.0], b"flaky": [0.0, 10.0, 30.0], b"in an hour": [3600.0]}
    assert sorted(job.payload for job in report.acked) == [b"flaky", b"in an hour", b"now"]
    assert [job.attempt for job in report.retried] == [1, 2]
    assert report.dead_lettered == []
    assert all(isinstance(e, ConnectionError) for e in report.errors)
    assert (await service.counts("t")).total == 0
    await service.close()


@async_test
async def test_run_until_idle_dead_letters_poison_jobs_and_raise_errors_reraises() -> None:
    service, driver, _ = _service(max_attempts=3)
    job_id = await service.enqueue("t", b"poison")

    async def handler(job: Job) -> None:
        raise ValueError(f"cannot parse attempt {job.attempt}")

    with pytest.raises(ValueError, match="cannot parse attempt 1"):
        await run_until_idle(service, "t", handler, raise_errors=True)
    # the jobs were still retried and dead-lettered as usual
    (dead,) = driver.dead_letters("t")
    assert (dead.id, dead.attempt, dead.topic) == (job_id, 3, "t:dead")
    assert dead.last_error == "ValueError: cannot parse attempt 3"
    assert driver.jobs("t") == []
    assert (await service.counts("t")).dead == 1
    await service.close()


@async_test
async def test_run_until_idle_without_advancing_the_clock_leaves_delayed_jobs() -> None:
    service, driver, _ = _service()
    await service.enqueue("t", b"later", EnqueueOptions(delay=5.0))
    handled: list[bytes] = []

    async def handler(job: Job) -> None:
        handled.append(job.payload)

    report = await run_until_idle(service, "t", handler, advance_clock=False)
    assert (handled, report.acked) == ([], [])
    assert [job.state for job in driver.jobs("t")] == [JobState.SCHEDULED]
    assert driver.next_due("t") == T0 + 5.0
    await service.close()


@async_test
async def test_run_until_idle_gives_up_after_max_rounds() -> None:
    service, _, _ = _service(max_attempts=100)
    await service.enqueue("t", b"forever")

    async def handler(job: Job) -> None:
        raise ValueError("again")

    with pytest.raises(RuntimeError, match="did not become idle"):
        await run_until_idle(service, "t", handler, max_rounds=3)
    await service.close()


@async_test
async def test_priority_order_end_to_end() -> None:
    service, _, _ = _service()
    priorities = [0, 5, -3, 5, 100, 0, -3, 2**31 - 1, -(2**31)]
    ids = [
        await service.enqueue("t", str(i).encode(), EnqueueOptions(priority=p))
        for i, p in enumerate(priorities)
    ]
    order: list[str] = []

    async def handler(job: Job) -> None:
        order.append(job.id)

    await run_until_idle(service, "t", handler, options=SubscribeOptions(concurrency=1))
    expected = sorted(range(len(ids)), key=lambda i: (-priorities[i], i))
    assert order == [ids[i] for i in expected]
    await service.close()


@async_test
async def test_memory_driver_helpers_show_every_state() -> None:
    service, driver, _ = _service()
    await service.enqueue("t", b"low", EnqueueOptions(job_id="low", priority=1))
    await service.enqueue("t", b"high", EnqueueOptions(job_id="high", priority=9))
    await service.enqueue("t", b"later", EnqueueOptions(job_id="later", delay=60.0))
    (held,) = await driver.claim("t", max_jobs=1, lease=30.0)
    assert held.id == "high"
    await service.enqueue("t", b"top", EnqueueOptions(job_id="top", priority=99))
    states = [(job.id, job.state) for job in driver.jobs("t")]
    assert states == [
        ("top", JobState.READY),
        ("low", JobState.READY),
        ("later", JobState.SCHEDULED),
        ("high", JobState.IN_FLIGHT),
    ]
    assert driver.dead_letters("t") == []
    assert driver.jobs("never-used") == []
    assert driver.next_due("t") == T0 + 30.0  # the lease deadline comes before the delay
    await service.close()


@async_test
async def test_dead_letters_can_be_listed_redriven_and_purged() -> None:
    service, driver, _ = _service()
    for n in range(3):
        await service.enqueue("t", b"bad", EnqueueOptions(job_id=f"bad-{n}"))

    async def reject(job: Job) -> None:
        raise DeadLetter("schema mismatch")

    await run_until_idle(service, "t", reject)
    dead = await service.list_dead("t")
    assert [job.id for job in dead] == ["bad-0", "bad-1", "bad-2"]
    assert {job.last_error for job in dead} == {"DeadLetter: schema mismatch"}
    assert await service.redrive("t", ["bad-1"]) == 1
    assert await service.purge_dead("t", ["bad-2"]) == 1
    redriven = await service.get("t", "bad-1")
    assert redriven is not None
    assert (redriven.attempt, redriven.state) == (0, JobState.READY)
    assert redriven.last_error == "DeadLetter: schema mismatch"
    assert [job.id for job in driver.dead_letters("t")] == ["bad-0"]

    seen: list[str] = []

    async def record(job: Job) -> None:
        seen.append(job.id)

    await run_until_idle(service, "t:dead", record)  # dead letters are a topic too
    assert seen == ["bad-0"]
    assert (await service.counts("t")).dead == 0
    await service.close()
