"""Scenario checks: leases, fencing, settling, dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from queue_core import Driver, Job, JobState, LeaseLost, NewJob, Settled

from ._context import KitContext, check, only

__all__: list[str] = []


async def one_job(ctx: KitContext, driver: Driver, topic: str, **fields: object) -> Job:
    await driver.enqueue(topic, [NewJob(id="job", payload=b"payload", **fields)])  # type: ignore[arg-type]
    return only(await driver.claim(topic, max_jobs=1, lease=10), "claim of a fresh job")


async def expect_lease_lost(what: str, call: Callable[[], Awaitable[object]]) -> None:
    try:
        await call()
    except LeaseLost:
        return
    raise AssertionError(f"{what} with a stale token did not raise LeaseLost")


@check(5, 6)
async def check_lease_expiry_redelivers_and_fences(ctx: KitContext) -> None:
    """A lease left to expire: not claimable before its deadline, claimable
    at it with attempt + 1, same id and payload, a new token and a higher
    fencing token; every use of the old token raises LeaseLost and changes
    nothing for the new holder."""
    driver = await ctx.driver()
    topic = ctx.topic("expiry")
    first = await one_job(ctx, driver, topic, priority=3, max_attempts=5)
    assert first.attempt == 1, f"first claim has attempt {first.attempt}"
    assert first.lease_deadline == ctx.clock.now() + 10
    ctx.clock.advance(9.999)
    assert await driver.claim(topic, max_jobs=1, lease=10) == [], "claimed a live lease"
    ctx.clock.advance(0.001)
    claimed = await driver.claim(topic, max_jobs=1, lease=10)
    second = only(claimed, "claim at the lease deadline (an expired lease is claimable again)")
    assert (second.id, second.payload, second.priority) == (first.id, first.payload, 3), (
        f"the redelivered job is {(second.id, second.payload, second.priority)}"
    )
    assert second.attempt == 2, f"attempt after expiry is {second.attempt}, not 2"
    assert second.lease_token != first.lease_token, "a re-claim reused the lease token"
    assert second.fencing_token > first.fencing_token, (
        f"fencing token did not grow: {first.fencing_token} then {second.fencing_token}"
    )
    assert second.last_error == "lease expired", (
        f"last_error after a lease expiry is {second.last_error!r}, not 'lease expired'"
    )
    old = first.lease_token or ""
    await expect_lease_lost("extend", lambda: driver.extend(topic, "job", old, 5))
    await expect_lease_lost("retry", lambda: driver.retry(topic, "job", old, delay=0, error="x"))
    await expect_lease_lost("release", lambda: driver.release(topic, "job", old))
    await expect_lease_lost("dead_letter", lambda: driver.dead_letter(topic, "job", old, error="x"))
    stale_ack = await driver.ack_many(topic, [("job", old)])
    assert stale_ack == [Settled.LEASE_LOST], f"an ack with a stale token returned {stale_ack}"
    now = await driver.get(topic, "job")
    assert now is not None, "a stale token deleted the new holder's job"
    assert now.state is JobState.IN_FLIGHT, f"a stale token moved the job to {now.state}"
    assert now.lease_deadline == second.lease_deadline, "a stale token moved the deadline"
    assert now.attempt == 2, f"a stale token changed the attempt to {now.attempt}"
    assert await driver.ack(topic, "job", second.lease_token or "") is True, (
        "the new holder's ack failed"
    )


@check(5, 11)
async def check_ack_is_terminal_and_repeatable(ctx: KitContext) -> None:
    """An acked job never comes back; a repeated ack is a no-op (GONE); an
    ack after the deadline but before any reap still succeeds."""
    driver = await ctx.driver()
    topic = ctx.topic("ack")
    job = await one_job(ctx, driver, topic)
    token = job.lease_token or ""
    ctx.clock.advance(11)  # past the deadline, nobody reaped yet
    late_ack = await driver.ack_many(topic, [("job", token)])
    assert late_ack == [Settled.ACKED], (
        f"an ack after the deadline but before any reap returned {late_ack}, not ACKED"
    )
    again = await driver.ack_many(topic, [("job", token)])
    assert again == [Settled.GONE], f"a repeated ack returned {again}, not GONE"
    assert await driver.ack(topic, "job", token) is False, "ack() of a gone job is not False"
    ctx.clock.advance(100)
    reaped = await driver.reap(topic)
    assert reaped == 0, f"reap moved {reaped} jobs after the only job was acked"
    assert await driver.claim(topic, max_jobs=5, lease=1) == [], "an acked job came back"
    counts = await driver.counts(topic)
    assert counts.total == 0, f"jobs left after the ack: {counts}"
    late = await one_job(ctx, driver, topic)
    ctx.clock.advance(11)
    reaped = await driver.reap(topic)
    assert reaped == 1, f"reap moved {reaped} jobs, expected the one expired lease"
    assert await driver.ack_many(topic, [("job", late.lease_token or "")]) == [
        Settled.LEASE_LOST
    ], "an ack after the reap must be LEASE_LOST"


@check(7)
async def check_extend_counts_from_now(ctx: KitContext) -> None:
    """extend sets the deadline to now + lease (not old deadline + lease),
    and an extended job is not redelivered."""
    driver = await ctx.driver()
    topic = ctx.topic("extend")
    job = await one_job(ctx, driver, topic)
    token = job.lease_token or ""
    for _ in range(6):
        ctx.clock.advance(4)
        deadline = await driver.extend(topic, "job", token, 5)
        assert deadline == ctx.clock.now() + 5, f"deadline {deadline} is not now + 5"
        assert await driver.claim(topic, max_jobs=1, lease=1) == [], "redelivered while renewed"
    ctx.clock.advance(5)
    again = only(await driver.claim(topic, max_jobs=1, lease=1), "claim after the last renewal")
    assert again.attempt == 2, f"attempt after the renewed lease expired is {again.attempt}"


@check(8)
async def check_retry_waits_and_records_error(ctx: KitContext) -> None:
    """retry(delay) makes the job due at now + delay with last_error
    recorded, the attempt still counted, the priority kept; a retry without
    an error clears last_error."""
    driver = await ctx.driver()
    topic = ctx.topic("retry")
    job = await one_job(ctx, driver, topic, priority=-4)
    await driver.retry(topic, "job", job.lease_token or "", delay=2.5, error="ValueError: bad")
    state = await driver.get(topic, "job")
    assert state is not None, "a retried job is gone"
    assert state.state is JobState.SCHEDULED, f"retried job is {state.state}"
    assert state.run_at == ctx.clock.now() + 2.5, f"retried job due at {state.run_at}"
    assert state.last_error == "ValueError: bad", (
        f"a retry with error 'ValueError: bad' left last_error {state.last_error!r}"
    )
    ctx.clock.advance(2.499)
    assert await driver.claim(topic, max_jobs=1, lease=1) == [], "claimable before its backoff"
    ctx.clock.advance(0.001)
    again = only(await driver.claim(topic, max_jobs=1, lease=1), "claim at the retry's due time")
    fields = (again.attempt, again.priority, again.last_error)
    assert fields == (2, -4, "ValueError: bad"), (
        f"(attempt, priority, last_error) after a retry = {fields}"
    )
    await driver.retry(topic, "job", again.lease_token or "", delay=0, error=None)
    cleared = await driver.get(topic, "job")
    assert cleared is not None, "a retried job is gone"
    assert cleared.last_error is None, (
        f"a retry without an error kept the previous last_error {cleared.last_error!r}"
    )


@check(13)
async def check_release_refunds_the_attempt(ctx: KitContext) -> None:
    """release gives the job back at once, due now, with exactly one attempt
    refunded (the fencing token still grows on the next claim)."""
    driver = await ctx.driver()
    topic = ctx.topic("release")
    job = await one_job(ctx, driver, topic, max_attempts=1)
    await driver.release(topic, "job", job.lease_token or "")
    again = only(await driver.claim(topic, max_jobs=1, lease=1), "claim after a release")
    assert again.attempt == 1, f"release used up an attempt (attempt {again.attempt})"
    assert again.fencing_token > job.fencing_token, (
        f"fencing token did not grow after a release: {job.fencing_token} then "
        f"{again.fencing_token}"
    )
    await expect_lease_lost(
        "release twice", lambda: driver.release(topic, "job", job.lease_token or "")
    )
    await driver.enqueue(topic, [NewJob(id="twice", payload=b"", max_attempts=5)])
    await driver.claim(topic, max_jobs=1, lease=1)
    ctx.clock.advance(1)
    second = only(await driver.claim(topic, max_jobs=1, lease=1), "claim after a lease expiry")
    assert second.attempt == 2, f"attempt after one expiry is {second.attempt}, not 2"
    await driver.release(topic, "twice", second.lease_token or "")
    released = await driver.get(topic, "twice")
    assert released is not None, "a released job is gone"
    assert released.attempt == 1, (
        f"release of a job at attempt 2 left attempt {released.attempt}: it must refund "
        "exactly one attempt"
    )


@check(5, 9)
async def check_poison_job_is_dead_lettered_after_max_attempts(ctx: KitContext) -> None:
    """A job whose worker dies every time (lease never settled) is claimed
    exactly max_attempts times, then lands in the dead-letter topic with its
    attempts and last error, and is never claimable from the source again."""
    driver = await ctx.driver()
    topic = ctx.topic("poison")
    await driver.enqueue(topic, [NewJob(id="pill", payload=b"p", max_attempts=3)])
    claims = 0
    for _ in range(10):
        jobs = await driver.claim(topic, max_jobs=1, lease=1)
        claims += len(jobs)
        ctx.clock.advance(1)
    assert claims == 3, f"the poison job was claimed {claims} times (max_attempts 3)"
    counts = await driver.counts(topic)
    assert (counts.ready, counts.in_flight, counts.dead) == (0, 0, 1), f"counts {counts}"
    dead = await driver.list_jobs(topic + ":dead", JobState.READY)
    found = [(j.id, j.attempt, j.last_error, j.payload) for j in dead]
    assert found == [("pill", 3, "lease expired", b"p")], f"the dead letters are {found}"


@check(9)
async def check_dead_letters_are_never_duplicated(ctx: KitContext) -> None:
    """dead_letter is idempotent by job id: a second job with the same id
    dying again does not add a second dead letter."""
    driver = await ctx.driver()
    topic = ctx.topic("dlq")
    for round_ in range(2):
        job = await one_job(ctx, driver, topic)
        await driver.dead_letter(topic, "job", job.lease_token or "", error=f"round {round_}")
        assert await driver.get(topic, "job") is None, "dead-lettered job stayed in its topic"
    counts = await driver.counts(topic)
    assert counts.dead == 1, f"{counts.dead} dead letters for one job id"
    dead = only(await driver.list_jobs(topic + ":dead", JobState.READY), "the dead letters")
    assert dead.last_error == "round 0", (
        f"the first dead letter was overwritten (last_error {dead.last_error!r})"
    )


@check(9)
async def check_redrive_and_purge(ctx: KitContext) -> None:
    """Redrive moves exactly the chosen dead letters back (attempt 0, same id
    and payload); repeating it is a no-op; a dead letter whose id is live in
    the source stays; purge deletes waiting jobs only."""
    driver = await ctx.driver()
    topic = ctx.topic("redrive")
    await driver.enqueue(
        topic, [NewJob(id=f"d{i}", payload=bytes([i]), priority=i) for i in range(4)]
    )
    for job in await driver.claim(topic, max_jobs=4, lease=5):
        await driver.dead_letter(topic, job.id, job.lease_token or "", error="e")
    dead_count = (await driver.counts(topic)).dead
    assert dead_count == 4, f"{dead_count} dead letters after dead-lettering 4 jobs"
    moved = await driver.redrive(topic, ["d1", "nope"])
    assert moved == 1, f"redrive(['d1', 'nope']) moved {moved}"
    assert await driver.redrive(topic, ["d1"]) == 0, "redrive is not idempotent"
    back = await driver.get(topic, "d1")
    assert back is not None, "the redriven job is not in its topic"
    fields = (back.attempt, back.payload, back.state)
    assert fields == (0, b"\x01", JobState.READY), (
        f"redriven job (attempt, payload, state) {fields}"
    )
    await driver.enqueue(topic, [NewJob(id="d2", payload=b"live")])
    try:
        async with asyncio.timeout(5):
            moved = await driver.redrive(topic)
    except TimeoutError:
        raise AssertionError(
            "redrive() of 3 dead letters (one shadowed by a live id) did not return within 5 s"
        ) from None
    assert moved == 2, f"redrive of all moved {moved}, expected 2 (d2 is live in the topic)"
    dead_count = (await driver.counts(topic)).dead
    assert dead_count == 1, f"{dead_count} dead letters left; the dead d2 (id live) must stay"
    held = await driver.claim(topic, max_jobs=1, lease=5)
    assert held, "nothing claimable after the redrive"
    purged = await driver.purge(topic)
    assert purged == 3, f"purge deleted {purged}, expected the 3 waiting jobs"
    in_flight = (await driver.counts(topic)).in_flight
    assert in_flight == 1, "purge touched an in-flight job"
    assert await driver.purge(topic + ":dead", ["d2"]) == 1, "purge of a dead letter by id"
    assert (await driver.counts(topic)).dead == 0, "a purged dead letter is still counted"


@check(3, 5, 13)
async def check_moves_keep_priority_and_the_right_due_time(ctx: KitContext) -> None:
    """A reaped job keeps its priority and is due at its lease deadline; a
    released job is due at the release time: both are ordered among other
    jobs by those times."""
    driver = await ctx.driver()
    topic = ctx.topic("moves")
    await driver.enqueue(topic, [NewJob(id="reaped", payload=b"", priority=5)])
    held = only(await driver.claim(topic, max_jobs=1, lease=2), "claim of 'reaped'")
    ctx.clock.advance(1)
    await driver.enqueue(topic, [NewJob(id="before", payload=b"", priority=5)])
    ctx.clock.advance(2)  # "reaped" expired at t=2, reaped now at t=3
    await driver.enqueue(topic, [NewJob(id="after", payload=b"", priority=5)])
    await driver.enqueue(topic, [NewJob(id="low", payload=b"", priority=4)])
    reaped = await driver.reap(topic)
    assert reaped == 1, f"reap moved {reaped} jobs, expected 1"
    job = await driver.get(topic, "reaped")
    assert job is not None, "a reaped job is gone"
    assert job.priority == 5, f"a reaped job lost its priority ({job.priority})"
    assert job.run_at == held.lease_deadline, "a reaped job must be due at its lease deadline"
    order = [j.id for j in await driver.claim(topic, max_jobs=4, lease=60)]
    assert order == ["before", "reaped", "after", "low"], f"claim order after a reap: {order}"
    held_now = await driver.list_jobs(topic, JobState.IN_FLIGHT)
    first = only([j for j in held_now if j.id == "before"], "the in-flight job 'before'")
    ctx.clock.advance(1)
    await driver.enqueue(topic, [NewJob(id="newer", payload=b"", priority=5)])
    ctx.clock.advance(1)
    await driver.release(topic, "before", first.lease_token or "")
    released = await driver.get(topic, "before")
    assert released is not None, "a released job is gone"
    assert released.run_at == ctx.clock.now(), "a released job must be due at the release time"
    order = [j.id for j in await driver.claim(topic, max_jobs=2, lease=60)]
    assert order == ["newer", "before"], f"claim order after a release: {order}"


@check(5, 14)
async def check_claim_never_blocks(ctx: KitContext) -> None:
    """claim returns [] at once when nothing is due (it never waits for
    work), and never more than max_jobs."""
    driver = await ctx.driver()
    topic = ctx.topic("noblock")
    for what in ("an empty topic", "a topic with only a delayed job"):
        try:
            async with asyncio.timeout(2.0):
                jobs = await driver.claim(topic, max_jobs=5, lease=10)
        except TimeoutError:
            raise AssertionError(
                f"claim on {what} did not return within 2 s: claim must never wait for work"
            ) from None
        assert jobs == [], f"claim on {what} returned {[j.id for j in jobs]}"
        await driver.enqueue(topic, [NewJob(id="later", payload=b"", delay=60)])
    await driver.enqueue(topic, [NewJob(id=f"n{i}", payload=b"") for i in range(5)])
    for max_jobs in (1, 3):
        jobs = await driver.claim(topic, max_jobs=max_jobs, lease=10)
        assert len(jobs) == max_jobs, f"claim(max_jobs={max_jobs}) of 5 ready returned {len(jobs)}"
