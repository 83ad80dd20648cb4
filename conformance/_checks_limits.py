"""Scenario checks: topic limits (contract point 21), enforced by the
backend across every consumer and driver object."""

from __future__ import annotations

import asyncio

from queue_core import Driver, JobState, NewJob, TopicLimits

from ._context import KitContext, KitSkip, check, only

__all__ = ["limited_driver"]


async def limited_driver(ctx: KitContext, fake_clock: bool = True) -> Driver:
    driver = await ctx.driver(fake_clock=fake_clock)
    if not driver.capabilities.limits:
        raise KitSkip("needs capabilities.limits")
    return driver


async def _claim_together(drivers: list[Driver], topic: str, claimers: int = 50) -> int:
    """``claimers`` concurrent claims of up to 2 jobs each, spread over
    ``drivers``; how many jobs they got in all."""
    results = await asyncio.gather(
        *(drivers[i % len(drivers)].claim(topic, max_jobs=2, lease=60) for i in range(claimers))
    )
    return sum(len(jobs) for jobs in results)


@check(21)
async def check_in_flight_limit_holds_under_concurrency(ctx: KitContext) -> None:
    """(limits) 50 concurrent claimers (through two driver objects when the
    harness makes peers) never hold more than max_in_flight jobs; an ack
    frees exactly one slot; the limits are stored in the backend
    (get_limits, from the peer too); TopicLimits() removes them."""
    driver = await limited_driver(ctx)
    peer = await ctx.peer(driver)
    drivers = [driver] if peer is None else [driver, peer]
    topic = ctx.topic("inflight")
    await driver.enqueue(topic, [NewJob(id=f"j{i:02d}", payload=b"") for i in range(20)])
    limits = TopicLimits(max_in_flight=3)
    await driver.set_limits(topic, limits)
    for reader in drivers:
        stored = await reader.get_limits(topic)
        assert stored == limits, f"get_limits returned {stored} after set_limits({limits})"
    through = "two driver objects" if peer is not None else "one driver object"
    got = await _claim_together(drivers, topic)
    assert got == 3, f"50 concurrent claimers through {through} got {got} jobs; max_in_flight is 3"
    in_flight = (await driver.counts(topic)).in_flight
    assert in_flight == 3, f"{in_flight} jobs in flight under max_in_flight=3"
    held = only(
        await driver.list_jobs(topic, JobState.IN_FLIGHT, limit=1),
        "list_jobs(in_flight, limit=1)",
    )
    await driver.ack(topic, held.id, held.lease_token or "")
    got = await _claim_together(drivers, topic)
    assert got == 1, f"after one ack, 50 concurrent claimers got {got} jobs (one slot was free)"
    await driver.set_limits(topic, TopicLimits())
    stored = await drivers[-1].get_limits(topic)
    assert stored == TopicLimits(), f"get_limits returned {stored} after the limits were removed"
    more = await driver.claim(topic, max_jobs=10, lease=60)
    assert len(more) == 10, f"after removing the limits a claim of 10 got {len(more)}"


@check(21)
async def check_rate_limit_is_a_sliding_window(ctx: KitContext) -> None:
    """(limits) At most ``rate`` claims within any window of ``per`` seconds
    (a sliding window, not fixed buckets), however many claimers; acks do
    not refill the window."""
    driver = await limited_driver(ctx)
    peer = await ctx.peer(driver)
    drivers = [driver] if peer is None else [driver, peer]
    topic = ctx.topic("rate")
    await driver.enqueue(topic, [NewJob(id=f"r{i:02d}", payload=b"") for i in range(30)])
    await driver.set_limits(topic, TopicLimits(rate=4, per=10.0))
    start = ctx.clock.now()
    first = await driver.claim(topic, max_jobs=2, lease=600)
    assert len(first) == 2, f"the first claim under rate 4/10 s got {len(first)} of 2"
    for at, expected, why in (
        (6.0, 2, "2 of 4 claims were used in the last 10 s"),
        (9.999, 0, "4 claims were made in the last 10 s"),
        (10.0, 2, "the 2 claims at 0 s left the window; the 2 at 6 s are still in it"),
        (15.999, 0, "4 claims were made in the last 10 s"),
        (16.0, 2, "the 2 claims at 6 s left the window"),
    ):
        ctx.clock.set(start + at)
        got = await _claim_together(drivers, topic)
        assert got == expected, (
            f"at {at} s, 50 concurrent claimers got {got} jobs under rate 4 per 10 s, "
            f"expected {expected}: {why}"
        )
    held = await driver.list_jobs(topic, JobState.IN_FLIGHT, limit=100)
    await driver.ack_many(topic, [(j.id, j.lease_token or "") for j in held])
    got = await _claim_together(drivers, topic)
    assert got == 0, f"acks refilled the rate window: {got} more claims at 16 s"
