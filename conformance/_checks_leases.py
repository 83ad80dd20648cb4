"""Scenario checks: leases, fencing, settling, dead letters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from queue_core import Driver, Job, JobState, LeaseLost, NewJob, Settled

from ._context import KitContext, check

__all__: list[str] = []


async def one_job(ctx: KitContext, driver: Driver, topic: str, **fields: object) -> Job:
    await driver.enqueue(topic, [NewJob(id="job", payload=b"payload", **fields)])  # type: ignore[arg-type]
    (job,) = await driver.claim(topic, max_jobs=1, lease=10)
    return job


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
    assert len(claimed) == 1, "an expired lease did not make the job claimable again"
    (second,) = claimed
    assert (second.id, second.payload, second.priority) == (first.id, first.payload, 3)
    assert second.attempt == 2, f"attempt after expiry is {second.attempt}, not 2"
    assert second.lease_token != first.lease_token, "a re-claim reused the lease token"
    assert second.fencing_token > first.fencing_token, "fencing token did not grow"
    assert second.last_error == "lease expired"
    old = first.lease_token or ""
    await expect_lease_lost("extend", lambda: driver.extend(topic, "job", old, 5))
    await expect_lease_lost("retry", lambda: driver.retry(topic, "job", old, delay=0, error="x"))
    await expect_lease_lost("release", lambda: driver.release(topic, "job", old))
    await expect_lease_lost("dead_letter", lambda: driver.dead_letter(topic, "job", old, error="x"))
    assert await driver.ack_many(topic, [("job", old)]) == [Settled.LEASE_LOST]
    now = await driver.get(topic, "job")
    assert now is not None
    assert now.state is JobState.IN_FLIGHT
    assert now.lease_deadline == second.lease_deadline, "a stale token moved the deadline"
    assert now.attempt == 2
    assert await driver.ack(topic, "job", second.lease_token or "") is True


@check(5, 11)
async def check_ack_is_terminal_and_repeatable(ctx: KitContext) -> None:
    """An acked job never comes back; a repeated ack is a no-op (GONE); an
    ack after the deadline but before any reap still succeeds."""
    driver = await ctx.driver()
    topic = ctx.topic("ack")
    job = await one_job(ctx, driver, topic)
    token = job.lease_token or ""
    ctx.clock.advance(11)  # past the deadline, nobody reaped yet
    assert await driver.ack_many(topic, [("job", token)]) == [Settled.ACKED]
    assert await driver.ack_many(topic, [("job", token)]) == [Settled.GONE]
    assert await driver.ack(topic, "job", token) is False
    ctx.clock.advance(100)
    assert await driver.reap(topic) == 0
    assert await driver.claim(topic, max_jobs=5, lease=1) == [], "an acked job came back"
    assert (await driver.counts(topic)).total == 0
    late = await one_job(ctx, driver, topic)
    ctx.clock.advance(11)
    assert await driver.reap(topic) == 1
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
    (again,) = await driver.claim(topic, max_jobs=1, lease=1)
    assert again.attempt == 2


@check(8)
async def check_retry_waits_and_records_error(ctx: KitContext) -> None:
    """retry(delay) makes the job due at now + delay with last_error
    recorded, the attempt still counted, the priority kept."""
    driver = await ctx.driver()
    topic = ctx.topic("retry")
    job = await one_job(ctx, driver, topic, priority=-4)
    await driver.retry(topic, "job", job.lease_token or "", delay=2.5, error="ValueError: bad")
    state = await driver.get(topic, "job")
    assert state is not None
    assert state.state is JobState.SCHEDULED, f"retried job is {state.state}"
    assert state.run_at == ctx.clock.now() + 2.5
    assert state.last_error == "ValueError: bad"
    ctx.clock.advance(2.499)
    assert await driver.claim(topic, max_jobs=1, lease=1) == [], "claimable before its backoff"
    ctx.clock.advance(0.001)
    (again,) = await driver.claim(topic, max_jobs=1, lease=1)
    assert (again.attempt, again.priority, again.last_error) == (2, -4, "ValueError: bad")


@check(13)
async def check_release_refunds_the_attempt(ctx: KitContext) -> None:
    """release gives the job back at once without using up an attempt (the
    fencing token still grows on the next claim)."""
    driver = await ctx.driver()
    topic = ctx.topic("release")
    job = await one_job(ctx, driver, topic, max_attempts=1)
    await driver.release(topic, "job", job.lease_token or "")
    (again,) = await driver.claim(topic, max_jobs=1, lease=1)
    assert again.attempt == 1, f"release used up an attempt (attempt {again.attempt})"
    assert again.fencing_token > job.fencing_token
    await expect_lease_lost(
        "release twice", lambda: driver.release(topic, "job", job.lease_token or "")
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
    assert [(j.id, j.attempt, j.last_error, j.payload) for j in dead] == [
        ("pill", 3, "lease expired", b"p")
    ]


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
    (dead,) = await driver.list_jobs(topic + ":dead", JobState.READY)
    assert dead.last_error == "round 0"


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
    assert (await driver.counts(topic)).dead == 4
    assert await driver.redrive(topic, ["d1", "nope"]) == 1
    assert await driver.redrive(topic, ["d1"]) == 0, "redrive is not idempotent"
    back = await driver.get(topic, "d1")
    assert back is not None
    assert (back.attempt, back.payload, back.state) == (0, b"\x01", JobState.READY)
    await driver.enqueue(topic, [NewJob(id="d2", payload=b"live")])
    assert await driver.redrive(topic) == 2, "redrive of all moved the wrong number"
    assert (await driver.counts(topic)).dead == 1, "the dead d2 (id live in source) must stay"
    held = await driver.claim(topic, max_jobs=1, lease=5)
    assert await driver.purge(topic) == 3, "purge must delete exactly the waiting jobs"
    assert (await driver.counts(topic)).in_flight == 1, "purge touched an in-flight job"
    assert held
    assert await driver.purge(topic + ":dead", ["d2"]) == 1
    assert (await driver.counts(topic)).dead == 0


@check(3, 5, 13)
async def check_moves_keep_priority_and_the_right_due_time(ctx: KitContext) -> None:
    """A reaped job keeps its priority and is due at its lease deadline; a
    released job is due at the release time: both are ordered among other
    jobs by those times."""
    driver = await ctx.driver()
    topic = ctx.topic("moves")
    await driver.enqueue(topic, [NewJob(id="reaped", payload=b"", priority=5)])
    (held,) = await driver.claim(topic, max_jobs=1, lease=2)
    ctx.clock.advance(1)
    await driver.enqueue(topic, [NewJob(id="before", payload=b"", priority=5)])
    ctx.clock.advance(2)  # "reaped" expired at t=2, reaped now at t=3
    await driver.enqueue(topic, [NewJob(id="after", payload=b"", priority=5)])
    await driver.enqueue(topic, [NewJob(id="low", payload=b"", priority=4)])
    assert await driver.reap(topic) == 1
    job = await driver.get(topic, "reaped")
    assert job is not None
    assert job.priority == 5, f"a reaped job lost its priority ({job.priority})"
    assert job.run_at == held.lease_deadline, "a reaped job must be due at its lease deadline"
    order = [j.id for j in await driver.claim(topic, max_jobs=4, lease=60)]
    assert order == ["before", "reaped", "after", "low"], f"claim order after a reap: {order}"
    first = next(j for j in await driver.list_jobs(topic, JobState.IN_FLIGHT) if j.id == "before")
    ctx.clock.advance(1)
    await driver.enqueue(topic, [NewJob(id="newer", payload=b"", priority=5)])
    ctx.clock.advance(1)
    await driver.release(topic, "before", first.lease_token or "")
    released = await driver.get(topic, "before")
    assert released is not None
    assert released.run_at == ctx.clock.now(), "a released job must be due at the release time"
    order = [j.id for j in await driver.claim(topic, max_jobs=2, lease=60)]
    assert order == ["newer", "before"], f"claim order after a release: {order}"
