"""The examples of docs/testing.md and docs/tasks.md, run as written (the
application module of the docs, ``myapp``, is defined here)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from queue_core import FakeClock, JobState, JsonCodec, QueueService, SyncQueueService, Tasks
from queue_memory import MemoryDriver, run_until_idle
from tests.fakes import async_test

# -- myapp.tasks and myapp.views --------------------------------------------------------------

tasks = Tasks()
OUTBOX: list[tuple[str, str]] = []


@tasks.task(topic="emails", max_attempts=10)
async def send_email(to: str, subject: str = "Welcome") -> None:
    if to.startswith("bounce@"):
        raise ConnectionError("550 mailbox unavailable")
    OUTBOX.append((to, subject))


def signup(email: str) -> None:
    send_email.enqueue_sync(to=email)


# -- docs/testing.md ------------------------------------------------------------------------------


@pytest.fixture
def outbox() -> Iterator[list[tuple[str, str]]]:
    OUTBOX.clear()
    yield OUTBOX
    OUTBOX.clear()


@pytest.fixture
def queue() -> Iterator[SyncQueueService]:
    with SyncQueueService(driver=MemoryDriver(clock=FakeClock())) as queue:
        tasks.bind(queue)
        yield queue
        tasks.bind(None)


def test_signup_sends_a_welcome_email(
    queue: SyncQueueService, outbox: list[tuple[str, str]]
) -> None:
    signup("ada@example.com")
    assert queue.counts("emails").ready == 1

    report = queue.run(run_until_idle, "emails", tasks.handler("emails"), raise_errors=True)

    assert len(report.acked) == 1
    assert outbox == [("ada@example.com", "Welcome")]
    (job,) = report.acked
    assert json.loads(job.payload) == {"to": "ada@example.com"}
    assert job.headers["qtk-task"] == "send_email"


@async_test
async def test_a_bounce_is_retried_then_dead_lettered() -> None:
    clock = FakeClock()
    service = QueueService(MemoryDriver(clock=clock))
    tasks.bind(service)
    try:
        await send_email.enqueue(to="bounce@example.com")

        report = await run_until_idle(service, "emails", tasks.handler("emails"))

        assert len(report.retried) == 9
        (dead,) = await service.list_dead("emails")
        assert dead.last_error is not None
        assert "mailbox unavailable" in dead.last_error
        assert clock.now() > 1_700_000_000 + 60
    finally:
        tasks.bind(None)
        await service.close()


def test_the_function_itself(outbox: list[tuple[str, str]]) -> None:
    import asyncio

    asyncio.run(send_email.fn(to="x@example.com"))
    assert outbox == [("x@example.com", "Welcome")]


def test_what_the_app_enqueued(queue: SyncQueueService) -> None:
    signup("bob@example.com")
    (job,) = queue.list_jobs("emails", JobState.READY)
    assert json.loads(job.payload) == {"to": "bob@example.com"}
    assert job.headers["qtk-task"] == "send_email"


def test_handlers_run_on_the_queues_loop_enqueue_follow_ups(queue: SyncQueueService) -> None:
    chain = Tasks()
    done: list[str] = []

    @chain.task
    async def first(n: int) -> None:
        await second.enqueue(n=n + 1)  # on the SyncQueueService's own loop

    @chain.task
    def second(n: int) -> None:
        third.enqueue_sync(n=n + 1)  # from the thread pool

    @chain.task
    async def third(n: int) -> None:
        done.append(f"third {n}")

    chain.bind(queue)
    first.enqueue_sync(n=1)
    for topic in ("first", "second", "third"):
        queue.run(run_until_idle, topic, chain.handler(topic), raise_errors=True)
    assert done == ["third 3"]


# -- docs/tasks.md: a codec of one's own --------------------------------------------------------


class DatesCodec(JsonCodec):
    """JSON, with date and datetime arguments as ISO 8601 strings."""

    def encode(self, arguments: Mapping[str, Any], types: Mapping[str, Any]) -> bytes:
        plain = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in arguments.items()}
        return super().encode(plain, types)

    def decode(self, payload: bytes, types: Mapping[str, Any]) -> dict[str, Any]:
        arguments = super().decode(payload, types)
        for name, value in arguments.items():
            kind = types.get(name)
            if kind in (dt.date, dt.datetime) and isinstance(value, str):
                arguments[name] = kind.fromisoformat(value)
        return arguments


@async_test
async def test_the_dates_codec() -> None:
    dated = Tasks(codec=DatesCodec())
    seen: list[tuple[dt.date, dt.datetime, str]] = []

    @dated.task
    async def send_report(day: dt.date, at: dt.datetime, to: str) -> None:
        seen.append((day, at, to))

    service = QueueService(MemoryDriver(clock=FakeClock()))
    dated.bind(service)
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    job_id = await send_report.enqueue(day=dt.date(2024, 5, 1), at=when, to="ops@example.com")
    job = await service.get("send_report", job_id)
    assert job is not None
    assert json.loads(job.payload) == {
        "day": "2024-05-01",
        "at": "2024-05-01T12:30:00+00:00",
        "to": "ops@example.com",
    }
    await run_until_idle(service, "send_report", dated.handler("send_report"), raise_errors=True)
    assert seen == [(dt.date(2024, 5, 1), when, "ops@example.com")]
    await service.close()
