"""Scenario checks: headers (16), fencing tokens (6), idempotency records
(10), counts and the oldest due time (17), topics (19), cancellation (20),
enqueue from threads (22)."""

from __future__ import annotations

import asyncio

from queue_core import (
    DEAD_SUFFIX,
    CancelOutcome,
    Driver,
    Job,
    JobState,
    LeaseLost,
    NewJob,
    Settled,
)

from ._context import KitContext, KitSkip, check, only

__all__: list[str] = []

HEADERS = {
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "empty": "",
    "unicode": "ünïcödé 𝄞 ✓ 中文",
    "separators": "a|b:c=d,e;f\"g\\h'i{j}k[l]m",
    "spaces": "  leading and trailing  ",
    "long": "x" * 4000,
    "Mixed.Case-Name_9": "v",
}


async def _claim(driver: Driver, topic: str, what: str, lease: float = 10.0) -> Job:
    return only(await driver.claim(topic, max_jobs=1, lease=lease), what)


def _same_headers(job: Job | None, expected: dict[str, str], where: str) -> None:
    assert job is not None, f"the job is missing {where}"
    got = dict(job.headers)
    if got != expected:
        diff = {
            k: (got.get(k), expected.get(k))
            for k in set(got) | set(expected)
            if got.get(k) != expected.get(k)
        }
        raise AssertionError(f"headers changed {where}: (driver, expected) per name: {diff}")


@check(16)
async def check_headers_round_trip_through_every_move(ctx: KitContext) -> None:
    """Headers come back byte-exact (empty map, empty values, non-ASCII,
    separators, 4 KB values) from get, list and claim, and are kept through
    retry, release, lease expiry, dead-lettering (by the worker and by the
    reaper) and redrive."""
    driver = await ctx.driver()
    topic = ctx.topic("headers")
    dead = topic + DEAD_SUFFIX
    await driver.enqueue(
        topic,
        [
            NewJob(id="h", payload=b"p", headers=HEADERS, max_attempts=3),
            NewJob(id="none", payload=b"p"),
        ],
    )
    _same_headers(await driver.get(topic, "h"), HEADERS, "after enqueue (get)")
    _same_headers(await driver.get(topic, "none"), {}, "for a job without headers")
    listed = {j.id: j for j in await driver.list_jobs(topic, JobState.READY)}
    _same_headers(listed.get("h"), HEADERS, "in list_jobs")
    await driver.purge(topic, ["none"])
    job = await _claim(driver, topic, "claim of the job with headers")
    _same_headers(job, HEADERS, "in the claimed job")
    await driver.retry(topic, "h", job.lease_token or "", delay=0, error="e")
    _same_headers(await driver.get(topic, "h"), HEADERS, "after a retry")
    job = await _claim(driver, topic, "claim after a retry", lease=1)
    ctx.clock.advance(1)
    await driver.reap(topic)
    _same_headers(await driver.get(topic, "h"), HEADERS, "after a lease expiry")
    job = await _claim(driver, topic, "claim after a lease expiry")
    await driver.release(topic, "h", job.lease_token or "")
    _same_headers(await driver.get(topic, "h"), HEADERS, "after a release")
    job = await _claim(driver, topic, "claim after a release")
    await driver.dead_letter(topic, "h", job.lease_token or "", error="dead")
    _same_headers(await driver.get(dead, "h"), HEADERS, "after dead_letter (the dead letter)")
    assert await driver.redrive(topic) == 1, "redrive of the dead letter moved nothing"
    _same_headers(await driver.get(topic, "h"), HEADERS, "after a redrive")
    job = await _claim(driver, topic, "claim after a redrive", lease=1)
    _same_headers(job, HEADERS, "in the job claimed after a redrive")
    for _ in range(3):  # use up the attempts: the reaper dead-letters it
        ctx.clock.advance(1)
        await driver.claim(topic, max_jobs=1, lease=1)
    ctx.clock.advance(1)
    await driver.reap(topic)
    _same_headers(await driver.get(dead, "h"), HEADERS, "after the reaper dead-lettered it")


@check(6)
async def check_fencing_tokens_rise_across_the_family(ctx: KitContext) -> None:
    """Every claim in a topic family (t, t:dead, t:dead:dead) gets a fencing
    token above every token issued before in the family, through lease
    expiry, release, dead-lettering, claims of dead letters, redrive, and
    reuse of an id after ack or purge; other moves keep a job's token."""
    driver = await ctx.driver()
    topic = ctx.topic("fence")
    dead, dead2 = topic + DEAD_SUFFIX, topic + DEAD_SUFFIX + DEAD_SUFFIX
    issued: list[tuple[str, int]] = []

    def fenced(job: Job, what: str) -> Job:
        highest = max((token for _, token in issued), default=0)
        assert job.fencing_token > highest, (
            f"{what}: fencing token {job.fencing_token} is not above {highest}, issued earlier "
            f"in the family ({issued[-3:]}...)"
        )
        issued.append((what, job.fencing_token))
        return job

    async def kept(where: str, job_id: str, token: int, what: str) -> None:
        job = await driver.get(where, job_id)
        assert job is not None, f"{job_id} is missing from {where} after {what}"
        assert job.fencing_token == token, (
            f"{what} changed the fencing token of {job_id} from {token} to {job.fencing_token}"
        )

    await driver.enqueue(topic, [NewJob(id=f"f{i}", payload=b"") for i in range(3)])
    fresh = await driver.get(topic, "f0")
    assert fresh is not None, "an enqueued job is missing"
    assert fresh.fencing_token == 0, f"a never-claimed job has fencing token {fresh.fencing_token}"
    batch = await driver.claim(topic, max_jobs=3, lease=1)
    assert len(batch) == 3, f"claim of 3 ready jobs returned {len(batch)}"
    for job in batch:
        fenced(job, f"claim of {job.id} in a batch")
    await driver.ack_many(topic, [(j.id, j.lease_token or "") for j in batch[1:]])
    ctx.clock.advance(1)
    job = fenced(await _claim(driver, topic, "re-claim after expiry"), "claim after expiry")
    await driver.release(topic, job.id, job.lease_token or "")
    await kept(topic, job.id, job.fencing_token, "a release")
    job = fenced(await _claim(driver, topic, "claim after a release"), "claim after a release")
    await driver.dead_letter(topic, job.id, job.lease_token or "", error="x")
    await kept(dead, job.id, job.fencing_token, "dead-lettering")
    job = fenced(await _claim(driver, dead, "claim of the dead letter"), "claim in t:dead")
    await driver.dead_letter(dead, job.id, job.lease_token or "", error="x")
    job = fenced(await _claim(driver, dead2, "claim in t:dead:dead"), "claim in t:dead:dead")
    await driver.retry(dead2, job.id, job.lease_token or "", delay=0, error="x")
    await kept(dead2, job.id, job.fencing_token, "a retry")
    await driver.purge(dead2)
    for reused in ("f1", "f0"):  # f1 was acked, f0 purged: new jobs with old ids
        await driver.enqueue(topic, [NewJob(id=reused, payload=b"")])
        fenced(await _claim(driver, topic, f"claim of a reused {reused}"), f"reused id {reused}")
    await driver.enqueue(dead, [NewJob(id="other", payload=b"")])
    fenced(await _claim(driver, dead, "claim of a job enqueued in t:dead"), "a t:dead job")


@check(10)
async def check_idempotency_records(ctx: KitContext) -> None:
    """(idempotency_records) After a job ends (ack, purge, cancel,
    dead-letter by the worker or the reaper) an enqueue of its id in that
    topic creates nothing until its window has passed; a window of 0
    remembers nothing; other topics are independent; a redrive is a move,
    not an end."""
    driver = await ctx.driver()
    if not driver.capabilities.idempotency_records:
        raise KitSkip("needs capabilities.idempotency_records")
    topic, other = ctx.topic("records"), ctx.topic("records-other")
    dead = topic + DEAD_SUFFIX

    async def created(where: str, job_id: str, window: float = 5.0) -> bool:
        new = NewJob(id=job_id, payload=b"", idempotency_window=window, max_attempts=1)
        (done,) = await driver.enqueue(where, [new])
        return done

    async def end_by(how: str, job_id: str) -> None:
        assert await created(topic, job_id), f"the first enqueue of {job_id} created nothing"
        if how == "purge":
            assert await driver.purge(topic, [job_id]) == 1, "purge by id deleted nothing"
            return
        if how == "cancel":
            outcome = await driver.cancel(topic, [job_id])
            assert outcome == [CancelOutcome.CANCELLED], f"cancel of a ready job: {outcome}"
            return
        job = await _claim(driver, topic, f"claim of {job_id}", lease=1)
        if how == "ack":
            await driver.ack(topic, job_id, job.lease_token or "")
        elif how == "dead_letter":
            await driver.dead_letter(topic, job_id, job.lease_token or "", error="x")
        else:  # the reaper: max_attempts 1, lease expired
            ctx.clock.advance(1)
            moved = await driver.reap(topic)
            assert moved == 1, f"reap() moved {moved}"

    hows = ["reaper", "ack", "purge", "dead_letter"]  # the reaper's case moves the clock
    if driver.capabilities.cancellation:
        hows.append("cancel")
    for how in hows:
        await end_by(how, f"id-{how}")
    start = ctx.clock.now()
    for how in hows:
        assert not await created(topic, f"id-{how}"), (
            f"an enqueue of an id whose job ended by {how} created a new job within its window"
        )
    assert await created(other, "id-ack"), "an idempotency record of one topic blocked another"
    ctx.clock.set(start + 4.999)
    assert not await created(topic, "id-ack"), "an id was forgotten before its window ended"
    ctx.clock.set(start + 5.0)
    for how in hows:
        assert await created(topic, f"id-{how}", window=0), (
            f"an enqueue of an id whose job ended by {how} created nothing after its window"
        )
    redriven = "id-dead_letter"  # its dead letter is shadowed by the new live job
    assert await driver.redrive(topic, [redriven]) == 0, "redrive moved a shadowed dead letter"
    await driver.purge(topic)  # ends them with window 0: nothing remembered
    assert await created(topic, "id-ack"), "a job with window 0 left its id remembered"
    assert await driver.redrive(topic, [redriven]) == 1, "redrive of a dead letter moved nothing"
    assert await driver.get(dead, redriven) is None, (
        "a redriven dead letter is still in the dead-letter topic (a redrive moves the job)"
    )
    assert await created(dead, redriven), (
        "a redriven dead letter left its id remembered in the dead-letter topic (a redrive "
        "is a move, not an end)"
    )


@check(17)
async def check_counts_and_the_oldest_due_time(ctx: KitContext) -> None:
    """counts() gives exact numbers per state and dead letters, and
    oldest_due_at is the earliest due time among jobs due now (ready, or
    scheduled and past their due time); None when nothing is due."""
    driver = await ctx.driver()
    topic = ctx.topic("oldest")
    start = ctx.clock.now()

    async def expect(
        scheduled: int, ready: int, in_flight: int, dead: int, oldest: float | None
    ) -> None:
        counts = await driver.counts(topic)
        got = (counts.scheduled, counts.ready, counts.in_flight, counts.dead, counts.oldest_due_at)
        want = (scheduled, ready, in_flight, dead, oldest)
        assert got == want, (
            f"counts (scheduled, ready, in_flight, dead, oldest_due_at) = {got}, expected {want}"
        )

    await expect(0, 0, 0, 0, None)
    await driver.enqueue(topic, [NewJob(id="later", payload=b"", delay=10)])
    await driver.enqueue(topic, [NewJob(id="early", payload=b"", delay=1)])
    await expect(2, 0, 0, 0, None)
    ctx.clock.advance(2)  # "early" is due (since start + 1) but nobody claimed yet
    await expect(2, 0, 0, 0, start + 1)
    await driver.enqueue(topic, [NewJob(id="a", payload=b""), NewJob(id="b", payload=b"")])
    ctx.clock.advance(1)
    await driver.enqueue(topic, [NewJob(id="c", payload=b"")])
    await expect(2, 3, 0, 0, start + 1)
    ctx.clock.advance(8)  # "later" is due too (since start + 10)
    await expect(2, 3, 0, 0, start + 1)
    held = await driver.claim(topic, max_jobs=2, lease=0.5)
    assert [j.id for j in held] == ["early", "a"], f"claimed {[j.id for j in held]}"
    await expect(0, 3, 2, 0, start + 2)  # b (start + 2), c, and "later" made ready
    ctx.clock.advance(1)
    await driver.reap(topic)  # early and a are due again at their deadline, start + 11.5
    await driver.purge(topic, ["b", "c"])
    await expect(0, 3, 0, 0, start + 10)
    for job in await driver.claim(topic, max_jobs=3, lease=5):
        await driver.dead_letter(topic, job.id, job.lease_token or "", error="x")
    await expect(0, 0, 0, 3, None)


@check(19)
async def check_topics_lists_every_topic(ctx: KitContext) -> None:
    """(list_topics) topics() lists every topic that has had a job, sorted,
    without dead-letter topics, also once its jobs are gone."""
    driver = await ctx.driver()
    if not driver.capabilities.list_topics:
        raise KitSkip("needs capabilities.list_topics")
    prefix = ctx.topic("topics")
    names = [prefix + suffix for suffix in ("-b", "-a", ".c")]
    for name in names:
        await driver.enqueue(name, [NewJob(id="j", payload=b"")])
    job = await _claim(driver, names[0], "claim")
    await driver.dead_letter(names[0], "j", job.lease_token or "", error="x")
    job = await _claim(driver, names[1], "claim")
    await driver.ack(names[1], "j", job.lease_token or "")
    await driver.counts(prefix + "-never")  # a look creates no topic
    listed = [name for name in await driver.topics() if name.startswith(prefix)]
    assert listed == sorted(names), (
        f"topics() lists {listed} of this check's topics, expected {sorted(names)} (sorted, "
        "every topic that had a job, no :dead topics)"
    )


async def _expect_gone(driver: Driver, topic: str, job_id: str, what: str) -> None:
    job = await driver.get(topic, job_id)
    assert job is None, f"a cancelled job came back after {what}: {job.state if job else ''}"
    dead = await driver.get(topic + DEAD_SUFFIX, job_id)
    assert dead is None, f"a cancelled job was dead-lettered by {what}"


@check(20)
async def check_cancellation(ctx: KitContext) -> None:
    """(cancellation) A waiting job is deleted at once; an in-flight job
    gets a request, stays in flight under its lease (extend works), and
    whatever settles it next deletes it (ack, retry, release, dead-letter,
    the reaper): never retried, released or dead-lettered; unknown ids are
    NOT_FOUND; no other job is touched."""
    driver = await ctx.driver()
    if not driver.capabilities.cancellation:
        raise KitSkip("needs capabilities.cancellation")
    topic = ctx.topic("cancel")
    ways = ["ack", "retry", "release", "dead_letter", "reaper"]
    await driver.enqueue(topic, [NewJob(id=f"run-{w}", payload=b"") for w in ways])
    held = {j.id: j for j in await driver.claim(topic, max_jobs=5, lease=10)}
    assert len(held) == 5, f"claim of 5 jobs returned {len(held)}"
    await driver.enqueue(
        topic,
        [
            NewJob(id="ready", payload=b""),
            NewJob(id="later", payload=b"", delay=60),
            NewJob(id="bystander", payload=b"keep", priority=3),
        ],
    )
    ids = ["ready", "later", "nope", *held]
    outcomes = await driver.cancel(topic, ids)
    expected = [CancelOutcome.CANCELLED, CancelOutcome.CANCELLED, CancelOutcome.NOT_FOUND]
    expected += [CancelOutcome.REQUESTED] * 5
    assert outcomes == expected, f"cancel({ids}) returned {outcomes}, expected {expected}"
    for job_id in ("ready", "later"):
        await _expect_gone(driver, topic, job_id, "cancel")
    requested = sorted(await driver.cancel_requested(topic, [*held, "bystander", "nope"]))
    assert requested == sorted(held), f"cancel_requested lists {requested}"
    for job_id, job in held.items():
        now = await driver.get(topic, job_id)
        assert now is not None, f"an in-flight job was deleted at once by cancel ({job_id})"
        assert now.state is JobState.IN_FLIGHT, f"a cancel request moved {job_id} to {now.state}"
        deadline = await driver.extend(topic, job_id, job.lease_token or "", 10)
        assert deadline == ctx.clock.now() + 10, (
            f"extend of a job with a cancel request set the deadline {deadline}, not now + 10"
        )
    again = await driver.cancel(topic, ["run-ack"])
    assert again == [CancelOutcome.REQUESTED], f"a repeated cancel returned {again}"
    tokens = {job_id: job.lease_token or "" for job_id, job in held.items()}
    acked = await driver.ack_many(topic, [("run-ack", tokens["run-ack"])])
    assert acked == [Settled.ACKED], f"the ack of a job with a cancel request returned {acked}"
    await driver.retry(topic, "run-retry", tokens["run-retry"], delay=0, error="e")
    await driver.release(topic, "run-release", tokens["run-release"])
    await driver.dead_letter(topic, "run-dead_letter", tokens["run-dead_letter"], error="e")
    for way in ways[:4]:
        await _expect_gone(driver, topic, f"run-{way}", way)
    ctx.clock.advance(11)
    reaped = await driver.reap(topic)
    assert reaped == 1, f"reap() of the one expired lease moved {reaped}"
    await _expect_gone(driver, topic, "run-reaper", "the reaper")
    try:
        await driver.ack(topic, "run-reaper", tokens["run-reaper"])
    except LeaseLost:
        raise AssertionError("an ack of a cancelled, reaped job raised LeaseLost") from None
    left = [j.id for state in JobState for j in await driver.list_jobs(topic, state)]
    assert left == ["bystander"], f"jobs left after the cancellations: {left}"
    bystander = await driver.get(topic, "bystander")
    assert bystander is not None
    assert (bystander.payload, bystander.priority) == (b"keep", 3), "a cancel changed another job"
    assert (await driver.counts(topic)).dead == 0, "a cancelled job was dead-lettered"


@check(22)
async def check_enqueue_from_threads(ctx: KitContext) -> None:
    """(blocking_enqueue) enqueue_blocking, called from threads without an
    event loop, has enqueue's semantics: created flags, idempotency by id,
    headers and payload kept, each job once, under concurrent threads."""
    driver = await ctx.driver()
    if not driver.capabilities.blocking_enqueue:
        raise KitSkip("needs capabilities.blocking_enqueue")
    topic = ctx.topic("threads")
    first = [NewJob(id="h", payload=b"\x00bytes\xff", headers=HEADERS, priority=4)]
    created = await asyncio.to_thread(driver.enqueue_blocking, topic, first)
    assert created == [True], f"enqueue_blocking of a new job returned {created}"
    again = await asyncio.to_thread(driver.enqueue_blocking, topic, first)
    assert again == [False], f"enqueue_blocking of an existing id returned {again}"
    job = await driver.get(topic, "h")
    _same_headers(job, HEADERS, "after enqueue_blocking")
    assert job is not None
    assert (job.payload, job.priority, job.state) == (b"\x00bytes\xff", 4, JobState.READY), (
        f"enqueue_blocking stored {job}"
    )

    def produce(n: int) -> list[bool]:
        flags: list[bool] = []
        for i in range(25):
            flags += driver.enqueue_blocking(topic, [NewJob(id=f"t{i}", payload=str(n).encode())])
        return flags

    results = await asyncio.gather(*(asyncio.to_thread(produce, n) for n in range(4)))
    made = sum(flag for flags in results for flag in flags)
    assert made == 25, f"4 threads enqueueing the same 25 ids created {made} jobs, not 25"
    counts = await driver.counts(topic)
    assert counts.ready == 26, f"after the threads: {counts}, expected 26 ready jobs"
