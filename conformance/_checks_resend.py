"""Scenario check: calls re-sent after a lost reply (contract point 18).

A backend call whose reply is lost may have taken effect, and the client
(or the runtime) sends it again. The harness's :meth:`Harness.resend`
delivers one call twice; the kit then checks the second answer and the
state. The answer may be the first delivery's (the backend recognised the
request, as the Redis driver does with request ids) or that of a plain
second call (for example ``LeaseLost`` for a settle whose token no longer
holds, ``GONE`` for an ack); the state must show the call's effect exactly
once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

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

DONE = "done"


@check(18)
async def check_resent_calls_take_effect_once(ctx: KitContext) -> None:
    """(harness.resends) Every call delivered twice, as after a lost reply:
    enqueue, claim, ack, extend, retry, release, dead-letter, reap,
    redrive, purge (and cancel): the answer is the first delivery's or a
    plain repeat's, and the effect happens once (no duplicate job, no
    double refund, no second dead letter, no job lost)."""
    harness = ctx.harness
    if not harness.resends:
        raise KitSkip("the harness does not offer resend() (re-sent calls after a lost reply)")
    driver = await ctx.driver()
    clock = ctx.clock

    async def twice(what: str, call: Callable[[Driver], Awaitable[Any]]) -> Any:
        """The second answer, or ``"done"`` for a settle that raised
        LeaseLost (the plain repeat of a settle that took effect)."""
        try:
            return await harness.resend(driver, call)
        except LeaseLost:
            return DONE

    async def job(topic: str, job_id: str) -> Job:
        found = await driver.get(topic, job_id)
        assert found is not None, f"{job_id} is missing from {topic}"
        return found

    async def held(topic: str, job_id: str, **fields: Any) -> Job:
        await driver.enqueue(topic, [NewJob(id=job_id, payload=b"", **fields)])
        return only(await driver.claim(topic, max_jobs=1, lease=10), f"claim of {job_id}")

    # enqueue: one job per id; the answer is all created or all not
    topic = ctx.topic("re-enqueue")
    jobs = [NewJob(id="a", payload=b"A"), NewJob(id="b", payload=b"B")]
    answer = await twice("enqueue", lambda d: d.enqueue(topic, jobs))
    assert answer in ([True, True], [False, False]), f"a re-sent enqueue answered {answer}"
    counts = await driver.counts(topic)
    assert counts.ready == 2, f"a re-sent enqueue of 2 jobs left {counts}"
    assert (await job(topic, "a")).payload == b"A", "a re-sent enqueue changed the payload"

    # claim: the answer's leases hold; any other job it leased comes back later
    topic = ctx.topic("re-claim")
    await driver.enqueue(topic, [NewJob(id=f"c{i}", payload=b"") for i in range(4)])
    claimed = await twice("claim", lambda d: d.claim(topic, max_jobs=2, lease=10))
    assert isinstance(claimed, list), f"a re-sent claim answered {claimed}"
    assert len(claimed) == 2, f"a re-sent claim of 2 answered {len(claimed)} jobs"
    in_flight = (await driver.counts(topic)).in_flight
    assert in_flight in (2, 4), f"a re-sent claim of 2 left {in_flight} jobs in flight"
    acks = await driver.ack_many(topic, [(j.id, j.lease_token or "") for j in claimed])
    assert acks == [Settled.ACKED] * 2, f"the leases a re-sent claim answered do not hold: {acks}"
    clock.advance(10)
    back = {j.id for j in await driver.claim(topic, max_jobs=10, lease=10)}
    expected = {f"c{i}" for i in range(4)} - {j.id for j in claimed}
    assert back == expected, (
        f"after a re-sent claim's leases expired, {sorted(back)} were claimable, expected "
        f"{sorted(expected)} (every job not acked, none twice)"
    )

    # ack: gone, once
    topic = ctx.topic("re-ack")
    lease = await held(topic, "k")
    answer = await twice("ack", lambda d: d.ack_many(topic, [("k", lease.lease_token or "")]))
    assert answer in ([Settled.ACKED], [Settled.GONE]), f"a re-sent ack answered {answer}"
    assert await driver.get(topic, "k") is None, "a re-sent ack left the job"

    # extend: the same deadline
    topic = ctx.topic("re-extend")
    lease = await held(topic, "x")
    answer = await twice("extend", lambda d: d.extend(topic, "x", lease.lease_token or "", 30))
    assert answer == clock.now() + 30, f"a re-sent extend answered {answer}"
    assert (await job(topic, "x")).lease_deadline == clock.now() + 30, "deadline moved twice"

    # retry: due once, the error recorded, the attempt counted once
    topic = ctx.topic("re-retry")
    lease = await held(topic, "r")
    answer = await twice(
        "retry", lambda d: d.retry(topic, "r", lease.lease_token or "", delay=5, error="e")
    )
    assert answer in (None, DONE), f"a re-sent retry answered {answer}"
    state = await job(topic, "r")
    fields = (state.state, state.run_at, state.last_error, state.attempt)
    want = (JobState.SCHEDULED, clock.now() + 5, "e", 1)
    assert fields == want, f"after a re-sent retry (state, run_at, last_error, attempt) = {fields}"

    # release: exactly one attempt refunded
    topic = ctx.topic("re-release")
    await driver.enqueue(topic, [NewJob(id="l", payload=b"")])
    await driver.claim(topic, max_jobs=1, lease=1)
    clock.advance(1)
    second = only(await driver.claim(topic, max_jobs=1, lease=10), "claim after an expiry")
    assert second.attempt == 2, f"attempt after one expiry is {second.attempt}"
    answer = await twice("release", lambda d: d.release(topic, "l", second.lease_token or ""))
    assert answer in (None, DONE), f"a re-sent release answered {answer}"
    state = await job(topic, "l")
    assert (state.state, state.attempt) == (JobState.READY, 1), (
        f"after a re-sent release of a job at attempt 2: {state.state.value}, attempt "
        f"{state.attempt} (exactly one attempt is refunded)"
    )

    # dead-letter: one dead letter, gone from the source
    topic = ctx.topic("re-dead")
    lease = await held(topic, "d")
    answer = await twice(
        "dead_letter", lambda d: d.dead_letter(topic, "d", lease.lease_token or "", error="x")
    )
    assert answer in (None, DONE), f"a re-sent dead_letter answered {answer}"
    assert await driver.get(topic, "d") is None, "a re-sent dead_letter left the job"
    counts = await driver.counts(topic)
    assert counts.dead == 1, f"a re-sent dead_letter made {counts.dead} dead letters"
    assert (await job(topic + DEAD_SUFFIX, "d")).last_error == "x", "the dead letter's error"

    # reap: each expired lease moved once
    topic = ctx.topic("re-reap")
    await driver.enqueue(topic, [NewJob(id=f"p{i}", payload=b"") for i in range(2)])
    await driver.claim(topic, max_jobs=2, lease=1)
    clock.advance(1)
    answer = await twice("reap", lambda d: d.reap(topic))
    assert answer in (0, 2), f"a re-sent reap of 2 expired leases answered {answer}"
    ready = [j for j in await driver.list_jobs(topic, JobState.READY) if j.attempt == 1]
    assert len(ready) == 2, f"after a re-sent reap {len(ready)} of 2 jobs are ready at attempt 1"

    # redrive and purge: moved once, deleted once
    topic = ctx.topic("re-redrive")
    for job_id in ("v1", "v2"):
        lease = await held(topic, job_id)
        await driver.dead_letter(topic, job_id, lease.lease_token or "", error="x")
    answer = await twice("redrive", lambda d: d.redrive(topic))
    assert answer in (0, 2), f"a re-sent redrive of 2 dead letters answered {answer}"
    counts = await driver.counts(topic)
    assert (counts.ready, counts.dead) == (2, 0), f"after a re-sent redrive: {counts}"
    answer = await twice("purge", lambda d: d.purge(topic))
    assert answer in (0, 2), f"a re-sent purge of 2 jobs answered {answer}"
    assert (await driver.counts(topic)).total == 0, "a re-sent purge left jobs"

    if not driver.capabilities.cancellation:
        return
    topic = ctx.topic("re-cancel")
    lease = await held(topic, "running")
    await driver.enqueue(
        topic, [NewJob(id="waiting", payload=b""), NewJob(id="other", payload=b"")]
    )
    answer = await twice("cancel", lambda d: d.cancel(topic, ["waiting", "running"]))
    allowed = (
        [CancelOutcome.CANCELLED, CancelOutcome.REQUESTED],
        [CancelOutcome.NOT_FOUND, CancelOutcome.REQUESTED],
    )
    assert answer in allowed, f"a re-sent cancel answered {answer}"
    left = sorted([j.id for state in JobState for j in await driver.list_jobs(topic, state)])
    assert left == ["other", "running"], f"after a re-sent cancel the topic holds {left}"
    requested = await driver.cancel_requested(topic, ["running", "other"])
    assert requested == ["running"], f"after a re-sent cancel, cancel_requested = {requested}"
