"""Exact at the edges, on both backends: bad input raises a typed error and
writes nothing (the Redis keyspace stays byte-identical), every integer is
stored exactly, every topic the library makes is usable, a retried enqueue
never runs a job twice, fencing tokens only go up."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from queue_core import (
    MAX_ATTEMPTS,
    MAX_INSTANT,
    CancelOutcome,
    EnqueueOptions,
    FakeClock,
    InvalidArgument,
    Job,
    JobState,
    QueueOptions,
    QueueService,
    Retry,
    RetryPolicy,
    SubscribeOptions,
    dead_letter_topic,
)
from queue_memory import MemoryDriver
from queue_redis import RedisDriver, make_client
from tests.redis_support import unique_topic


class Level(enum.IntEnum):
    HIGH = 7


class NumpyLikeInt:
    """An integer type that is not an ``int`` subclass (numpy's are alike)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


class Backend:
    """A service on one backend, a fake clock, and (on Redis) a view of
    every key under the service's own prefix."""

    def __init__(self, service: QueueService, clock: FakeClock, redis: Any, prefix: str):
        self.service = service
        self.clock = clock
        self.redis = redis
        self.prefix = prefix

    async def keyspace(self) -> dict[Any, Any]:
        """On Redis every key under the prefix and its serialized value; in
        memory every job of every topic in every state, and the limits."""
        if self.redis is None:
            driver = self.service.driver
            return {
                topic: (
                    [await driver.list_jobs(topic, state, limit=10_000) for state in JobState],
                    await driver.get_limits(topic),
                )
                for topic in await driver.topics()
            }
        keys = [key async for key in self.redis.scan_iter(match=f"{self.prefix}:*", count=1000)]
        return {key: bytes(await self.redis.dump(key) or b"") for key in sorted(keys)}


BACKENDS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Callable[[], Any]:
    """A factory of backends for ``async with``, bound to this test's loop."""
    kind = request.param
    url = request.getfixturevalue("redis_url") if kind == "redis" else ""

    def make() -> Any:
        return _backend(kind, url)

    return make


class _backend:
    def __init__(self, kind: str, url: str) -> None:
        self.kind, self.url = kind, url

    async def __aenter__(self) -> Backend:
        clock = FakeClock(1_800_000_000.0)
        prefix = "edge" + unique_topic("")[1:]
        if self.kind == "memory":
            self.backend = Backend(QueueService(MemoryDriver(clock=clock)), clock, None, prefix)
        else:
            client = make_client(self.url)
            driver = RedisDriver(client, clock=clock, prefix=prefix, owns_client=True)
            self.backend = Backend(QueueService(driver), clock, client, prefix)
        return self.backend

    async def __aexit__(self, *exc: object) -> None:
        await self.backend.service.close()


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


# -- 1. int subclasses are plain ints by the time they reach a driver -----------


def test_int_like_priorities_and_attempts_are_stored_as_plain_ints(backend: Any) -> None:
    async def main() -> None:
        async with backend() as b:
            topic = unique_topic()
            options = EnqueueOptions(
                priority=Level.HIGH,
                max_attempts=NumpyLikeInt(3),  # type: ignore[arg-type]
                job_id="typed",
            )
            assert type(options.priority) is int
            assert type(options.max_attempts) is int
            assert await b.service.enqueue(topic, b"x", options) == "typed"
            job = await b.service.get(topic, "typed")
            assert job is not None
            assert (job.priority, job.max_attempts) == (7, 3)
            assert (await b.service.counts(topic)).ready == 1
            # a retry with the same id is still a no-op
            assert not (await b.service.enqueue_result(topic, b"x", options)).created
            assert (await b.service.counts(topic)).total == 1

    run(main())


# -- 2. integers are bounded by what every backend stores exactly ----------------


@pytest.mark.parametrize("attempts", [sys.maxsize, 2**53 + 1, MAX_ATTEMPTS + 1, 0, -1])
def test_max_attempts_out_of_range_is_rejected(attempts: int) -> None:
    with pytest.raises(InvalidArgument, match="max_attempts"):
        EnqueueOptions(max_attempts=attempts)
    with pytest.raises(InvalidArgument, match="max_attempts"):
        QueueOptions(max_attempts=attempts)


def test_the_largest_max_attempts_round_trips_exactly(backend: Any) -> None:
    async def main() -> None:
        async with backend() as b:
            topic = unique_topic()
            await b.service.enqueue(topic, b"", EnqueueOptions(max_attempts=MAX_ATTEMPTS))
            (job,) = await b.service.list_jobs(topic, JobState.READY)
            assert job.max_attempts == MAX_ATTEMPTS

    run(main())


# -- 3. huge numbers for durations are InvalidArgument, never OverflowError ------

HUGE = [10**400, -(10**400), MAX_INSTANT * 2, float("inf"), float("nan")]


@pytest.mark.parametrize("value", HUGE, ids=str)
@pytest.mark.parametrize(
    "make",
    [
        lambda v: EnqueueOptions(delay=v),
        lambda v: EnqueueOptions(run_at=v),
        lambda v: SubscribeOptions(lease=v),
        lambda v: SubscribeOptions(poll_interval=v),
        lambda v: SubscribeOptions(shutdown_grace=v),
        lambda v: SubscribeOptions(time_limit=v),
        lambda v: RetryPolicy(initial_delay=v),
        lambda v: RetryPolicy(max_delay=v),
        lambda v: RetryPolicy(multiplier=v),
        lambda v: RetryPolicy(jitter=v),
        lambda v: Retry(v),
        lambda v: QueueOptions(idempotency_window=v),
    ],
    ids=[
        "delay",
        "run_at",
        "lease",
        "poll_interval",
        "shutdown_grace",
        "time_limit",
        "initial_delay",
        "max_delay",
        "multiplier",
        "jitter",
        "Retry",
        "window",
    ],
)
def test_out_of_range_numbers_raise_invalid_argument(make: Any, value: Any) -> None:
    with pytest.raises(InvalidArgument):
        make(value)


# -- 4. every topic the library makes is usable through every call ---------------


def test_dead_letters_of_the_longest_topic_can_be_listed_redriven_and_purged(
    backend: Any,
) -> None:
    async def main() -> None:
        async with backend() as b:
            topic = (unique_topic() + "x" * 128)[:128]
            dead = dead_letter_topic(dead_letter_topic(topic))
            for name in (topic, dead_letter_topic(topic)):
                await b.service.enqueue(name, b"p", EnqueueOptions(max_attempts=1))
                (job,) = await b.service.driver.claim(name, max_jobs=1, lease=1)
                await b.service.driver.dead_letter(name, job.id, job.lease_token or "", error="x")
            # one dead letter in topic:dead, one in topic:dead:dead, both usable
            assert len(await b.service.list_dead(dead_letter_topic(topic))) == 1
            assert (await b.service.counts(dead_letter_topic(topic))).dead == 1
            assert await b.service.redrive(dead_letter_topic(topic)) == 1
            assert (await b.service.counts(dead)).total == 0
            assert len(await b.service.list_dead(topic)) == 2
            assert await b.service.purge_dead(topic) == 2

    run(main())


# -- 10. an enqueue retried after its job ran never runs it again ----------------


def test_a_retried_enqueue_after_the_job_ended_creates_nothing_within_the_window(
    backend: Any,
) -> None:
    async def main() -> None:
        async with backend() as b:
            topic = unique_topic()
            options = EnqueueOptions(job_id="pay-42")
            first = await b.service.enqueue_result(topic, b"charge", options)
            assert first.created
            ran: list[Job] = []

            async def handler(job: Job) -> None:
                ran.append(job)

            consumer = await b.service.subscribe(topic, handler)
            await b.service.wait_empty(topic, timeout=10)
            await consumer.close()
            assert len(ran) == 1
            # the producer's first call lost its reply; it retries, as told
            again = await b.service.enqueue_result(topic, b"charge", options)
            assert (again.id, again.created) == ("pay-42", False)
            assert (await b.service.counts(topic)).total == 0
            b.clock.advance(3600.0)  # the default window has passed
            assert (await b.service.enqueue_result(topic, b"charge", options)).created

    run(main())


def test_ids_are_remembered_after_purge_cancel_and_dead_letter(backend: Any) -> None:
    async def main() -> None:
        async with backend() as b:
            topic = unique_topic()
            service = b.service
            for job_id in ("purged", "cancelled"):
                await service.enqueue(topic, b"", EnqueueOptions(job_id=job_id))
            await service.driver.purge(topic, ["purged"])
            assert await service.cancel(topic, ["cancelled", "nope"]) == [
                CancelOutcome.CANCELLED,
                CancelOutcome.NOT_FOUND,
            ]
            await service.enqueue(topic, b"", EnqueueOptions(job_id="dead", max_attempts=1))
            (job,) = await service.driver.claim(topic, max_jobs=1, lease=5)
            await service.driver.dead_letter(topic, "dead", job.lease_token or "", error="e")
            for job_id in ("purged", "cancelled", "dead"):
                result = await service.enqueue_result(topic, b"", EnqueueOptions(job_id=job_id))
                assert not result.created, f"{job_id} was created again within the window"
            short = EnqueueOptions(job_id="brief", idempotency_window=1.0)
            await service.enqueue(topic, b"", short)
            await service.cancel(topic, ["brief"])
            b.clock.advance(1.0)
            assert (await service.enqueue_result(topic, b"", short)).created

    run(main())


# -- 11. fencing tokens never go back for a reused id -----------------------------


def test_fencing_tokens_keep_growing_when_an_id_is_reused(backend: Any) -> None:
    async def main() -> None:
        async with backend() as b:
            topic = unique_topic()
            driver = b.service.driver
            seen = []
            for round_ in range(3):
                options = EnqueueOptions(job_id="same", idempotency_window=0)
                await b.service.enqueue(topic, b"", options)
                (job,) = await driver.claim(topic, max_jobs=1, lease=5)
                seen.append(job.fencing_token)
                if round_ == 1:  # through the dead-letter topic and back
                    await driver.dead_letter(topic, "same", job.lease_token or "", error="e")
                    await b.service.redrive(topic)
                    (job,) = await driver.claim(topic, max_jobs=1, lease=5)
                    seen.append(job.fencing_token)
                await driver.ack(topic, "same", job.lease_token or "")
            assert seen == sorted(set(seen)), f"fencing tokens went back: {seen}"

    run(main())


# -- 14. cancel by id, and a wait that means "nothing left" ----------------------


def test_wait_empty_waits_for_scheduled_retries_too(backend: Any) -> None:
    async def main() -> None:
        async with backend() as b:
            topic = unique_topic()
            await b.service.enqueue(topic, b"")
            attempts: list[int] = []

            async def flaky(job: Job) -> None:
                attempts.append(job.attempt)
                if job.attempt == 1:
                    raise Retry(5.0)

            consumer = await b.service.subscribe(topic, flaky, SubscribeOptions(lease=30))
            await consumer.wait_idle()  # idle: the retry waits out its delay
            waiting = asyncio.ensure_future(b.service.wait_empty(topic, timeout=10))
            await asyncio.sleep(0.1)
            assert not waiting.done(), "wait_empty returned with a retry still scheduled"
            b.clock.advance(5.0)
            await waiting
            assert attempts == [1, 2]
            await consumer.close()

    run(main())


# -- 5. the whole public surface, arbitrary values ---------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**31 - 2, max_value=2**64),
    st.integers(min_value=-(2**64), max_value=-(2**31) + 2),
    st.just(10**400),
    st.floats(),
    st.text(max_size=40),
    st.sampled_from(["t", "t:dead", "a b", "{x}", "x" * 129, "é", "", "0", "\x00", "j1"]),
    st.binary(max_size=16),
    st.builds(bytearray, st.binary(max_size=8)),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.one_of(st.text(max_size=5), st.integers()), max_size=3),
    st.just(Level.HIGH),
    st.builds(NumpyLikeInt, st.integers(min_value=-(2**40), max_value=2**40)),
    st.just(object()),
)

OPTION_TYPES = {
    "EnqueueOptions": (
        EnqueueOptions,
        ["priority", "delay", "run_at", "job_id", "max_attempts", "headers", "idempotency_window"],
    ),
    "QueueOptions": (QueueOptions, ["max_attempts", "idempotency_window"]),
    "SubscribeOptions": (
        SubscribeOptions,
        [
            "concurrency",
            "batch_size",
            "prefetch",
            "lease",
            "poll_interval",
            "shutdown_grace",
            "on_exhausted",
            "time_limit",
            "cancel_poll_interval",
        ],
    ),
    "RetryPolicy": (RetryPolicy, ["initial_delay", "multiplier", "max_delay", "jitter"]),
}


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(kind=st.sampled_from(sorted(OPTION_TYPES)), data=st.data())
def test_option_types_raise_only_invalid_argument(kind: str, data: st.DataObject) -> None:
    cls, fields = OPTION_TYPES[kind]
    names = data.draw(st.lists(st.sampled_from(fields), unique=True, max_size=3))
    kwargs = {name: data.draw(ANY, label=name) for name in names}
    with contextlib.suppress(InvalidArgument):
        cls(**kwargs)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(delay=ANY, reason=ANY)
def test_handler_signals_raise_only_invalid_argument(delay: Any, reason: Any) -> None:
    from queue_core import DeadLetter

    for make in (lambda: Retry(delay), lambda: Retry(0.0, reason), lambda: DeadLetter(reason)):
        with contextlib.suppress(InvalidArgument):
            make()


SERVICE_CALLS: dict[str, Callable[[QueueService, list[Any]], Awaitable[object]]] = {
    "enqueue": lambda s, a: s.enqueue(a[0], a[1]),
    "enqueue+options": lambda s, a: s.enqueue("t", b"p", a[0]),
    "enqueue_result": lambda s, a: s.enqueue_result(a[0], a[1], a[2]),
    "enqueue_many": lambda s, a: s.enqueue_many(a[0], a[1]),
    "enqueue_many+pairs": lambda s, a: s.enqueue_many("t", [(a[0], a[1])]),
    "counts": lambda s, a: s.counts(a[0]),
    "get": lambda s, a: s.get(a[0], a[1]),
    "list_jobs": lambda s, a: s.list_jobs(a[0], a[1], limit=a[2]),
    "list_jobs+offset": lambda s, a: s.list_jobs("t", JobState.READY, offset=a[0]),
    "list_dead": lambda s, a: s.list_dead(a[0], limit=a[1]),
    "redrive": lambda s, a: s.redrive(a[0], a[1]),
    "purge": lambda s, a: s.purge(a[0]),
    "purge_dead": lambda s, a: s.purge_dead(a[0], a[1]),
    "cancel": lambda s, a: s.cancel(a[0], a[1]),
    "set_limits": lambda s, a: s.set_limits(a[0], a[1]),
    "get_limits": lambda s, a: s.get_limits(a[0]),
}


@pytest.mark.parametrize("kind", BACKENDS)
def test_every_service_call_raises_only_typed_errors_and_writes_nothing(
    kind: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("redis_url") if kind == "redis" else ""
    with asyncio.Runner() as runner:
        backend: Backend = runner.run(_backend(kind, url).__aenter__())

        @settings(
            max_examples=300,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(
            name=st.sampled_from(sorted(SERVICE_CALLS)), args=st.lists(ANY, min_size=3, max_size=3)
        )
        def check(name: str, args: list[Any]) -> None:
            async def attempt() -> None:
                before = await backend.keyspace()
                try:
                    await SERVICE_CALLS[name](backend.service, args)
                except InvalidArgument:
                    after = await backend.keyspace()
                    assert after == before, f"a rejected {name}{tuple(args)} changed the keyspace"

            runner.run(attempt())

        try:
            check()
        finally:
            runner.run(backend.service.close())
