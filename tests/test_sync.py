"""SyncQueueService: the producer and admin calls as blocking methods over
one background loop, shared by many threads (memory and Redis)."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import os
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Sequence

import pytest

from queue_core import (
    BackendUnavailable,
    CancelOutcome,
    Closed,
    EnqueueOptions,
    FakeClock,
    Hooks,
    InvalidArgument,
    JobState,
    NewJob,
    QueueService,
    SyncQueueService,
    TopicLimits,
)
from queue_memory import MemoryDriver, run_until_idle
from tests.fakes import T0

THREADS = 8
PER_THREAD = 250


def test_every_call_mirrors_the_async_service() -> None:
    clock = FakeClock(T0)
    with SyncQueueService(driver=MemoryDriver(clock=clock)) as queue:
        first = queue.enqueue("t", b"one")
        result = queue.enqueue_result("t", b"two", EnqueueOptions(job_id="two", priority=5))
        assert (result.id, result.created) == ("two", True)
        assert queue.enqueue_result("t", b"again", EnqueueOptions(job_id="two")).created is False
        many = queue.enqueue_many("t", [b"three", (b"later", EnqueueOptions(delay=60))])
        results = queue.enqueue_many_results("u", [b"u1"])
        assert [r.created for r in results] == [True]
        counts = queue.counts("t")
        assert (counts.ready, counts.scheduled) == (3, 1)
        job = queue.get("t", "two")
        assert job is not None
        assert (job.payload, job.priority) == (b"two", 5)
        ready = queue.list_jobs("t", JobState.READY)
        assert [j.id for j in ready] == ["two", first, many[0]]
        assert [j.id for j in queue.list_jobs("t", JobState.READY, limit=1, offset=1)] == [first]
        assert queue.topics() == ["t", "u"]
        outcomes = queue.cancel("t", [many[1], "missing"])
        assert outcomes == [CancelOutcome.CANCELLED, CancelOutcome.NOT_FOUND]
        queue.set_limits("t", TopicLimits(max_in_flight=3))
        assert queue.get_limits("t") == TopicLimits(max_in_flight=3)

        async def fail(job: object) -> None:
            raise ValueError("boom")

        report = queue.run(run_until_idle, "u", fail, advance_clock=True)
        assert len(report.dead_lettered) == 1
        (dead,) = queue.list_dead("u")
        assert dead.last_error == "ValueError: boom"
        assert queue.redrive("u") == 1
        assert queue.list_dead("u") == []
        assert queue.purge("u") == 1
        queue.wait_empty("u", timeout=1)
        with pytest.raises(TimeoutError):
            queue.wait_empty("t", timeout=0.05)
        assert queue.purge("t") == 3
        assert queue.purge_dead("t") == 0
        assert isinstance(queue.service, QueueService)
        assert queue.loop.is_running()


def test_bad_input_raises_the_services_typed_errors() -> None:
    with SyncQueueService("memory://") as queue:
        with pytest.raises(InvalidArgument, match="invalid topic"):
            queue.enqueue("bad topic", b"x")
        with pytest.raises(InvalidArgument, match="payload"):
            queue.enqueue("t", "text")  # type: ignore[arg-type]
        assert queue.counts("t").total == 0
    with pytest.raises(InvalidArgument, match="a url or a driver, not both"):
        SyncQueueService("memory://", driver=MemoryDriver())
    with pytest.raises(InvalidArgument, match="unknown queue URL scheme"):
        SyncQueueService("nosuch://")
    with pytest.raises(InvalidArgument, match="timeout"):
        SyncQueueService("memory://", timeout=-1)


def test_close_is_idempotent_and_stops_the_thread() -> None:
    queue = SyncQueueService("memory://")
    thread = queue._state.thread
    queue.enqueue("t", b"x")
    queue.close()
    queue.close()
    assert queue.closed
    assert not thread.is_alive()
    with pytest.raises(Closed):
        queue.enqueue("t", b"x")
    with pytest.raises(Closed):
        _ = queue.service


def test_the_url_comes_from_queue_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUE_URL", "memory://?max_batch=5")
    with SyncQueueService() as queue:
        assert queue.service.driver.capabilities.max_batch == 5


class HangingDriver(MemoryDriver):
    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


def test_a_call_without_an_answer_in_time_is_backend_unavailable() -> None:
    with SyncQueueService(driver=HangingDriver(), timeout=0.1) as queue:
        with pytest.raises(BackendUnavailable, match="may or may not have taken effect"):
            queue.enqueue("t", b"x")
        assert queue.counts("t").total == 0  # the loop is still serving


def test_close_answers_calls_still_waiting() -> None:
    queue = SyncQueueService(driver=HangingDriver(), timeout=None)
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            queue.enqueue("t", b"x")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=produce)
    thread.start()
    until = time.monotonic() + 10
    while not queue._state.pending and time.monotonic() < until:
        time.sleep(0.01)
    queue.close(grace=0)
    thread.join(10)
    assert not thread.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], Closed)


def test_calling_it_from_its_own_loop_is_refused_not_a_deadlock() -> None:
    with SyncQueueService("memory://") as queue:

        async def inside(service: QueueService) -> None:
            queue.enqueue("t", b"x")

        with pytest.raises(RuntimeError, match="from its own event loop"):
            queue.run(inside)


REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")


class StampRequest(Hooks):
    """Copies the caller's request id (a context variable) into a header,
    as a tracing hook copies the current span."""

    def before_enqueue(self, topic: str, job: NewJob) -> NewJob:
        headers = dict(job.headers)
        headers["request-id"] = REQUEST_ID.get("none")
        return dataclasses.replace(job, headers=headers)


def test_hooks_see_the_callers_context() -> None:
    with SyncQueueService("memory://", hooks=[StampRequest()]) as queue:
        seen: dict[str, str] = {}

        def request(request_id: str) -> None:
            REQUEST_ID.set(request_id)
            job_id = queue.enqueue("t", b"x")
            job = queue.get("t", job_id)
            assert job is not None
            seen[request_id] = job.headers["request-id"]

        threads = [threading.Thread(target=request, args=(f"req-{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert seen == {f"req-{i}": f"req-{i}" for i in range(4)}


def _hammer(queue: SyncQueueService, topic: str) -> list[str]:
    """THREADS threads enqueue PER_THREAD jobs each, at once; every id."""
    start = threading.Barrier(THREADS)
    ids: list[list[str]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []

    def produce(index: int) -> None:
        try:
            start.wait()
            for n in range(PER_THREAD):
                ids[index].append(queue.enqueue(topic, f"{index}:{n}".encode()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=produce, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    return [job_id for chunk in ids for job_id in chunk]


def test_eight_threads_share_one_instance_on_memory() -> None:
    with SyncQueueService("memory://") as queue:
        ids = _hammer(queue, "t")
        assert len(set(ids)) == THREADS * PER_THREAD
        assert queue.counts("t").ready == THREADS * PER_THREAD


@pytest.mark.redis
def test_eight_threads_share_one_instance_on_redis(redis_url: str) -> None:
    prefix = f"sync{uuid.uuid4().hex[:8]}"
    with SyncQueueService(f"{redis_url}?prefix={prefix}") as queue:
        ids = _hammer(queue, "t")
        assert len(set(ids)) == THREADS * PER_THREAD
        assert queue.counts("t").ready == THREADS * PER_THREAD
        payloads = {job.payload for job in queue.list_jobs("t", JobState.READY, limit=10_000)}
        expected = {f"{i}:{n}".encode() for i in range(THREADS) for n in range(PER_THREAD)}
        assert payloads == expected
        assert queue.purge("t") == THREADS * PER_THREAD


def _fork(child: object) -> tuple[int, str]:
    """Run ``child()`` in a forked process; its exit status and what it wrote."""
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        try:
            message = str(child())  # type: ignore[operator]
            code = 0
        except BaseException as exc:
            message, code = f"{type(exc).__name__}: {exc}", 1
        os.write(write, message.encode())
        os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), text


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_after_a_fork_a_url_instance_reopens_itself() -> None:
    with SyncQueueService("memory://") as queue:
        queue.enqueue("t", b"parent")

        def child() -> int:
            queue.enqueue("t", b"child")  # a fresh loop and store in the child
            return queue.counts("t").ready

        assert _fork(child) == (0, "1")
        assert queue.counts("t").ready == 1  # the parent's is untouched
    with SyncQueueService(driver=MemoryDriver()) as on_driver:
        code, text = _fork(lambda: on_driver.counts("t"))
        assert code == 1
        assert "Closed: this SyncQueueService was made in another process" in text


def test_an_instance_left_open_is_closed_at_exit() -> None:
    script = (
        "from queue_core import SyncQueueService\n"
        "queue = SyncQueueService('memory://')\n"
        "print(queue.enqueue('t', b'x') != '')\n"
    )
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "True", "")
