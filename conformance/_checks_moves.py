"""Scenario checks: the order of moves between topics (contract point 9)
and the bounds of every call that takes a limit (contract point 17)."""

from __future__ import annotations

import asyncio

from queue_core import DEAD_SUFFIX, Driver, JobState, NewJob

from ._context import KitContext, check, only

__all__: list[str] = []


async def _kill(driver: Driver, topic: str, ids: list[str]) -> None:
    """Claim exactly ``ids`` (the only ready jobs, in this order) and
    dead-letter them in that order."""
    jobs = await driver.claim(topic, max_jobs=len(ids), lease=60)
    got = [job.id for job in jobs]
    assert sorted(got) == sorted(ids), f"claimed {got} from {topic}, expected {ids}"
    by_id = {job.id: job for job in jobs}
    for job_id in ids:
        await driver.dead_letter(topic, job_id, by_id[job_id].lease_token or "", error="dead")


async def _order(driver: Driver, topic: str) -> list[str]:
    return [job.id for job in await driver.list_jobs(topic, JobState.READY, limit=1000)]


@check(3, 9)
async def check_dead_letters_and_redriven_jobs_get_new_sequences(ctx: KitContext) -> None:
    """A dead letter takes the next sequence of the dead-letter topic (dead
    letters of equal priority and death time are ordered by when they
    died, not by their old place in the source), and a redriven job takes
    the next sequence of its topic (it queues behind jobs enqueued before
    the redrive in the same millisecond)."""
    driver = await ctx.driver()
    topic = ctx.topic("seq")
    dead = topic + DEAD_SUFFIX
    await driver.enqueue(topic, [NewJob(id=i, payload=b"") for i in ("first", "second")])
    jobs = {job.id: job for job in await driver.claim(topic, max_jobs=2, lease=60)}
    assert set(jobs) == {"first", "second"}, f"claimed {sorted(jobs)}"
    for job_id in ("second", "first"):  # die in the other order, within one millisecond
        await driver.dead_letter(topic, job_id, jobs[job_id].lease_token or "", error="x")
    order = await _order(driver, dead)
    assert order == ["second", "first"], (
        f"dead letters listed as {order}: a dead letter takes the dead-letter topic's next "
        "sequence (equal priority and due time go by the order they died)"
    )
    ctx.clock.advance(1.0)
    await driver.enqueue(topic, [NewJob(id="live", payload=b"")])
    moved = await driver.redrive(topic, ["second"])
    assert moved == 1, f"redrive(['second']) moved {moved}"
    order = await _order(driver, topic)
    assert order == ["live", "second"], (
        f"ready jobs after a redrive: {order}: a redriven job takes its topic's next sequence "
        "(behind 'live', enqueued earlier in the same millisecond)"
    )


@check(9)
async def check_redrive_keeps_the_dead_letter_order(ctx: KitContext) -> None:
    """Redrive (all, or by ids given in any order) moves ready dead letters
    first, in claim order, then scheduled ones by due time: with equal
    priorities the jobs queue in that order in the source topic."""
    driver = await ctx.driver()
    topic = ctx.topic("redrive-order")
    dead = topic + DEAD_SUFFIX
    # ids sort differently from their expected order, so that a driver
    # that moves dead letters by id (or in a hash order) is caught
    await driver.enqueue(topic, [NewJob(id="z-d0", payload=b"", priority=5)])
    await _kill(driver, topic, ["z-d0"])
    ctx.clock.advance(0.5)
    await driver.enqueue(topic, [NewJob(id="hp", payload=b"", priority=9)])
    await driver.enqueue(topic, [NewJob(id="low", payload=b"", priority=1)])
    await driver.enqueue(
        topic, [NewJob(id=i, payload=b"", priority=5) for i in ("c-d1", "x-d2", "a-d3")]
    )
    await driver.enqueue(
        topic, [NewJob(id=i, payload=b"", priority=5) for i in ("b-s1", "m-s2", "y-s3")]
    )
    await _kill(driver, topic, ["hp", "low", "c-d1", "x-d2", "a-d3", "b-s1", "m-s2", "y-s3"])
    # three dead letters become scheduled in the dead-letter topic
    held = {job.id: job for job in await driver.claim(dead, max_jobs=9, lease=60)}
    for job_id, delay in (("b-s1", 60.0), ("m-s2", 30.0), ("y-s3", 45.0)):
        await driver.retry(dead, job_id, held.pop(job_id).lease_token or "", delay=delay, error="e")
    for job in held.values():
        await driver.release(dead, job.id, job.lease_token or "")
    ready = await _order(driver, dead)
    assert ready == ["hp", "z-d0", "c-d1", "x-d2", "a-d3", "low"], f"dead letters ready: {ready}"
    ids = ["y-s3", "a-d3", "m-s2", "z-d0", "c-d1", "nope"]
    moved = await driver.redrive(topic, ids)
    assert moved == 5, f"redrive of 5 dead letters by id (one unknown) moved {moved}"
    order = await _order(driver, topic)
    expected = ["z-d0", "c-d1", "a-d3", "m-s2", "y-s3"]
    assert order == expected, (
        f"after redrive({ids}) the topic's claim order is {order}, expected {expected}: "
        "ready dead letters first (in claim order), then scheduled ones by due time"
    )
    ctx.clock.advance(1.0)
    moved = await driver.redrive(topic)
    assert moved == 4, f"redrive of the 4 remaining dead letters moved {moved}"
    order = await _order(driver, topic)
    expected = ["hp", *expected, "x-d2", "b-s1", "low"]
    assert order == expected, (
        f"after redrive() the topic's claim order is {order}, expected {expected}: ready dead "
        "letters first (priority, then due time, then sequence), then scheduled ones by due time"
    )
    assert (await driver.counts(topic)).dead == 0, "dead letters left after redriving all"


@check(17)
async def check_list_limits_and_offsets(ctx: KitContext) -> None:
    """list_jobs returns exactly min(limit, what is left after offset) jobs
    in every state, 100 by default; pages of any size put together are the
    whole list, in order."""
    driver = await ctx.driver()
    topic = ctx.topic("pages")
    jobs = [NewJob(id=f"p{i:03d}", payload=b"", priority=i % 3) for i in range(150)]
    await driver.enqueue(topic, jobs)
    await driver.enqueue(
        topic, [NewJob(id=f"s{i:03d}", payload=b"", delay=i + 1) for i in range(120)]
    )
    await driver.claim(topic, max_jobs=105, lease=60)
    sizes = {JobState.READY: 45, JobState.SCHEDULED: 120, JobState.IN_FLIGHT: 105}
    for state, size in sizes.items():
        full = [job.id for job in await driver.list_jobs(topic, state, limit=1000)]
        assert len(full) == size, f"list_jobs({state.value}, limit=1000) returned {len(full)}"
        default = await driver.list_jobs(topic, state)
        assert len(default) == min(100, size), (
            f"list_jobs({state.value}) without a limit returned {len(default)} of {size} "
            "jobs; the default limit is 100"
        )
        for limit in (1, 2, 7, size - 1, size, size + 1):
            got = await driver.list_jobs(topic, state, limit=limit)
            assert len(got) == min(limit, size), (
                f"list_jobs({state.value}, limit={limit}) returned {len(got)} of {size} jobs"
            )
        for page in (1, 7, 50):
            pieces: list[str] = []
            for offset in range(0, size + page, page):
                got = await driver.list_jobs(topic, state, limit=page, offset=offset)
                assert len(got) == max(0, min(page, size - offset)), (
                    f"list_jobs({state.value}, limit={page}, offset={offset}) returned "
                    f"{len(got)} of {size} jobs"
                )
                pieces += [job.id for job in got]
            assert pieces == full, (
                f"pages of {page} {state.value} jobs put together differ from the whole list: "
                f"{pieces[:10]}... instead of {full[:10]}..."
            )


@check(5, 17)
async def check_reap_and_claim_bounds(ctx: KitContext) -> None:
    """A claim of a whole batch (max_jobs = capabilities.max_batch) leases
    exactly that many distinct jobs; reap(limit=n) moves exactly n of more
    expired leases, and at most 1000 by default."""
    driver = await ctx.driver()
    topic = ctx.topic("bounds")
    batch = driver.capabilities.max_batch
    total = 1005
    jobs = [NewJob(id=f"b{i:04d}", payload=b"") for i in range(total)]
    for start in range(0, total, batch):
        await driver.enqueue(topic, jobs[start : start + batch])
    first = min(batch, total)
    try:
        claimed = await driver.claim(topic, max_jobs=first, lease=1)
    except Exception as exc:
        raise AssertionError(
            f"claim(max_jobs={first}) of {total} ready jobs (max_batch is {batch}) failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    ids = {job.id for job in claimed}
    assert len(claimed) == first, (
        f"claim(max_jobs={first}) of {total} ready jobs returned {len(claimed)}"
    )
    assert len(ids) == first, f"a claim of {first} jobs returned {first - len(ids)} duplicates"
    for _ in range(total // batch + 2):  # bounded: a claim may repeat itself
        if len(ids) >= total:
            break
        more = {job.id for job in await driver.claim(topic, max_jobs=batch, lease=1)}
        assert more - ids, (
            f"{total - len(ids)} ready jobs were not claimable"
            if not more
            else f"claim returned {len(more)} jobs that were already leased"
        )
        ids |= more
    assert len(ids) == total, f"claimed {len(ids)} of {total} ready jobs"
    in_flight = (await driver.counts(topic)).in_flight
    assert in_flight == total, f"{in_flight} jobs in flight after claiming all {total}"
    ctx.clock.advance(2)
    moved = await driver.reap(topic, limit=3)
    assert moved == 3, f"reap(limit=3) with {total} expired leases moved {moved}"
    moved = await driver.reap(topic)
    assert moved == 1000, (
        f"reap() with {total - 3} expired leases moved {moved}; the default limit is 1000"
    )
    moved = await driver.reap(topic)
    assert moved == total - 1003, f"the last reap() moved {moved}, expected {total - 1003}"


@check(9, 17)
async def check_redrive_all_with_shadowed_dead_letters(ctx: KitContext) -> None:
    """Redrive of all dead letters returns promptly and moves exactly those
    whose id is not live in the topic, even when most are shadowed."""
    driver = await ctx.driver()
    topic = ctx.topic("shadow")
    await driver.enqueue(
        topic, [NewJob(id=f"s{i:03d}", payload=b"", max_attempts=1) for i in range(250)]
    )
    claimed = await driver.claim(topic, max_jobs=250, lease=1)
    assert len(claimed) == 250, f"claim of 250 jobs returned {len(claimed)}"
    ctx.clock.advance(2)
    reaped = await driver.reap(topic)
    assert reaped == 250, f"reap() of 250 expired leases moved {reaped}"
    dead = (await driver.counts(topic)).dead
    assert dead == 250, f"{dead} dead letters, expected 250 (attempts were used up)"
    await driver.enqueue(topic, [NewJob(id=f"s{i:03d}", payload=b"live") for i in range(150)])
    try:
        async with asyncio.timeout(10):
            moved = await driver.redrive(topic)
    except TimeoutError:
        raise AssertionError(
            "redrive() of 250 dead letters, 150 of them shadowed by live ids, did not return "
            "within 10 s"
        ) from None
    assert moved == 100, f"redrive() moved {moved}, expected the 100 unshadowed dead letters"
    assert await driver.redrive(topic) == 0, "a second redrive() moved more"
    dead = (await driver.counts(topic)).dead
    assert dead == 150, f"{dead} dead letters left, expected the 150 shadowed ones"
    job = await driver.get(topic, "s000")
    assert job is not None, "a live job vanished in the redrive"
    assert job.payload == b"live", "a shadowed dead letter overwrote the live job"
    back = only(
        [j for j in await driver.list_jobs(topic, JobState.READY, limit=1000) if j.id == "s249"],
        "the redriven s249",
    )
    assert back.attempt == 0, f"a redriven job has attempt {back.attempt}, not 0"
