"""The tasks layer on the in-memory backend: declaring, encoding, running,
steering, dispatch by header, codecs, and where enqueues go."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

from queue_core import (
    Codec,
    DeadLetter,
    EnqueueOptions,
    FakeClock,
    InvalidArgument,
    Job,
    JobCancelled,
    JobState,
    JsonCodec,
    QueueOptions,
    QueueService,
    Retry,
    SubscribeOptions,
    SyncQueueService,
    Task,
    TaskCall,
    Tasks,
    current_job,
)
from queue_memory import MemoryDriver, run_until_idle
from tests.fakes import T0, async_test


def _service(**options: Any) -> tuple[QueueService, MemoryDriver]:
    driver = MemoryDriver(clock=FakeClock(T0))
    return QueueService(driver, QueueOptions(**options)), driver


# -- declaring ------------------------------------------------------------------------------


def test_a_task_is_declared_with_defaults_from_the_function() -> None:
    tasks = Tasks()

    @tasks.task
    async def send_email(to: str, subject: str = "hi") -> None: ...

    @tasks.task(topic="media", name="resize-image", priority=5, max_attempts=9)
    def resize(path: str, width: int) -> None: ...

    assert isinstance(send_email, Task)
    assert (send_email.name, send_email.topic) == ("send_email", "send_email")
    assert (resize.name, resize.topic) == ("resize-image", "media")
    assert resize.options.priority == 5
    assert resize.options.max_attempts == 9
    assert tasks.topics() == ["media", "send_email"]
    assert [t.name for t in tasks] == ["send_email", "resize-image"]
    assert len(tasks) == 2
    assert "resize-image" in tasks
    assert tasks["send_email"] is send_email
    assert resize.registry is tasks
    with pytest.raises(KeyError, match="no task named 'nope'"):
        tasks["nope"]


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda t: t.task(name="")(lambda: None), "invalid task name"),
        (lambda t: t.task(topic="bad topic")(lambda: None), "invalid topic"),
        (lambda t: t.task(name="x", priority=2**40)(lambda: None), "priority"),
        (lambda t: t.task(name="x", max_attempts=0)(lambda: None), "max_attempts"),
        (lambda t: t.task(name="x", subscribe={})(lambda: None), "SubscribeOptions"),
        (lambda t: t.task(42), "must be a function"),
    ],
)
def test_bad_declarations_are_refused(declare: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        declare(Tasks())


def test_parameters_that_cannot_travel_by_name_are_refused() -> None:
    tasks = Tasks()

    def star(*items: str) -> None: ...

    def positional(a: int, /) -> None: ...

    def late_job(a: int, job: Job) -> None: ...

    with pytest.raises(InvalidArgument, match=r"\*items is not supported"):
        tasks.task(star)
    with pytest.raises(InvalidArgument, match="positional-only parameter 'a'"):
        tasks.task(positional)
    with pytest.raises(InvalidArgument, match="Job parameter 'job' must be the first"):
        tasks.task(late_job)


def test_names_are_unique_and_a_topic_is_all_sync_or_all_async() -> None:
    tasks = Tasks()

    @tasks.task(topic="t")
    async def first() -> None: ...

    async def again() -> None: ...

    def blocking() -> None: ...

    with pytest.raises(InvalidArgument, match="already declared"):
        tasks.task(name="first")(again)
    with pytest.raises(InvalidArgument, match="is async and 'blocking' is sync"):
        tasks.task(topic="t")(blocking)
    tasks.task(topic="t", subscribe=SubscribeOptions(concurrency=2))(again)
    with pytest.raises(InvalidArgument, match="different subscribe options"):
        tasks.task(topic="t", name="third", subscribe=SubscribeOptions(concurrency=3))(again)
    assert tasks.subscribe_options("t") == SubscribeOptions(concurrency=2)
    assert tasks.subscribe_options("elsewhere") is None


# -- producing ------------------------------------------------------------------------------


@async_test
async def test_enqueue_encodes_the_arguments_by_name_with_the_task_header() -> None:
    service, driver = _service()
    tasks = Tasks()

    @tasks.task(topic="emails", priority=3, max_attempts=7)
    async def send_email(to: str, subject: str = "hi", **extra: Any) -> None: ...

    tasks.bind(service)
    job_id = await send_email.enqueue("ada@example.com", cc="bob@example.com")
    job = await service.get("emails", job_id)
    assert job is not None
    # given arguments only (defaults are the handler's), **extra flattened
    assert json.loads(job.payload) == {"to": "ada@example.com", "cc": "bob@example.com"}
    assert job.headers == {"qtk-task": "send_email"}
    assert (job.priority, job.max_attempts) == (3, 7)


@async_test
async def test_with_options_sets_per_call_options_over_the_tasks_own() -> None:
    service, driver = _service()
    tasks = Tasks()

    @tasks.task(priority=1)
    async def report(month: str) -> None: ...

    tasks.bind(service)
    later = report.with_options(delay=60, job_id="2024-05", headers={"tenant": "acme"})
    assert later.name == "report"
    assert len(tasks) == 1  # a view, not a second task
    first = await later.enqueue_result(month="2024-05")
    again = await later.enqueue_result(month="2024-05")
    assert (first.id, first.created, again.created) == ("2024-05", True, False)
    job = await service.get("report", "2024-05")
    assert job is not None
    assert job.run_at == T0 + 60
    assert job.priority == 1
    assert dict(job.headers) == {"tenant": "acme", "qtk-task": "report"}
    urgent = later.with_options(priority=9, job_id="urgent", delay=0)
    await urgent.enqueue(month="now")
    job = await service.get("report", "urgent")
    assert job is not None
    assert (job.priority, job.run_at) == (9, T0)
    at = report.with_options(run_at=T0 + 5).with_options(job_id="at")  # run_at replaces delay
    await at.enqueue(month="x")
    job = await service.get("report", "at")
    assert job is not None
    assert job.run_at == T0 + 5
    assert later.with_options(run_at=T0 + 5).with_options(delay=1).options.run_at is None
    with pytest.raises(InvalidArgument, match="delay"):
        report.with_options(delay=-1)


@async_test
async def test_bad_arguments_are_refused_before_anything_is_written() -> None:
    service, driver = _service()
    tasks = Tasks()

    @tasks.task
    async def send(to: str, count: int = 1) -> None: ...

    tasks.bind(service)
    with pytest.raises(InvalidArgument, match=r"send\(\): missing a required argument: 'to'"):
        await send.enqueue()  # type: ignore[call-arg]
    with pytest.raises(InvalidArgument, match="unexpected keyword argument 'cc'"):
        await send.enqueue(to="a", cc="b")  # type: ignore[call-arg]
    with pytest.raises(InvalidArgument, match="argument 'to' cannot be encoded as JSON"):
        await send.enqueue(to=b"bytes")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="argument 'count' cannot be encoded"):
        await send.enqueue(to="a", count=float("nan"))  # type: ignore[arg-type]
    assert (await service.counts("send")).total == 0


if TYPE_CHECKING:  # mypy checks calls against the function (an unused ignore fails the build)

    async def _typed(task: Task[[str, int]]) -> None:
        await task.enqueue("a", 1)
        await task.enqueue(1, 1)  # type: ignore[arg-type]
        task.enqueue_sync("a", "b")  # type: ignore[arg-type]


def test_enqueue_without_a_bound_service_says_what_to_do() -> None:
    tasks = Tasks()

    @tasks.task
    async def ping() -> None: ...

    with pytest.raises(InvalidArgument, match=r"call tasks.bind\(service\) first"):
        ping.enqueue_sync()
    with pytest.raises(InvalidArgument, match="bind takes a QueueService"):
        tasks.bind("redis://localhost")  # type: ignore[arg-type]
    assert not tasks.bound


@async_test
async def test_enqueue_many_sends_calls_in_batches() -> None:
    driver = MemoryDriver(clock=FakeClock(T0), max_batch=2)
    service = QueueService(driver)
    tasks = Tasks()

    @tasks.task
    async def greet(name: str) -> None: ...

    @tasks.task
    async def other(name: str) -> None: ...

    tasks.bind(service)
    calls = [greet.call(name=n) for n in ("a", "b", "c")]
    calls.append(greet.with_options(priority=5).call("d"))
    assert isinstance(calls[0], TaskCall)
    ids = await greet.enqueue_many(calls)
    assert len(ids) == 4
    ready = [json.loads(j.payload)["name"] for j in driver.jobs("greet")]
    assert ready == ["d", "a", "b", "c"]
    with pytest.raises(InvalidArgument, match="a call of task 'other' given to 'greet'"):
        await greet.enqueue_many([other.call(name="x")])
    with pytest.raises(InvalidArgument, match="not one call"):
        await greet.enqueue_many(greet.call(name="x"))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="calls made by task.call"):
        await greet.enqueue_many([{"name": "x"}])  # type: ignore[list-item]


# -- running ----------------------------------------------------------------------------------


@async_test
async def test_the_worker_decodes_and_calls_async_and_sync_tasks() -> None:
    service, driver = _service()
    tasks = Tasks()
    seen: list[tuple[str, object]] = []

    @tasks.task(topic="mail")
    async def send_email(to: str, subject: str = "hi") -> None:
        seen.append(("send_email", (to, subject)))

    @tasks.task(topic="media")
    def resize(job: Job, path: str, width: int) -> None:
        assert threading.current_thread() is not threading.main_thread()
        seen.append(("resize", (job.attempt, path, width, current_job() is job)))

    tasks.bind(service)
    await send_email.enqueue("ada@example.com")
    await resize.enqueue(path="a.png", width=100)
    consumers = await tasks.subscribe(service)
    assert [c.topic for c in consumers] == ["mail", "media"]
    await asyncio.gather(*(c.wait_idle() for c in consumers))
    assert sorted(seen) == [
        ("resize", (1, "a.png", 100, True)),
        ("send_email", ("ada@example.com", "hi")),
    ]
    await service.close()


@async_test
async def test_handlers_keep_retry_dead_letter_and_cancel() -> None:
    service, driver = _service(max_attempts=5)
    tasks = Tasks()
    attempts: list[int] = []

    @tasks.task
    async def flaky(job: Job) -> None:
        attempts.append(job.attempt)
        if job.attempt < 3:
            raise Retry(10.0, "not yet")

    @tasks.task
    async def poison(reason: str) -> None:
        raise DeadLetter(reason)

    @tasks.task
    async def stop() -> None:
        raise JobCancelled("changed my mind")

    tasks.bind(service)
    await flaky.enqueue()
    await poison.enqueue(reason="bad input")
    await stop.enqueue()
    report = await run_until_idle(service, "flaky", tasks.handler("flaky"))
    assert attempts == [1, 2, 3]
    assert len(report.acked) == 1
    await run_until_idle(service, "poison", tasks.handler("poison"))
    (dead,) = await service.list_dead("poison")
    assert dead.last_error == "DeadLetter: bad input"
    await run_until_idle(service, "stop", tasks.handler("stop"))
    assert (await service.counts("stop")).total == 0


@async_test
async def test_payloads_that_do_not_fit_go_to_the_dead_letters() -> None:
    service, driver = _service()
    tasks = Tasks()
    calls: list[int] = []

    @tasks.task(topic="t")
    async def add(a: int, b: int = 0) -> None:
        calls.append(a + b)

    bad = {
        "not-json": b"{nope",
        "not-an-object": b"[1, 2]",
        "missing": b'{"b": 1}',
        "unknown": b'{"a": 1, "c": 2}',
        "good": b'{"a": 1, "b": 2}',
    }
    for job_id, payload in bad.items():  # as any producer might send them
        await service.enqueue("t", payload, EnqueueOptions(job_id=job_id))
    await run_until_idle(service, "t", tasks.handler("t"))
    assert calls == [3]
    errors = {job.id: job.last_error or "" for job in await service.list_dead("t")}
    assert set(errors) == {"not-json", "not-an-object", "missing", "unknown"}
    assert "the payload is not JSON" in errors["not-json"]
    assert "a JSON list, not an object" in errors["not-an-object"]
    assert "missing a required argument: 'a'" in errors["missing"]
    assert "unexpected keyword argument 'c'" in errors["unknown"]
    assert all(job.attempt == 1 for job in await service.list_dead("t"))  # no retries


@async_test
async def test_tasks_sharing_a_topic_are_picked_by_header() -> None:
    service, driver = _service(max_attempts=2)
    tasks = Tasks()
    seen: list[str] = []

    @tasks.task(topic="shared")
    async def one(x: int) -> None:
        seen.append(f"one {x}")

    @tasks.task(topic="shared")
    async def two(x: int) -> None:
        seen.append(f"two {x}")

    tasks.bind(service)
    await one.enqueue(1)
    await two.enqueue(2)
    await service.enqueue("shared", b'{"x": 3}', EnqueueOptions(job_id="no-header"))
    unknown = EnqueueOptions(job_id="from-the-future", headers={"qtk-task": "three"})
    await service.enqueue("shared", b'{"x": 4}', unknown)
    await run_until_idle(service, "shared", tasks.handler("shared"))
    assert sorted(seen) == ["one 1", "two 2"]
    dead = {job.id: job.last_error or "" for job in await service.list_dead("shared")}
    assert "no qtk-task header" in dead["no-header"]
    # an unknown task is retried first (a newer producer than this worker), then dead
    assert "no task 'three' on topic 'shared'" in dead["from-the-future"]
    with pytest.raises(InvalidArgument, match="no task uses topic 'other'"):
        tasks.handler("other")


@async_test
async def test_a_job_without_a_header_runs_the_topics_only_task() -> None:
    service, driver = _service()
    tasks = Tasks()
    seen: list[str] = []

    @tasks.task(topic="emails")
    def send(to: str) -> None:
        seen.append(to)

    await service.enqueue("emails", b'{"to": "x@example.com"}')  # e.g. from qtk enqueue
    await run_until_idle(service, "emails", tasks.handler("emails"))
    assert seen == ["x@example.com"]


def test_current_job_outside_a_task_is_an_error() -> None:
    with pytest.raises(LookupError, match="only available while a task handler runs"):
        current_job()


class UpperCodec:
    """A codec of our own: JSON with the keys upper-cased on the wire, and
    values converted to the declared types on the way back."""

    def __init__(self) -> None:
        self.types_seen: list[Mapping[str, Any]] = []

    def encode(self, arguments: Mapping[str, Any], types: Mapping[str, Any]) -> bytes:
        return json.dumps({k.upper(): str(v) for k, v in arguments.items()}).encode()

    def decode(self, payload: bytes, types: Mapping[str, Any]) -> dict[str, Any]:
        self.types_seen.append(types)
        return {k.lower(): types[k.lower()](v) for k, v in json.loads(payload).items()}


@async_test
async def test_a_codec_of_ones_own() -> None:
    codec = UpperCodec()
    assert isinstance(codec, Codec)
    assert isinstance(JsonCodec(), Codec)
    service, driver = _service()
    tasks = Tasks(codec=codec)
    seen: list[tuple[int, float]] = []

    @tasks.task
    async def scale(count: int, factor: float) -> None:
        seen.append((count, factor))

    tasks.bind(service)
    job_id = await scale.enqueue(count=3, factor=1.5)
    job = await service.get("scale", job_id)
    assert job is not None
    assert json.loads(job.payload) == {"COUNT": "3", "FACTOR": "1.5"}
    await run_until_idle(service, "scale", tasks.handler("scale"))
    assert seen == [(3, 1.5)]
    assert codec.types_seen == [{"count": int, "factor": float}]
    with pytest.raises(InvalidArgument, match="codec must have encode"):
        Tasks(codec=object())  # type: ignore[arg-type]


# -- where enqueues go ------------------------------------------------------------------------


@async_test
async def test_sync_handlers_enqueue_follow_ups_on_the_workers_loop() -> None:
    service, driver = _service()
    tasks = Tasks()
    done: list[str] = []

    @tasks.task
    def first(n: int) -> None:
        second.enqueue_sync(n=n + 1)  # from the worker's thread pool

    refused: list[BaseException | None] = []

    @tasks.task
    async def second(n: int) -> None:
        done.append(f"second {n}")
        try:
            second.enqueue_sync(n=0)  # on the loop itself: refused, not a deadlock
        except InvalidArgument as exc:
            refused.append(exc)
        else:
            refused.append(None)

    consumers = await tasks.subscribe(service)  # binds inside the running loop
    await first.enqueue(n=1)
    await service.wait_empty("first", timeout=5)
    await service.wait_empty("second", timeout=5)
    assert done == ["second 2"]
    (error,) = refused
    assert error is not None, "enqueue_sync on the worker's loop was not refused"
    assert "use 'await task.enqueue" in str(error)
    for consumer in consumers:
        await consumer.close()


def test_a_sync_queue_service_serves_sync_and_async_enqueues() -> None:
    tasks = Tasks()

    @tasks.task
    async def ping(n: int) -> None: ...

    with SyncQueueService(driver=MemoryDriver(clock=FakeClock(T0))) as queue:
        tasks.bind(queue)
        first = ping.enqueue_sync(n=1)
        many = ping.enqueue_many_sync([ping.call(n=2), ping.call(n=3)])

        async def from_another_loop() -> str:
            return await ping.enqueue(n=4)

        fourth = asyncio.run(from_another_loop())
        jobs = queue.list_jobs("ping", JobState.READY)
        assert [j.id for j in jobs] == [first, *many, fourth]
        assert [json.loads(j.payload)["n"] for j in jobs] == [1, 2, 3, 4]
    tasks.bind(QueueService(MemoryDriver()))
    with pytest.raises(InvalidArgument, match="outside of its event loop"):
        ping.enqueue_sync(n=5)


@async_test
async def test_bound_outside_a_loop_enqueues_await_on_the_callers_loop() -> None:
    service, driver = _service()
    tasks = Tasks()

    @tasks.task
    async def ping() -> None: ...

    await asyncio.to_thread(tasks.bind, service)  # as at import time: no loop known
    await ping.enqueue()
    assert (await service.counts("ping")).ready == 1
