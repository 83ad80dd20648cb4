"""Concurrent single enqueues travel together without changing results."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from queue_core import BackendUnavailable, EnqueueOptions, NewJob, QueueService
from tests.fakes import ScriptedDriver, async_test


class GatedDriver(ScriptedDriver):
    """enqueue blocks until the test opens the gate; it can fail once."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.fail_next = False

    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        self.record("enqueue", topic, list(jobs))
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise BackendUnavailable("down")
        seen: set[str] = set()
        created = []
        for job in jobs:
            created.append(job.id not in seen)
            seen.add(job.id)
        return created


@async_test
async def test_a_lone_enqueue_goes_straight_to_the_driver() -> None:
    driver = GatedDriver()
    driver.gate.set()
    service = QueueService(driver)
    job_id = await service.enqueue("t", b"x")
    (call,) = driver.of("enqueue")
    assert [job.id for job in call.args[1]] == [job_id]


@async_test
async def test_enqueues_during_an_inflight_call_share_the_next_call() -> None:
    driver = GatedDriver()
    service = QueueService(driver)
    first = asyncio.ensure_future(service.enqueue("t", b"first"))
    await driver.called("enqueue")
    rest = [asyncio.ensure_future(service.enqueue("t", bytes([i]))) for i in range(5)]
    other = asyncio.ensure_future(service.enqueue("u", b"other topic"))
    await driver.called("enqueue", 2)  # topic u is not held up by topic t
    driver.gate.set()
    ids = await asyncio.gather(first, *rest, other)
    assert len(set(ids)) == 7
    batches = [[job.id for job in call.args[1]] for call in driver.of("enqueue")]
    assert sorted(map(len, batches)) == [1, 1, 5]
    t_batches = [b for b, c in zip(batches, driver.of("enqueue"), strict=True) if c.args[0] == "t"]
    assert t_batches == [[ids[0]], ids[1:6]]


@async_test
async def test_each_caller_gets_its_own_result_and_errors_reach_only_their_batch() -> None:
    driver = GatedDriver()
    service = QueueService(driver)
    first = asyncio.ensure_future(service.enqueue("t", b"a", EnqueueOptions(job_id="same")))
    await driver.called("enqueue")
    twins = [
        asyncio.ensure_future(service.enqueue("t", b"b", EnqueueOptions(job_id="same")))
        for _ in range(2)
    ]
    await asyncio.sleep(0)
    driver.fail_next = True  # the first call fails; the batch of twins succeeds
    driver.gate.set()
    with pytest.raises(BackendUnavailable):
        await first
    assert await asyncio.gather(*twins) == ["same", "same"]
