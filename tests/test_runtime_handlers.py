"""Handler kinds (async, sync in threads, callable objects), bounded
concurrency, and hooks."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading

import pytest

from queue_core import Job, Outcome, QueueService, Retry, SubscribeOptions
from tests.fakes import (
    ExpiredDriver,
    RaisingHooks,
    RecordingHooks,
    ScriptedDriver,
    async_test,
    log_messages,
    make_job,
)

# -- sync handlers -----------------------------------------------------------


@async_test
async def test_a_sync_handler_runs_in_a_worker_thread_off_the_loop() -> None:
    jobs = [make_job() for _ in range(4)]
    driver = ScriptedDriver(jobs)
    service = QueueService(driver)
    loop_thread = threading.get_ident()
    threads: list[int] = []

    def handler(job: Job) -> None:
        threads.append(threading.get_ident())

    consumer = await service.subscribe("t", handler, SubscribeOptions(concurrency=2))
    await consumer.wait_idle()
    assert len(threads) == 4
    assert loop_thread not in threads
    assert consumer.statistics().acked == 4
    await service.close()


@async_test
async def test_sync_handlers_run_at_most_concurrency_at_once() -> None:
    concurrency = 3
    jobs = [make_job() for _ in range(12)]
    driver = ScriptedDriver(jobs)
    service = QueueService(driver)
    loop = asyncio.get_running_loop()
    lock = threading.Lock()
    gate = threading.Event()
    running = 0
    most = 0
    all_busy = asyncio.Event()

    def handler(job: Job) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            if running == concurrency:
                loop.call_soon_threadsafe(all_busy.set)
        gate.wait(30)
        with lock:
            running -= 1

    consumer = await service.subscribe("t", handler, SubscribeOptions(concurrency=concurrency))
    await asyncio.wait_for(all_busy.wait(), 10)
    await asyncio.sleep(0.05)  # a chance for a fourth handler to start, if it could
    with lock:
        assert running == concurrency
    assert all(call.kwargs["max_jobs"] <= concurrency for call in driver.of("claim"))
    gate.set()
    await consumer.wait_idle()
    assert most == concurrency
    assert consumer.statistics().acked == 12
    await service.close()


@async_test
async def test_sync_handler_failures_and_signals_work_like_async_ones() -> None:
    failing, retrying = make_job(), make_job()
    driver = ScriptedDriver([failing, retrying])
    service = QueueService(driver)

    def handler(job: Job) -> None:
        if job.id == failing.id:
            raise ValueError("sync boom")
        raise Retry(3.0)

    consumer = await service.subscribe("t", handler, SubscribeOptions(concurrency=1))
    await consumer.wait_idle()
    errors = {call.args[1]: call.kwargs for call in driver.of("retry")}
    assert errors[failing.id]["error"] == "ValueError: sync boom"
    assert errors[retrying.id]["delay"] == 3.0
    await service.close()


@async_test
async def test_async_callables_and_partials_run_on_the_loop() -> None:
    driver = ScriptedDriver([make_job(), make_job()])
    service = QueueService(driver)
    loop_thread = threading.get_ident()
    seen: list[tuple[str, int]] = []

    class Handler:
        async def __call__(self, job: Job) -> None:
            seen.append(("object", threading.get_ident()))

    async def tagged(tag: str, job: Job) -> None:
        seen.append((tag, threading.get_ident()))

    first = await service.subscribe("t", Handler(), SubscribeOptions(concurrency=1))
    await first.wait_idle()
    await first.close()
    driver.feed(make_job())
    second = await service.subscribe(
        "t", functools.partial(tagged, "partial"), SubscribeOptions(concurrency=1)
    )
    await second.wait_idle()
    assert [tag for tag, _ in seen] == ["object", "object", "partial"]
    assert {thread for _, thread in seen} == {loop_thread}
    await service.close()


@async_test
async def test_async_handlers_run_at_most_concurrency_at_once() -> None:
    jobs = [make_job() for _ in range(20)]
    driver = ScriptedDriver(jobs)
    service = QueueService(driver)
    running = most = 0

    async def handler(job: Job) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        for _ in range(5):
            await asyncio.sleep(0)
        running -= 1

    consumer = await service.subscribe("t", handler, SubscribeOptions(concurrency=4))
    await consumer.wait_idle()
    assert most == 4
    assert consumer.statistics().acked == 20
    await service.close()


# -- hooks -------------------------------------------------------------------


@async_test
async def test_hooks_see_every_step_of_every_outcome() -> None:
    ok = make_job("ok")
    retried = make_job("retried", attempt=1, max_attempts=2)
    dead = make_job("dead", attempt=2, max_attempts=2)
    driver = ScriptedDriver([ok, retried, dead])
    hooks = RecordingHooks()
    service = QueueService(driver, hooks=[hooks])
    failure = RuntimeError("boom")

    async def handler(job: Job) -> None:
        if job.id != "ok":
            raise failure

    # no prefetch: the next job is claimed only once the last one settled,
    # so the hooks of consecutive jobs cannot interleave
    options = SubscribeOptions(concurrency=1, prefetch=0)
    consumer = await service.subscribe("t", handler, options)
    await consumer.wait_idle()
    steps = [(e.hook, e.job_id, e.outcome) for e in hooks.events]
    assert steps == [
        ("before_job", "ok", None),
        ("after_job", "ok", Outcome.ACKED),
        ("before_job", "retried", None),
        ("on_retry", "retried", None),
        ("after_job", "retried", Outcome.RETRIED),
        ("before_job", "dead", None),
        ("on_dead_letter", "dead", None),
        ("after_job", "dead", Outcome.DEAD_LETTERED),
    ]
    assert hooks.of("on_retry")[0].error is failure
    assert hooks.of("on_dead_letter")[0].error is failure
    assert hooks.of("after_job")[0].error is None
    await service.close()


@async_test
async def test_the_lease_lost_hook_fires() -> None:
    driver = ExpiredDriver([make_job("held")])
    hooks = RecordingHooks()
    service = QueueService(driver, hooks=[hooks])

    async def handler(job: Job) -> None:
        await driver.called("extend")

    consumer = await service.subscribe("t", handler, SubscribeOptions(lease=0.3))
    await consumer.wait_idle()
    assert [e.job_id for e in hooks.of("on_lease_lost")] == ["held"]
    await service.close()


@async_test
async def test_a_raising_hook_is_logged_and_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    jobs = [make_job("ok"), make_job("failing"), make_job("dead", attempt=5, max_attempts=5)]
    driver = ScriptedDriver(jobs)
    recorder = RecordingHooks()
    service = QueueService(driver, hooks=[RaisingHooks(), recorder])

    async def handler(job: Job) -> None:
        if job.id != "ok":
            raise RuntimeError("handler failed")

    with caplog.at_level(logging.ERROR, logger="queue_core"):
        consumer = await service.subscribe("t", handler, SubscribeOptions(concurrency=1))
        await consumer.wait_idle()
    stats = consumer.statistics()
    assert (stats.acked, stats.retried, stats.dead_lettered) == (1, 1, 1)
    assert len(recorder.events) == 8  # the hook after the broken one still ran
    broken = [m for m in log_messages(caplog.records, logging.ERROR) if "hook" in m]
    assert len(broken) == 11  # the 8 recorded calls, and on_claimed once per claim
    assert all("RaisingHooks" in m for m in broken)
    await service.close()


@async_test
async def test_hooks_can_be_added_and_removed_while_consumers_run() -> None:
    driver = ScriptedDriver([make_job("one")])
    service = QueueService(driver)
    hooks = RecordingHooks()
    handled = asyncio.Event()

    async def handler(job: Job) -> None:
        handled.set()

    consumer = await service.subscribe("t", handler)
    await consumer.wait_idle()
    service.add_hook(hooks)
    driver.feed(make_job("two"))
    await consumer.wait_idle()
    service.remove_hook(hooks)
    driver.feed(make_job("three"))
    await consumer.wait_idle()
    assert {e.job_id for e in hooks.events} == {"two"}
    await service.close()
