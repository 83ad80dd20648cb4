"""Scenario checks: wait() and wake-ups (contract point 15). A consumer
with nothing to do blocks in ``wait``; it must come back at once when work
may be claimable, and not before (no busy polling). Time bounds are on the
wall clock but short; the jobs' own times are on the fake clock except
where the driver must find the next due time by itself."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from queue_core import DEAD_SUFFIX, Driver, Job, NewJob, SubscribeOptions, TopicLimits

from ._checks_limits import limited_driver
from ._context import REAL_TIME, KitContext, KitSkip, check, only
from ._probes import (
    CountingDriver,
    blocked_wait,
    idle_returns,
    returns_within,
    together,
    woken,
)

__all__: list[str] = []


async def _claim_one(driver: Driver, topic: str, lease: float = 10.0) -> Job:
    return only(await driver.claim(topic, max_jobs=1, lease=lease), f"claim from {topic}")


@check(15, tier=REAL_TIME)
async def check_wait_returns_at_once_when_work_is_claimable(ctx: KitContext) -> None:
    """wait() returns at once when a job is claimable now: a ready job, a
    scheduled job whose due time has passed, an expired lease, a dead
    letter (on the dead-letter topic)."""
    driver = await ctx.driver()
    ready, due, expired = ctx.topic("w-ready"), ctx.topic("w-due"), ctx.topic("w-expired")
    await driver.enqueue(ready, [NewJob(id="r", payload=b"")])
    await returns_within(driver, ready, "a job is ready")
    await driver.enqueue(due, [NewJob(id="d", payload=b"", delay=1.0)])
    await driver.enqueue(expired, [NewJob(id="e", payload=b"")])
    await _claim_one(driver, expired, lease=1.0)
    ctx.clock.advance(2.0)
    await returns_within(driver, due, "a scheduled job's due time has passed (nobody claimed yet)")
    await returns_within(driver, expired, "a lease has expired (nobody reaped yet)")
    again = await _claim_one(driver, expired)
    await driver.dead_letter(expired, again.id, again.lease_token or "", error="x")
    await returns_within(driver, expired + DEAD_SUFFIX, "a dead letter is ready")


@check(15, tier=REAL_TIME)
async def check_idle_wait_does_not_poll(ctx: KitContext) -> None:
    """On a topic with nothing claimable, wait() blocks until its timeout
    (an early return now and then is allowed, returning at once again and
    again is not): empty, after hundreds of enqueues were drained, with only
    a future job, with only a live lease; and an idle consumer makes few
    backend calls."""
    driver = await ctx.driver()
    empty, drained, future, leased = (ctx.topic(h) for h in ("i-empty", "i-drained", "i-f", "i-l"))
    for i in range(300):
        await driver.enqueue(drained, [NewJob(id=f"d{i}", payload=b"")])
    for _ in range(300):
        jobs = await driver.claim(drained, max_jobs=100, lease=60)
        if not jobs:
            break
        await driver.ack_many(drained, [(j.id, j.lease_token or "") for j in jobs])
    remaining = (await driver.counts(drained)).total
    assert remaining == 0, f"{remaining} jobs left after claiming and acking all 300"
    await driver.enqueue(future, [NewJob(id="f", payload=b"", delay=3600)])
    await driver.enqueue(leased, [NewJob(id="l", payload=b"")])
    await _claim_one(driver, leased, lease=3600)
    await together(
        idle_returns(driver, empty, "an empty topic"),
        idle_returns(driver, drained, "300 jobs enqueued one by one, all claimed and acked"),
        idle_returns(driver, future, "only a job due in an hour"),
        idle_returns(driver, leased, "only a job leased for an hour"),
    )
    counting = CountingDriver(await ctx.driver())
    service = await ctx.service(counting)
    topic = ctx.topic("i-consumer")

    async def handler(job: Job) -> None:
        raise AssertionError("no job was enqueued")

    await service.subscribe(topic, handler, SubscribeOptions(poll_interval=0.25))
    await asyncio.sleep(1.0)
    calls = sum(counting.calls.values())
    assert calls <= 30, (
        f"an idle consumer (poll_interval 0.25 s) made {calls} backend calls in 1 s "
        f"({dict(counting.calls)}): busy polling"
    )


@check(15, tier=REAL_TIME)
async def check_every_move_wakes_waiters(ctx: KitContext) -> None:
    """A blocked wait() ends at once (within a second) after each move that
    can make work claimable: an enqueue, a retry due now, a release, a
    redrive, a dead-letter and the reaper's dead-lettering (on the
    dead-letter topic), the clock reaching a due time or a lease deadline,
    and close()."""
    driver = await ctx.driver()
    if not driver.capabilities.push_wakeup:
        raise KitSkip("needs capabilities.push_wakeup (wait() wakes when work arrives)")

    async def case(
        event: str,
        prepare: Callable[[str], Awaitable[object]],
        act: Callable[[str], Awaitable[object]],
        on: Callable[[str], str] = lambda topic: topic,
    ) -> None:
        topic = ctx.topic("wake")
        await prepare(topic)
        task = await blocked_wait(driver, on(topic), f"before {event}")
        await act(topic)
        await woken(task, event)

    async def nothing(topic: str) -> None:
        return None

    async def held(topic: str, **fields: object) -> Job:
        await driver.enqueue(topic, [NewJob(id="j", payload=b"", **fields)])  # type: ignore[arg-type]
        return await _claim_one(driver, topic)

    async def dead(topic: str) -> None:
        job = await held(topic)
        await driver.dead_letter(topic, job.id, job.lease_token or "", error="x")

    async def expiring(topic: str) -> None:
        await held(topic, max_attempts=1)
        ctx.clock.advance(10.0)  # expired; the advance itself woke nobody yet

    tokens: dict[str, str] = {}

    async def holding(topic: str) -> None:
        tokens[topic] = (await held(topic)).lease_token or ""

    await case(
        "an enqueue",
        nothing,
        lambda t: driver.enqueue(t, [NewJob(id="e", payload=b"")]),
    )
    await case(
        "a retry due now",
        holding,
        lambda t: driver.retry(t, "j", tokens[t], delay=0, error="x"),
    )
    await case("a release", holding, lambda t: driver.release(t, "j", tokens[t]))
    await case("a redrive", dead, lambda t: driver.redrive(t))
    await case(
        "a dead-letter (waiting on the dead-letter topic)",
        holding,
        lambda t: driver.dead_letter(t, "j", tokens[t], error="x"),
        on=lambda t: t + DEAD_SUFFIX,
    )
    await case(
        "the reaper dead-lettering an expired job (waiting on the dead-letter topic)",
        expiring,
        lambda t: driver.reap(t),
        on=lambda t: t + DEAD_SUFFIX,
    )

    async def advance(seconds: float) -> None:
        ctx.clock.advance(seconds)

    await case(
        "the clock reaching a scheduled job's due time",
        lambda t: driver.enqueue(t, [NewJob(id="s", payload=b"", delay=5)]),
        lambda t: advance(5.0),
    )
    await case("the clock passing a lease deadline", holding, lambda t: advance(10.0))
    closing = await ctx.driver()
    topic = ctx.topic("wake-close")
    task = await blocked_wait(closing, topic, "before close()")
    await closing.close()
    await woken(task, "close()")


@check(15, tier=REAL_TIME)
async def check_wait_ends_at_the_next_due_time(ctx: KitContext) -> None:
    """On the real clock, with nothing else happening, a blocked wait()
    returns when the earliest scheduled job comes due or the earliest lease
    expires (not after its whole timeout), so the job is claimed within a
    second of its time, and not before."""
    driver = await ctx.driver(fake_clock=False)
    loop = asyncio.get_running_loop()
    delayed, leased = ctx.topic("due-delay"), ctx.topic("due-lease")
    start = loop.time()
    await driver.enqueue(delayed, [NewJob(id="soon", payload=b"", delay=0.3)])
    await driver.enqueue(leased, [NewJob(id="lease", payload=b"")])
    await _claim_one(driver, leased, lease=0.3)
    assert await driver.claim(delayed, max_jobs=1, lease=5) == [], "claimable before its delay"

    async def claimed_after(topic: str, what: str) -> None:
        while loop.time() - start < 3.0:
            await driver.wait(topic, 3.0)
            if await driver.claim(topic, max_jobs=1, lease=30):
                elapsed = loop.time() - start
                assert elapsed >= 0.29, f"{what} was claimed after {elapsed:.3f} s, too early"
                assert elapsed < 1.3, (
                    f"{what} was claimed {elapsed:.2f} s later: wait() must end at the next "
                    "due time or lease deadline, not at its timeout"
                )
                return
        raise AssertionError(f"{what} was not claimable within 3 s")

    await together(
        claimed_after(delayed, "a job delayed by 0.3 s"),
        claimed_after(leased, "a job leased for 0.3 s"),
    )


@check(15, 21, tier=REAL_TIME)
async def check_limited_topic_wait_blocks_until_a_slot_opens(ctx: KitContext) -> None:
    """(limits) With a ready job but no free slot, wait() blocks (no busy
    polling) and returns when a slot opens: an ack frees an in-flight slot,
    the rate window moving on frees a rate slot (on the fake clock, and on
    the real clock with nothing else happening)."""
    driver = await limited_driver(ctx)
    topic = ctx.topic("slot")
    await driver.enqueue(topic, [NewJob(id=f"s{i}", payload=b"") for i in range(2)])
    await driver.set_limits(topic, TopicLimits(max_in_flight=1))
    held = only(await driver.claim(topic, max_jobs=2, lease=60), "claim under max_in_flight=1")
    situation = "a ready job but no free in-flight slot"
    await idle_returns(driver, topic, situation)
    task = await blocked_wait(driver, topic, situation)
    await driver.ack(topic, held.id, held.lease_token or "")
    await woken(task, "an ack that freed the in-flight slot")
    rated = ctx.topic("slot-rate")
    await driver.enqueue(rated, [NewJob(id=f"s{i}", payload=b"") for i in range(2)])
    await driver.set_limits(rated, TopicLimits(rate=1, per=10.0))
    await driver.claim(rated, max_jobs=2, lease=60)
    situation = "a ready job but the rate window is full"
    await idle_returns(driver, rated, situation)
    task = await blocked_wait(driver, rated, situation)
    ctx.clock.advance(10.0)
    await woken(task, "the clock moving the rate window on")
    real = await limited_driver(ctx, fake_clock=False)
    live = ctx.topic("slot-real")
    await real.enqueue(live, [NewJob(id=f"s{i}", payload=b"") for i in range(2)])
    await real.set_limits(live, TopicLimits(rate=1, per=0.3))
    loop = asyncio.get_running_loop()
    start = loop.time()
    await real.claim(live, max_jobs=2, lease=60)
    while loop.time() - start < 3.0:
        await real.wait(live, 3.0)
        if await real.claim(live, max_jobs=1, lease=60):
            elapsed = loop.time() - start
            assert elapsed >= 0.29, (
                f"a second claim got through {elapsed:.3f} s into a 0.3 s window"
            )
            assert elapsed < 1.3, (
                f"the second job was claimed {elapsed:.2f} s later under rate 1 per 0.3 s: "
                "wait() must end when the rate window frees a slot"
            )
            return
    raise AssertionError("under rate 1 per 0.3 s the second job was not claimed within 3 s")
