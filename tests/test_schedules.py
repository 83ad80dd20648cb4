"""Schedules on the in-memory backend and a fake clock: triggers (intervals,
cron with time zones across DST changes), declarations on a task registry,
exactly one job per tick with several schedulers, the catch-up policies
after downtime, and a scheduler that keeps going when enqueues fail."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import logging
import subprocess
import sys
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import pytest

import queue_core.schedules
from queue_core import (
    BackendUnavailable,
    Closed,
    EnqueueOptions,
    FakeClock,
    InvalidArgument,
    Job,
    JobState,
    NewJob,
    QueueService,
    RetryPolicy,
    SubscribeOptions,
    Tasks,
)
from queue_core.schedules import (
    SCHEDULE_HEADER,
    TICK_HEADER,
    Cron,
    Every,
    Schedule,
    Scheduler,
    cron,
    every,
)
from queue_memory import MemoryDriver
from tests.fakes import async_test

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z: not on a minute
FAST_RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.02, jitter=0.0)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC).timestamp()


def schedule(trigger: Every | Cron, name: str = "tick", topic: str = "t") -> Schedule:
    return Schedule(name=name, trigger=trigger, topic=topic, payload=b"{}")


async def all_ids(service: QueueService, topic: str = "t") -> list[str]:
    ids: list[str] = []
    for state in (JobState.SCHEDULED, JobState.READY, JobState.IN_FLIGHT):
        ids += [job.id for job in await service.list_jobs(topic, state, limit=10_000)]
    return sorted(ids)


async def settle(*schedulers: Scheduler) -> None:
    for scheduler in schedulers:
        await asyncio.wait_for(scheduler.wait_idle(), 10)


# -- triggers ---------------------------------------------------------------------------------


def test_every_is_aligned_to_the_epoch_whenever_it_starts() -> None:
    hourly = every(3600)
    assert hourly.next_after(utc(2025, 1, 1, 10, 20)) == utc(2025, 1, 1, 11)
    assert hourly.next_after(utc(2025, 1, 1, 11)) == utc(2025, 1, 1, 12)  # strictly after
    assert hourly.latest_at(utc(2025, 1, 1, 11)) == utc(2025, 1, 1, 11)  # at or before
    daily_at_3 = every(86_400, offset=3 * 3600)
    assert daily_at_3.next_after(utc(2025, 1, 1, 4)) == utc(2025, 1, 2, 3)
    ticks = daily_at_3.ticks_after(utc(2025, 1, 1))
    assert [next(ticks) for _ in range(2)] == [utc(2025, 1, 1, 3), utc(2025, 1, 2, 3)]
    back = every(90).ticks_back_from(180.0)
    assert [next(back) for _ in range(3)] == [180.0, 90.0, 0.0]
    assert list(every(90).ticks_back_from(100.0)) == [90.0, 0.0]  # stops at the epoch
    assert every(1.5).next_after(0.0) == 1.5
    assert every(1.5).latest_at(4.0) == 3.0
    assert every(2.0004).seconds == 2.0  # whole milliseconds


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: every(0.5), "at least 1.0"),
        (lambda: every(400 * 86_400), "366 days"),
        (lambda: every(60, offset=60), "offset must be less than"),
        (lambda: every(60, offset=-1), "offset"),
        (lambda: every(60, catch_up="all"), "catch_up"),  # type: ignore[arg-type]
        (lambda: every(60, catch_up=True), "catch_up"),
        (lambda: every(60, catch_up=1001), "catch_up"),
        (lambda: every(60, grace=-1), "grace"),
        (lambda: every(60, grace=2 * 86_400), "grace"),
        (lambda: cron("* * * *"), "5 fields"),
        (lambda: cron("0 0 * * * * 2030"), "5 fields"),
        (lambda: cron("61 * * * *"), "61 * * * *"),
        (lambda: cron("0 0 30 2 *"), "0 0 30 2 *"),  # February 30th never comes
        (lambda: cron("@reboot"), "5 fields"),
        (lambda: cron("0 3 * * *", tz="Mars/Olympus"), "unknown time zone"),
        (lambda: cron("0 3 * * *", tz="../etc/passwd"), "unknown time zone"),
        (lambda: cron(42), "a cron expression is a str"),  # type: ignore[arg-type]
    ],
)
def test_bad_triggers_are_refused_when_declared(make: object, message: str) -> None:
    assert callable(make)
    with pytest.raises(InvalidArgument, match=message.replace("*", r"\*").replace("(", r"\(")):
        make()


def test_the_default_grace_is_one_period_at_most_a_minute() -> None:
    assert every(5).effective_grace == 5.0
    assert every(3600).effective_grace == 60.0
    assert every(5, grace=0).effective_grace == 0.0
    assert every(5).grace is None
    assert cron("*/5 * * * * *").effective_grace == 5.0
    assert cron("0 3 * * *").effective_grace == 60.0
    assert cron("0 3 * * *", grace=600).effective_grace == 600.0


def test_cron_fields_seconds_and_aliases() -> None:
    start = utc(2025, 1, 1, 12)
    every_5s = cron("*/5 * * * * *")  # 6 fields: seconds first
    ticks = every_5s.ticks_after(start)
    assert [next(ticks) - start for _ in range(3)] == [5.0, 10.0, 15.0]
    assert cron("@hourly").next_after(start) == utc(2025, 1, 1, 13)
    assert cron("@daily").next_after(start) == utc(2025, 1, 2)
    assert cron("0 9 * * mon-fri").next_after(utc(2025, 1, 3, 10)) == utc(2025, 1, 6, 9)  # Fri->Mon
    assert cron("0 0 L * *").next_after(start) == utc(2025, 1, 31)
    assert cron("  0   3 * * *  ").expression == "0 3 * * *"
    assert cron("0 3 * * *", tz="Europe/Paris").describe() == "cron 0 3 * * * (Europe/Paris)"


def test_cron_in_a_time_zone_across_daylight_saving_changes() -> None:
    """Europe/Paris: 2025-03-30 02:00 -> 03:00 (CET -> CEST), 2025-10-26
    03:00 -> 02:00 (CEST -> CET)."""
    paris = ZoneInfo("Europe/Paris")

    def local(
        year: int, month: int, day: int, hour: int, minute: int = 0, *, fold: int = 0
    ) -> float:
        moment = dt.datetime(year, month, day, hour, minute, tzinfo=paris, fold=fold)
        return moment.timestamp()

    nightly = cron("30 2 * * *", tz="Europe/Paris")
    ticks = nightly.ticks_after(local(2025, 3, 28, 12))
    assert [next(ticks) for _ in range(3)] == [
        local(2025, 3, 29, 2, 30),  # 01:30 UTC
        local(2025, 3, 30, 3, 0),  # 02:30 does not exist that night: the first instant after
        local(2025, 3, 31, 2, 30),  # 00:30 UTC: summer time
    ]
    assert local(2025, 3, 29, 2, 30) == utc(2025, 3, 29, 1, 30)
    assert local(2025, 3, 31, 2, 30) == utc(2025, 3, 31, 0, 30)
    ticks = nightly.ticks_after(local(2025, 10, 24, 12))
    assert [next(ticks) for _ in range(3)] == [
        local(2025, 10, 25, 2, 30),
        local(2025, 10, 26, 2, 30),  # 02:30 happens twice: once, at the first
        local(2025, 10, 27, 2, 30),
    ]
    back = nightly.ticks_back_from(local(2025, 10, 27, 12))
    assert [next(back) for _ in range(2)] == [
        local(2025, 10, 27, 2, 30),
        local(2025, 10, 26, 2, 30),
    ]
    # a wildcard hour follows real time: both 02:00s of the night clocks go back
    hourly = cron("0 * * * *", tz="Europe/Paris")
    ticks = hourly.ticks_after(local(2025, 10, 26, 0, 30))
    assert [next(ticks) for _ in range(4)] == [
        local(2025, 10, 26, 1),
        local(2025, 10, 26, 2),
        local(2025, 10, 26, 2, fold=1),
        local(2025, 10, 26, 3),
    ]
    ticks = hourly.ticks_after(local(2025, 3, 30, 0, 30))
    assert [next(ticks) for _ in range(2)] == [local(2025, 3, 30, 1), local(2025, 3, 30, 3)]


@async_test
async def test_a_scheduler_on_a_fake_clock_across_dst_enqueues_each_local_night_once() -> None:
    paris = ZoneInfo("Europe/Paris")
    start = dt.datetime(2025, 10, 24, 12, tzinfo=paris).timestamp()
    clock = FakeClock(start)
    service = QueueService(MemoryDriver(clock=clock))
    on_time = cron("30 2 * * *", tz="Europe/Paris", catch_up="none", grace=3600)
    nightly = schedule(on_time, "nightly")
    async with Scheduler(service, [nightly], clock=clock) as scheduler:
        for _ in range(4 * 24):  # four days, an hour at a time
            clock.advance(3600)
            await settle(scheduler)
    assert await all_ids(service) == [
        "sched:nightly:20251025T003000Z",  # 02:30 CEST
        "sched:nightly:20251026T003000Z",  # 02:30 CEST, not again at 02:30 CET
        "sched:nightly:20251027T013000Z",  # 02:30 CET
        "sched:nightly:20251028T013000Z",
    ]
    await service.close()


# -- declaring on a task registry --------------------------------------------------------------


def test_declaring_schedules_on_a_registry() -> None:
    tasks = Tasks()

    @tasks.task(topic="maintenance", priority=3, schedule=every(600))
    async def cleanup() -> None: ...

    @tasks.task(topic="reports", max_attempts=2)
    async def send_report(to: str, kind: str = "daily") -> None: ...

    nightly = tasks.schedule(
        "nightly-report",
        cron("0 3 * * *", tz="Europe/Paris"),
        send_report.with_options(priority=7, headers={"team": "ops"}).call(to="ops@example.com"),
    )
    raw = tasks.schedule("ping", every(60, catch_up="none"), "pings", payload=b'{"ping":1}')
    assert [s.name for s in tasks.schedules] == ["cleanup", "nightly-report", "ping"]
    first = tasks.schedules[0]
    assert (first.topic, first.task, first.priority, first.payload) == (
        "maintenance",
        "cleanup",
        3,
        b"{}",
    )
    assert first.headers == {"qtk-task": "cleanup"}
    assert nightly.topic == "reports"
    assert json.loads(nightly.payload) == {"to": "ops@example.com"}
    assert (nightly.priority, nightly.max_attempts) == (7, 2)
    assert nightly.headers == {"team": "ops", "qtk-task": "send_report"}
    assert (raw.topic, raw.task, raw.payload, raw.headers) == ("pings", None, b'{"ping":1}', None)
    # a task with no arguments can be scheduled by itself too
    assert tasks.schedule("cleanup-often", every(60), cleanup).payload == b"{}"


def test_bad_schedule_declarations_are_refused_and_change_nothing() -> None:
    tasks = Tasks()

    @tasks.task(topic="reports")
    async def send_report(to: str) -> None: ...

    tasks.schedule("nightly", every(86_400), send_report.call(to="a@example.com"))
    before = tasks.schedules
    with pytest.raises(InvalidArgument, match="already declared"):
        tasks.schedule("nightly", every(60), send_report.call(to="b@example.com"))
    with pytest.raises(InvalidArgument, match="needs arguments"):
        tasks.schedule("bare", every(60), send_report)
    with pytest.raises(InvalidArgument, match="delay"):
        tasks.schedule("late", every(60), send_report.with_options(delay=5).call(to="x"))
    with pytest.raises(InvalidArgument, match="job_id"):
        tasks.schedule("fixed", every(60), send_report.with_options(job_id="j").call(to="x"))
    with pytest.raises(InvalidArgument, match="schedule name"):
        tasks.schedule("no spaces", every(60), send_report.call(to="x"))
    with pytest.raises(InvalidArgument, match="trigger"):
        tasks.schedule("x", "*/5 * * * *", send_report.call(to="x"))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="payload is for a topic"):
        tasks.schedule("both", every(60), send_report.call(to="x"), payload=b"x")
    with pytest.raises(InvalidArgument, match="topic"):
        tasks.schedule("bad-topic", every(60), "no spaces here")
    with pytest.raises(InvalidArgument, match="not int"):
        tasks.schedule("what", every(60), 42)  # type: ignore[arg-type]
    other = Tasks()

    @other.task
    async def elsewhere() -> None: ...

    with pytest.raises(InvalidArgument, match="another registry"):
        tasks.schedule("foreign", every(60), elsewhere)
    with pytest.raises(InvalidArgument, match="another registry"):
        tasks.schedule("foreign", every(60), elsewhere.call())
    with pytest.raises(InvalidArgument, match="cannot encode|JSON"):
        tasks.schedule("odd", every(60), send_report.call(to=dt.date(2025, 1, 1)))  # type: ignore[arg-type]
    assert tasks.schedules == before
    # schedule= on a task that needs arguments declares neither the task nor a schedule
    with pytest.raises(InvalidArgument, match="needs arguments"):

        @tasks.task(topic="x", schedule=every(60))
        async def needs(n: int) -> None: ...

    assert "needs" not in tasks
    # a schedule named like an existing one declares no task either
    with pytest.raises(InvalidArgument, match="schedule named 'nightly'"):

        @tasks.task(topic="x", schedule=every(60))
        async def nightly() -> None: ...

    assert "nightly" not in tasks
    assert tasks.schedules == before


def test_schedule_objects_validate_themselves() -> None:
    good = Schedule(name="ok", trigger=every(60), topic="t")
    assert good.job_id(utc(2025, 1, 31, 3)) == "sched:ok:20250131T030000Z"
    assert good.job_id(utc(2025, 1, 31, 3) + 0.25) == "sched:ok:20250131T030000.250Z"
    assert len(Schedule(name="n" * 64, trigger=every(1), topic="t").job_id(T0)) <= 128
    for bad in (
        {"name": "x" * 65},
        {"name": ""},
        {"name": "a:b"},
        {"topic": "bad topic"},
        {"priority": 2**40},
        {"max_attempts": 0},
        {"headers": {SCHEDULE_HEADER: "mine"}},
        {"headers": {TICK_HEADER: "mine"}},
        {"payload": "text, not bytes"},
    ):
        fields: dict[str, object] = {"name": "ok", "trigger": every(60), "topic": "t", **bad}
        with pytest.raises(InvalidArgument):
            Schedule(**fields)  # type: ignore[arg-type]


def test_the_idempotency_window_outlasts_every_later_try() -> None:
    minute = schedule(every(60))  # catch_up latest, grace 60
    assert minute.windows([T0, T0 + 60]) == [60 + 60 + 60.0] * 2
    assert schedule(every(60, catch_up="none", grace=5)).windows([T0]) == [65.0]
    assert schedule(every(60, catch_up=10)).windows([T0]) == [600 + 120.0]
    weekdays = schedule(cron("0 9 * * mon-fri", catch_up="latest"))
    friday, monday = utc(2025, 1, 3, 9), utc(2025, 1, 6, 9)
    # Friday's tick stays the latest one until Monday 09:00
    assert weekdays.windows([friday, monday]) == [
        monday - friday + 120,
        86_400 + 120.0,
    ]
    two = schedule(cron("0 9 * * mon-fri", catch_up=2))
    assert two.windows([friday]) == [utc(2025, 1, 7, 9) - friday + 120]


# -- schedulers ----------------------------------------------------------------------------------


@async_test
async def test_two_schedulers_over_100_ticks_create_exactly_100_jobs() -> None:
    start = utc(2025, 1, 1)
    clock = FakeClock(start)
    service = QueueService(MemoryDriver(clock=clock))
    ran: list[str] = []

    async def handle(job: Job) -> None:
        ran.append(job.id)

    await service.subscribe("t", handle, SubscribeOptions(lease=600))
    minute = schedule(every(60, catch_up="none", grace=0))  # each tick exactly on time
    first = Scheduler(service, [minute], clock=clock)
    second = Scheduler(service, [minute], clock=clock)
    async with first, second:
        await settle(first, second)  # 00:00, the first of the 100 ticks
        await service.wait_empty("t", timeout=10)
        for _ in range(99):
            clock.advance(60)
            await settle(first, second)
            await service.wait_empty("t", timeout=10)  # each tick's job ran and ended
    await service.close()
    expected = [minute.job_id(start + 60 * n) for n in range(100)]
    assert sorted(ran) == sorted(expected)
    assert len(set(ran)) == 100
    stats = [first.statistics(), second.statistics()]
    assert sum(s.enqueued for s in stats) == 100
    assert sum(s.duplicates for s in stats) == 100  # the other one tried each tick too


@async_test
async def test_a_late_scheduler_catching_up_re_enqueues_nothing_that_already_ran() -> None:
    clock = FakeClock(T0)
    service = QueueService(MemoryDriver(clock=clock))
    ran: list[str] = []

    async def handle(job: Job) -> None:
        ran.append(job.id)

    consumer = await service.subscribe("t", handle, SubscribeOptions(lease=600))
    catching = schedule(every(60, catch_up=100, grace=0))
    async with Scheduler(service, [catching], clock=clock) as early:
        await settle(early)
        for _ in range(50):
            clock.advance(60)
            await settle(early)
            await service.wait_empty("t", timeout=10)
        done = len(ran)
        assert done == 150  # 100 caught up at the start, then 50
        # a second scheduler starts now: its catch-up covers the 100 latest ticks,
        # every one of which ran and ended already
        async with Scheduler(service, [catching], clock=clock) as late:
            await settle(late)
            await service.wait_empty("t", timeout=10)
            assert late.statistics().enqueued == 0
            assert late.statistics().duplicates == 100
    await service.close()
    await consumer.close()
    assert len(ran) == len(set(ran)) == done


@async_test
async def test_interval_jobs_are_due_at_their_tick_with_headers_and_a_stable_id() -> None:
    clock = FakeClock(utc(2025, 1, 1, 0, 0, 10))
    service = QueueService(MemoryDriver(clock=clock))
    every_90 = Schedule(
        name="ninety",
        trigger=every(90, offset=30, catch_up="none", grace=1),
        topic="t",
        payload=b"p",
        priority=4,
        max_attempts=2,
        headers={"tenant": "acme"},
    )
    async with Scheduler(service, [every_90], clock=clock) as scheduler:
        assert scheduler.next_runs() == [(every_90, utc(2025, 1, 1, 0, 0, 30))]
        clock.set(utc(2025, 1, 1, 0, 0, 30))  # 30 + 90k seconds since the epoch
        await settle(scheduler)
        clock.set(utc(2025, 1, 1, 0, 2, 0))
        await settle(scheduler)
    ids = await all_ids(service)
    assert ids == ["sched:ninety:20250101T000030Z", "sched:ninety:20250101T000200Z"]
    job = await service.get("t", ids[1])
    assert job is not None
    assert (job.payload, job.priority, job.max_attempts) == (b"p", 4, 2)
    assert job.run_at == utc(2025, 1, 1, 0, 2)
    assert dict(job.headers) == {
        "tenant": "acme",
        SCHEDULE_HEADER: "ninety",
        TICK_HEADER: "2025-01-01T00:02:00Z",
    }
    await service.close()


@async_test
async def test_lookahead_enqueues_early_and_the_job_is_due_at_its_tick() -> None:
    clock = FakeClock(utc(2025, 1, 1, 0, 0, 30))
    service = QueueService(MemoryDriver(clock=clock))
    minute = schedule(every(60, catch_up="none", grace=0))
    async with Scheduler(service, [minute], clock=clock, lookahead=10) as scheduler:
        clock.advance(15)  # 00:00:45: nothing within 10 s yet
        await settle(scheduler)
        assert await all_ids(service) == []
        clock.advance(10)  # 00:00:55: the 00:01:00 tick is within the lookahead
        await settle(scheduler)
        job = await service.get("t", "sched:tick:20250101T000100Z")
        assert job is not None
        assert (job.state, job.run_at) == (JobState.SCHEDULED, utc(2025, 1, 1, 0, 1))
    await service.close()


@pytest.mark.parametrize(
    ("catch_up", "expected_missed"),
    [("none", 0), ("latest", 1), (3, 3), (50, 8)],
)
@async_test
async def test_catch_up_after_downtime(catch_up: object, expected_missed: int) -> None:
    """The scheduler stops at 00:00:30 and starts again at 00:09:30: the
    ticks 00:01 .. 00:08 were missed (00:09 is within the grace)."""
    clock = FakeClock(utc(2025, 1, 1, 0, 0, 30))
    service = QueueService(MemoryDriver(clock=clock))
    minute = schedule(every(60, catch_up=catch_up, grace=45))  # type: ignore[arg-type]
    async with Scheduler(service, [minute], clock=clock) as before:
        await settle(before)
    first = await all_ids(service)
    assert minute.job_id(utc(2025, 1, 1)) in first
    clock.set(utc(2025, 1, 1, 0, 9, 30))
    async with Scheduler(service, [minute], clock=clock) as after:
        await settle(after)
    added = sorted(set(await all_ids(service)) - set(first))
    assert after.statistics().enqueued == len(added)
    missed = [minute.job_id(utc(2025, 1, 1, 0, m)) for m in range(1, 9)]
    assert [t for t in added if t in missed] == missed[len(missed) - expected_missed :]
    assert minute.job_id(utc(2025, 1, 1, 0, 9)) in added  # on time
    assert len(added) == expected_missed + 1
    await service.close()


@async_test
async def test_a_restart_within_the_grace_loses_no_tick_even_without_catch_up() -> None:
    clock = FakeClock(utc(2025, 1, 1, 2, 59, 50))
    service = QueueService(MemoryDriver(clock=clock))
    nightly = schedule(cron("0 3 * * *", catch_up="none"), "nightly")  # grace 60
    async with Scheduler(service, [nightly], clock=clock) as before:
        await settle(before)
    clock.set(utc(2025, 1, 1, 3, 0, 40))  # the deploy took 50 s, across 03:00
    async with Scheduler(service, [nightly], clock=clock) as after:
        await settle(after)
    assert await all_ids(service) == ["sched:nightly:20250101T030000Z"]
    await service.close()


@async_test
async def test_a_clock_jump_while_running_follows_the_policy_and_counts_what_it_skips(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(utc(2025, 1, 1, 0, 0, 30))
    service = QueueService(MemoryDriver(clock=clock))
    minute = schedule(every(60, catch_up="latest", grace=0))
    caplog.set_level(logging.WARNING, "queue_core.schedules")
    async with Scheduler(service, [minute], clock=clock) as scheduler:
        await settle(scheduler)
        before = set(await all_ids(service))
        clock.advance(10 * 60)  # 00:10:30, as if the process had been frozen
        await settle(scheduler)
        added = sorted(set(await all_ids(service)) - before)
        assert added == [minute.job_id(utc(2025, 1, 1, 0, 10))]
        assert scheduler.statistics().skipped == 9  # 00:01 .. 00:09
    assert any("9 missed tick(s)" in r.getMessage() for r in caplog.records)
    await service.close()


class FlakyDriver(MemoryDriver):
    """Enqueues fail while ``down`` is set."""

    down = False
    calls = 0

    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        self.calls += 1
        if self.down:
            raise BackendUnavailable("connection refused (test)")
        return await super().enqueue(topic, jobs)


@async_test
async def test_a_scheduler_whose_enqueue_fails_keeps_going(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(utc(2025, 1, 1, 0, 0, 30))
    driver = FlakyDriver(clock=clock)
    service = QueueService(driver)
    minute = schedule(every(60, catch_up="latest", grace=30))
    other = schedule(every(60, offset=15, catch_up="latest", grace=30), "other", "u")
    scheduler = Scheduler(service, [minute, other], clock=clock, retry=FAST_RETRY)
    caplog.set_level(logging.INFO, "queue_core.schedules")
    async with scheduler:
        await settle(scheduler)
        driver.down = True
        for _ in range(5):  # five minutes of outage
            clock.advance(60)
            await settle(scheduler)
        calls = driver.calls
        for _ in range(500):  # it keeps retrying, with backoff
            if driver.calls >= calls + 5:
                break
            await asyncio.sleep(0.01)
        assert driver.calls >= calls + 5
        assert scheduler.statistics().failures >= 5
        assert scheduler._task is not None
        assert not scheduler._task.done()
        driver.down = False
        for _ in range(200):
            await asyncio.sleep(0.01)
            if "sched:tick:20250101T000500Z" in await all_ids(service):
                break
        await settle(scheduler)
        clock.advance(60)
        await settle(scheduler)
    ids = await all_ids(service)
    # at the start: the latest missed tick (23:59) and the one on time (00:00); after the
    # outage: the latest missed one (00:04) and the on-time one (00:05, within the 30 s
    # grace); then 00:06 as usual. 00:01 .. 00:03 are skipped.
    assert ids == [minute.job_id(utc(2024, 12, 31, 23, 59))] + [
        minute.job_id(utc(2025, 1, 1, 0, m)) for m in (0, 4, 5, 6)
    ]
    assert len(await all_ids(service, "u")) == 5
    messages = [r.getMessage() for r in caplog.records]
    assert any("failed (BackendUnavailable" in m and "retrying in" in m for m in messages)
    assert any("enqueued again after" in m for m in messages)
    await service.close()


@async_test
async def test_a_tick_that_can_never_be_enqueued_is_skipped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(utc(2025, 1, 1, 0, 0, 30))
    service = QueueService(MemoryDriver(clock=clock, max_payload_bytes=10))
    too_big = Schedule(name="big", trigger=every(60), topic="t", payload=b"x" * 100)
    fine = schedule(every(60), "fine", "u")
    async with Scheduler(service, [too_big, fine], clock=clock) as scheduler:
        await settle(scheduler)
        clock.advance(60)
        await settle(scheduler)
        assert scheduler.statistics().failures == 2
    assert await all_ids(service) == []
    assert len(await all_ids(service, "u")) == 3
    assert any("cannot be enqueued" in r.getMessage() for r in caplog.records)
    await service.close()


@async_test
async def test_run_due_is_one_pass_and_raises_what_failed() -> None:
    clock = FakeClock(utc(2025, 1, 1, 0, 0, 30))
    driver = FlakyDriver(clock=clock)
    service = QueueService(driver)
    scheduler = Scheduler(service, [schedule(every(60, catch_up="none", grace=0))], clock=clock)
    assert await scheduler.run_due() == []
    clock.advance(30)
    (result,) = await scheduler.run_due()
    assert (result.schedule, result.tick, result.created) == ("tick", utc(2025, 1, 1, 0, 1), True)
    assert result.job_id == "sched:tick:20250101T000100Z"
    assert await scheduler.run_due() == []  # handled already
    driver.down = True
    clock.advance(60)
    with pytest.raises(BackendUnavailable):
        await scheduler.run_due()
    driver.down = False
    (again,) = await scheduler.run_due()
    assert again.tick == utc(2025, 1, 1, 0, 2)
    await service.close()


@async_test
async def test_an_idle_scheduler_on_a_fake_clock_makes_no_calls_until_the_clock_moves() -> None:
    clock = FakeClock(utc(2025, 1, 1, 0, 0, 30))
    driver = FlakyDriver(clock=clock)
    service = QueueService(driver)
    async with Scheduler(service, [schedule(every(60))], clock=clock) as scheduler:
        await settle(scheduler)
        calls = driver.calls
        for _ in range(20):
            await asyncio.sleep(0.005)
        assert driver.calls == calls
        clock.advance(30)
        await settle(scheduler)
        assert driver.calls == calls + 1
    await service.close()


@async_test
async def test_a_closed_service_stops_the_scheduler_quietly() -> None:
    clock = FakeClock(T0)
    service = QueueService(MemoryDriver(clock=clock))
    scheduler = Scheduler(service, [schedule(every(60))], clock=clock)
    await scheduler.start()
    await service.close()
    clock.advance(120)
    task = scheduler._task
    assert task is not None
    await asyncio.wait_for(task, 5)
    await scheduler.stop()
    with pytest.raises(Closed):
        await scheduler.run_due()


@async_test
async def test_run_runs_until_cancelled() -> None:
    clock = FakeClock(utc(2025, 1, 1, 0, 0, 30))
    service = QueueService(MemoryDriver(clock=clock))
    scheduler = Scheduler(service, [schedule(every(60, catch_up="none", grace=0))], clock=clock)
    running = asyncio.create_task(scheduler.run())
    for _ in range(100):
        if scheduler._task is not None:
            break
        await asyncio.sleep(0)
    clock.advance(30)
    await settle(scheduler)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert await all_ids(service) == ["sched:tick:20250101T000100Z"]
    await service.close()


def test_scheduler_arguments_are_checked() -> None:
    service = QueueService(MemoryDriver())
    one = schedule(every(60))
    with pytest.raises(InvalidArgument, match="named 'tick'"):
        Scheduler(service, [one, schedule(every(30))])
    with pytest.raises(InvalidArgument, match="Schedule objects"):
        Scheduler(service, [every(60)])  # type: ignore[list-item]
    with pytest.raises(InvalidArgument, match="lookahead"):
        Scheduler(service, [one], lookahead=7200)
    with pytest.raises(InvalidArgument, match="QueueService"):
        Scheduler(object(), [one])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="clock"):
        Scheduler(service, [one], clock=object())  # type: ignore[arg-type]
    assert Scheduler(service, one).schedules == (one,)


@async_test
async def test_a_registry_schedule_runs_its_task_with_the_declared_arguments() -> None:
    clock = FakeClock(utc(2025, 1, 1, 2, 59, 59))
    tasks = Tasks()
    sent: list[tuple[str, str, str]] = []

    @tasks.task(topic="reports")
    async def send_report(job: Job, to: str, kind: str = "daily") -> None:
        sent.append((to, kind, job.headers[TICK_HEADER]))

    nightly = cron("0 3 * * *", catch_up="none")
    tasks.schedule("nightly", nightly, send_report.call(to="ops@example.com"))
    service = QueueService(MemoryDriver(clock=clock))
    consumers = await tasks.subscribe(service)
    async with Scheduler(service, tasks.schedules, clock=clock) as scheduler:
        clock.advance(1)
        await settle(scheduler)
        await consumers[0].wait_idle()
    assert sent == [("ops@example.com", "daily", "2025-01-01T03:00:00Z")]
    await service.close()


# -- the package ---------------------------------------------------------------------------------


def test_the_package_exports_exactly_its_public_names_from_private_modules() -> None:
    module = queue_core.schedules
    public = sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    )
    assert sorted(module.__all__) == public
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__.startswith("queue_core.schedules._"), name


def test_import_queue_core_imports_neither_croniter_nor_the_schedules() -> None:
    code = (
        "import sys, queue_core\n"
        "from queue_core import Tasks\n"
        "tasks = Tasks()\n"
        "@tasks.task\n"
        "async def f() -> None: ...\n"
        "print(sorted(m for m in sys.modules if 'croniter' in m or 'schedules' in m))\n"
        "from queue_core.schedules import every\n"
        "tasks.schedule('x', every(60), f)\n"
        "print('croniter' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split("\n")[:2] == ["[]", "False"]


def test_cron_without_croniter_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['croniter'] = None\n"
        "from queue_core.schedules import cron, every\n"
        "every(60)\n"
        "try:\n"
        "    cron('0 3 * * *')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "pip install 'queue-toolkit[schedules]'" in done.stdout


def test_enqueue_options_of_a_tick() -> None:
    tick = utc(2025, 1, 1, 3)
    options = schedule(every(60)).job_options(tick, 180.0)
    assert isinstance(options, EnqueueOptions)
    assert (options.run_at, options.job_id, options.idempotency_window) == (
        tick,
        "sched:tick:20250101T030000Z",
        180.0,
    )
