"""Bad input through QueueService (contract points 1-3): every rejection is
an InvalidArgument (also a ValueError) raised before the driver is called."""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from queue_core import (
    MAX_PRIORITY,
    MIN_PRIORITY,
    EnqueueOptions,
    Hooks,
    InvalidArgument,
    Job,
    JobState,
    NewJob,
    PayloadTooLarge,
    QueueError,
    QueueOptions,
    QueueService,
    RetryPolicy,
    SubscribeOptions,
)
from queue_memory import MemoryDriver
from tests.fakes import ScriptedDriver, async_test

BAD_TOPICS: list[object] = [
    "",
    " ",
    "a b",
    " leading",
    "trailing ",
    "tab\there",
    "new\nline",
    "nul\x00",
    "bell\x07",
    "del\x7f",
    "{braced}",
    "half{",
    "half}",
    "slash/topic",
    "star*",
    "colon:x",
    ":dead",
    "café",
    "x" * 129,
    "x" * 129 + ":dead",
    None,
    b"bytes",
    42,
    ["t"],
]
# every dead-letter topic of a valid topic is valid, however deep
GOOD_TOPICS = [
    "t",
    "a.b-c_d",
    "x" * 128,
    "Orders.v2",
    "t:dead",
    "t:dead:dead",
    "0",
    "x" * 128 + ":dead" * 15,
]
BAD_PRIORITIES: list[object] = [
    True,
    False,
    1.0,
    0.5,
    "1",
    None,
    MAX_PRIORITY + 1,
    MIN_PRIORITY - 1,
    2**63,
]
BAD_PAYLOADS: list[object] = ["text", None, 1, [1, 2], {"a": 1}, object()]
BAD_JOB_IDS: list[object] = ["", "a b", "x" * 129, "tab\t", "é", "\x00", 5, b"id"]


def _rejects(error: BaseException) -> None:
    assert isinstance(error, InvalidArgument)
    assert isinstance(error, ValueError)
    assert isinstance(error, QueueError)
    assert str(error)  # a message a person can act on


async def _nothing_written(
    driver: ScriptedDriver, call: Callable[[], Awaitable[Any]]
) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        await call()
    _rejects(caught.value)
    assert [c.name for c in driver.calls] == []
    return caught.value


# -- topics -------------------------------------------------------------------


@pytest.mark.parametrize("topic", BAD_TOPICS, ids=repr)
@async_test
async def test_bad_topics_are_rejected_everywhere(topic: Any) -> None:
    driver = ScriptedDriver()
    service = QueueService(driver)

    async def handler(job: Job) -> None:
        pass

    for call in (
        lambda: service.enqueue(topic, b"x"),
        lambda: service.enqueue_many(topic, [b"x"]),
        lambda: service.subscribe(topic, handler),
        lambda: service.counts(topic),
        lambda: service.get(topic, "id"),
        lambda: service.list_jobs(topic, JobState.READY),
        lambda: service.list_dead(topic),
        lambda: service.redrive(topic),
        lambda: service.purge(topic),
        lambda: service.purge_dead(topic),
    ):
        await _nothing_written(driver, call)


@pytest.mark.parametrize("topic", GOOD_TOPICS)
@async_test
async def test_good_topics_are_accepted(topic: str) -> None:
    driver = ScriptedDriver()
    service = QueueService(driver)
    await service.enqueue(topic, b"x")
    assert driver.of("enqueue")[0].args[0] == topic


# -- priorities ---------------------------------------------------------------


@pytest.mark.parametrize("priority", BAD_PRIORITIES, ids=repr)
def test_bad_priorities_are_rejected(priority: Any) -> None:
    with pytest.raises(InvalidArgument) as caught:
        EnqueueOptions(priority=priority)
    _rejects(caught.value)


@pytest.mark.parametrize("priority", [MIN_PRIORITY, -1, 0, 1, MAX_PRIORITY])
@async_test
async def test_the_whole_int32_priority_range_is_accepted(priority: int) -> None:
    driver = ScriptedDriver()
    service = QueueService(driver)
    await service.enqueue("t", b"x", EnqueueOptions(priority=priority))
    assert driver.of("enqueue")[0].args[1][0].priority == priority


# -- payloads -----------------------------------------------------------------


@pytest.mark.parametrize("payload", BAD_PAYLOADS, ids=lambda p: type(p).__name__)
@async_test
async def test_payloads_that_are_not_bytes_are_rejected(payload: Any) -> None:
    driver = ScriptedDriver()
    service = QueueService(driver)
    error = await _nothing_written(driver, lambda: service.enqueue("t", payload))
    assert not isinstance(error, PayloadTooLarge)
    await _nothing_written(driver, lambda: service.enqueue_many("t", [b"ok", payload]))


@async_test
async def test_payload_size_limit_is_exact() -> None:
    limit = 1024
    driver = MemoryDriver(max_payload_bytes=limit)
    service = QueueService(driver)
    at_limit = bytes(range(256)) * 4
    job_id = await service.enqueue("t", at_limit)
    job = await service.get("t", job_id)
    assert job is not None
    assert job.payload == at_limit
    with pytest.raises(PayloadTooLarge) as caught:
        await service.enqueue("t", at_limit + b"!")
    _rejects(caught.value)
    assert (caught.value.size, caught.value.limit) == (limit + 1, limit)
    with pytest.raises(PayloadTooLarge):
        await service.enqueue_many("t", [b"small", at_limit + b"!"])
    assert (await service.counts("t")).ready == 1  # only the first enqueue wrote
    await service.close()


@async_test
async def test_the_default_payload_limit_is_one_mebibyte() -> None:
    driver = ScriptedDriver()
    service = QueueService(driver)
    await service.enqueue("t", b"\x00" * (1024 * 1024))
    with pytest.raises(PayloadTooLarge):
        await service.enqueue("t", b"\x00" * (1024 * 1024 + 1))
    assert driver.count("enqueue") == 1


@async_test
async def test_bytes_like_payloads_are_stored_as_bytes() -> None:
    driver = ScriptedDriver()
    service = QueueService(driver)
    await service.enqueue("t", bytearray(b"ba"))
    await service.enqueue("t", memoryview(b"mv"))
    await service.enqueue("t", b"")
    payloads = [call.args[1][0].payload for call in driver.of("enqueue")]
    assert payloads == [b"ba", b"mv", b""]
    assert all(type(p) is bytes for p in payloads)


# -- options ------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"delay": -1.0},
        {"delay": math.nan},
        {"delay": math.inf},
        {"delay": "1"},
        {"delay": True},
        {"run_at": -1.0},
        {"run_at": math.nan},
        {"run_at": math.inf},
        {"run_at": "tomorrow"},
        {"run_at": 1_700_000_000.0, "delay": 5.0},
        {"max_attempts": 0},
        {"max_attempts": -3},
        {"max_attempts": 1.5},
        {"max_attempts": True},
    ],
    ids=repr,
)
def test_bad_enqueue_options_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument) as caught:
        EnqueueOptions(**kwargs)
    _rejects(caught.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"concurrency": 0},
        {"concurrency": True},
        {"concurrency": 2.0},
        {"batch_size": 0},
        {"lease": 0.0},
        {"lease": -1.0},
        {"lease": math.inf},
        {"poll_interval": 0.0},
        {"shutdown_grace": -1.0},
        {"shutdown_grace": math.nan},
        {"retry": "fast"},
        {"on_exhausted": "ignore"},
    ],
    ids=repr,
)
def test_bad_subscribe_options_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument) as caught:
        SubscribeOptions(**kwargs)
    _rejects(caught.value)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"retry": None}, {"backend_retry": "x"}],
    ids=repr,
)
def test_bad_queue_options_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument) as caught:
        QueueOptions(**kwargs)
    _rejects(caught.value)


@async_test
async def test_options_of_the_wrong_type_are_rejected() -> None:
    driver = ScriptedDriver()
    service = QueueService(driver)

    async def handler(job: Job) -> None:
        pass

    wrong: Any = {"priority": 5}
    await _nothing_written(driver, lambda: service.enqueue("t", b"x", wrong))
    await _nothing_written(driver, lambda: service.enqueue_many("t", [(b"x", wrong)]))
    await _nothing_written(driver, lambda: service.subscribe("t", handler, wrong))
    await _nothing_written(driver, lambda: service.subscribe("t", "not callable"))  # type: ignore[arg-type]
    await _nothing_written(driver, lambda: service.list_jobs("t", "ready"))  # type: ignore[arg-type]
    await _nothing_written(driver, lambda: service.list_dead("t", limit=-1))
    await _nothing_written(driver, lambda: service.list_dead("t", limit=True))


def test_a_service_needs_a_driver() -> None:
    with pytest.raises(InvalidArgument):
        QueueService(object())  # type: ignore[arg-type]


def test_hooks_must_be_hooks() -> None:
    service = QueueService(ScriptedDriver())
    with pytest.raises(InvalidArgument):
        service.add_hook(object())  # type: ignore[arg-type]


def test_handler_signals_validate_their_delay() -> None:
    from queue_core import Retry

    with pytest.raises(InvalidArgument):
        Retry(-1.0)
    with pytest.raises(InvalidArgument):
        Retry(math.nan)


# -- job ids ------------------------------------------------------------------


@pytest.mark.parametrize("job_id", BAD_JOB_IDS, ids=repr)
@async_test
async def test_bad_job_ids_are_rejected(job_id: Any) -> None:
    with pytest.raises(InvalidArgument) as caught:
        EnqueueOptions(job_id=job_id)
    _rejects(caught.value)
    driver = ScriptedDriver()
    service = QueueService(driver)
    await _nothing_written(driver, lambda: service.get("t", job_id))
    await _nothing_written(driver, lambda: service.redrive("t", [job_id]))
    await _nothing_written(driver, lambda: service.purge_dead("t", ["ok", job_id]))


@async_test
async def test_a_single_str_is_not_a_list_of_ids() -> None:
    driver = ScriptedDriver()
    service = QueueService(driver)
    await _nothing_written(driver, lambda: service.redrive("t", "abc"))
    await _nothing_written(driver, lambda: service.purge_dead("t", "abc"))


@async_test
async def test_an_explicit_job_id_is_used_and_returned() -> None:
    driver = ScriptedDriver()
    service = QueueService(driver)
    assert await service.enqueue("t", b"x", EnqueueOptions(job_id="order-17")) == "order-17"
    assert driver.of("enqueue")[0].args[1][0].id == "order-17"


# -- enqueue_many ---------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_item",
    [
        "text",
        (b"x", {"priority": 1}),
        (b"x",),
        (b"x", EnqueueOptions(), "extra"),
        ("text", EnqueueOptions()),
        None,
    ],
    ids=repr,
)
@async_test
async def test_enqueue_many_validates_every_job_before_writing_any(bad_item: Any) -> None:
    driver = ScriptedDriver(max_batch=2)
    service = QueueService(driver)
    good: list[Any] = [b"a", (b"b", EnqueueOptions(priority=3)), b"c", b"d", b"e"]
    await _nothing_written(driver, lambda: service.enqueue_many("t", [*good, bad_item]))


@async_test
async def test_enqueue_many_splits_by_the_driver_batch_size_and_keeps_order() -> None:
    driver = ScriptedDriver(max_batch=3)
    service = QueueService(driver, QueueOptions(max_attempts=7))
    items: list[bytes | tuple[bytes, EnqueueOptions]] = [
        b"0",
        (b"1", EnqueueOptions(priority=9, delay=2.5)),
        b"2",
        (b"3", EnqueueOptions(job_id="three", max_attempts=2)),
        b"4",
        b"5",
        b"6",
    ]
    ids = await service.enqueue_many("t", items)
    batches = [call.args[1] for call in driver.of("enqueue")]
    assert [len(batch) for batch in batches] == [3, 3, 1]
    jobs = [job for batch in batches for job in batch]
    assert [job.id for job in jobs] == ids
    assert ids[3] == "three"
    assert len(set(ids)) == 7
    assert [job.payload for job in jobs] == [str(n).encode() for n in range(7)]
    assert (jobs[1].priority, jobs[1].delay) == (9, 2.5)
    assert [job.max_attempts for job in jobs] == [7, 7, 7, 2, 7, 7, 7]
    assert await service.enqueue_many("t", []) == []
    assert driver.count("enqueue") == 3


def test_retry_policy_is_validated_where_it_is_used() -> None:
    with pytest.raises(InvalidArgument):
        SubscribeOptions(retry=RetryPolicy(jitter=2.0))


@pytest.mark.parametrize(
    ("options", "hooks"),
    [({"max_attempts": 3}, ()), (None, [object()]), (None, Hooks())],
)
def test_a_service_checks_its_options_and_hooks(options: Any, hooks: Any) -> None:
    with pytest.raises(InvalidArgument):
        QueueService(ScriptedDriver(), options, hooks=hooks)


@pytest.mark.parametrize("headers", [[], "", ()])
def test_headers_that_are_not_a_mapping_are_rejected_even_when_empty(headers: Any) -> None:
    with pytest.raises(InvalidArgument):
        EnqueueOptions(headers=headers)


class Topic(str, enum.Enum):  # noqa: UP042 (its f-string is "Topic.EMAILS", not the value)
    EMAILS = "emails"


@async_test
async def test_a_str_enum_topic_reaches_the_driver_as_its_plain_name() -> None:
    """Drivers build keys from topics (f-strings): they must get plain str."""
    driver = ScriptedDriver()
    service = QueueService(driver)
    await service.enqueue(Topic.EMAILS, b"a")
    await service.enqueue_many(Topic.EMAILS, [b"b"])
    consumer = await service.subscribe(Topic.EMAILS, lambda job: None)
    await driver.called("claim", 1)
    await consumer.close()
    await service.wait_empty(Topic.EMAILS, timeout=5)
    topics = [call.args[0] for call in driver.calls]
    assert topics
    assert all(type(topic) is str and topic == "emails" for topic in topics), topics
    await service.close()


class StartsWork(Hooks):
    def __init__(self) -> None:
        self.started: list[str] = []

    def before_enqueue(self, topic: str, job: NewJob) -> NewJob:
        self.started.append(job.id)
        return job


@async_test
async def test_a_bad_item_of_enqueue_many_reaches_no_hook() -> None:
    """Every item is validated before the hooks see any, so no hook starts
    work (a producer span) that no after_enqueue would end."""
    hook = StartsWork()
    service = QueueService(MemoryDriver(), hooks=[hook])
    with pytest.raises(InvalidArgument):
        await service.enqueue_many("t", [b"a", b"b", 12345])  # type: ignore[list-item]
    assert hook.started == []
    await service.close()
