"""Deliberately broken drivers: the proof that the conformance kit catches
contract defects (``tests/test_kit_catches_broken_drivers.py``).

Each class is :class:`queue_memory.MemoryDriver` with exactly one defect, the
kind a real driver author writes; its docstring names the defect and the
numbered contract point of ``docs/conformance.md`` it breaks, the overridden
code marks the defect with ``# DEFECT``, and ``caught_by`` names the kit
check that fails first on it (in the kit's order, under the ``quick``
profile). Everything else is the reference behaviour, so the kit must find
the defect itself. Read as a checklist, this file is also the "common
mistakes" section of ``docs/writing-a-driver.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from queue_core import (
    DEAD_SUFFIX,
    EMPTY_HEADERS,
    BackendUnavailable,
    CancelOutcome,
    Closed,
    Counts,
    Job,
    JobState,
    LeaseLost,
    NewJob,
    Settled,
    TopicLimits,
    to_ms,
)
from queue_memory import MemoryDriver
from queue_memory._driver import REAP_LIMIT
from queue_memory._store import Rec, TopicStore

__all__ = ["BROKEN_DRIVERS"]


class _CustomStore(MemoryDriver):
    """Infrastructure (not a defect): builds its topics from ``store_class``."""

    store_class: type[TopicStore] = TopicStore

    def _store(self, topic: str) -> TopicStore:
        if self._closed:
            raise Closed("the memory driver is closed")
        store = self._topics.get(topic)
        if store is None:
            store = self._topics[topic] = self.store_class()
        return store


def _room(store: TopicStore, want: int, now: int) -> int:
    """How many jobs the topic's limits let a claim take (the reference's rule)."""
    return want if store.limits.unlimited else store.claim_room(want, now)


def _lease(
    driver: MemoryDriver,
    topic: str,
    store: TopicStore,
    rec: Rec,
    lease: float,
    now: int,
    *,
    fence: int | None = None,
) -> Job:
    """Lease one job as the reference's claim does."""
    rec.attempt += 1
    rec.fence = driver._next_fence(topic) if fence is None else fence
    token = f"{driver._token_prefix}.{next(driver._token_counter)}"
    store.lease(rec, token, now + to_ms(lease))
    if store.limits.rate is not None:
        store.claim_times.append(now)
    return rec.to_job(topic)


def _lease_best(
    driver: MemoryDriver, topic: str, store: TopicStore, room: int, lease: float, now: int
) -> list[Job]:
    """Lease up to ``room`` of the best ready jobs, as the reference does."""
    jobs: list[Job] = []
    while len(jobs) < room:
        rec = store.pop_ready()
        if rec is None:
            break
        jobs.append(_lease(driver, topic, store, rec, lease, now))
    return jobs


# -- ordering (contract point 3) ------------------------------------------------


class ReapLosesPriority(MemoryDriver):
    """The reaper re-queues an expired job under the default priority 0 (it
    computes the ready score without reading the job's priority), so after a
    lease expiry the job sorts among priority-0 jobs while its record still
    shows its real priority. Breaks contract point 3: priority survives
    every move (the original Go driver's reaper had this class of bug)."""

    caught_by = "moves_keep_priority_and_the_right_due_time"

    def _expire(self, topic: str, store: TopicStore, rec: Rec, now: int) -> None:
        if rec.cancel:
            self._end(store, rec, now)
            return
        if rec.attempt >= rec.max_attempts:
            self._bury(topic, store, rec, "lease expired", now)
            return
        rec.last_error = "lease expired"
        assert rec.deadline_ms is not None
        kept, rec.priority = rec.priority, 0  # DEFECT: scored as priority 0
        store.make_due(rec, rec.deadline_ms, now)
        rec.priority = kept


class _NoSequenceStore(TopicStore):
    def next_seq(self) -> int:
        return 0  # DEFECT: no per-topic enqueue sequence


class FifoBrokenWithinMs(_CustomStore):
    """No per-topic enqueue sequence: jobs with equal priority and equal due
    time (enqueued within one millisecond) are claimed in job-id order, as a
    Redis sorted set orders equal scores by member. Breaks contract point 3:
    equal due times go by enqueue order."""

    caught_by = "priority_then_fifo_within_one_millisecond"
    store_class = _NoSequenceStore


class ReapRequeuesAtNow(MemoryDriver):
    """The reaper makes an expired job due at the time of the reap instead of
    at its lease deadline, so a job reaped late queues behind jobs that
    became due after its lease ran out. Breaks contract point 3: after a
    lease expiry a job is due at its lease deadline."""

    caught_by = "moves_keep_priority_and_the_right_due_time"

    def _expire(self, topic: str, store: TopicStore, rec: Rec, now: int) -> None:
        if rec.cancel:
            self._end(store, rec, now)
            return
        if rec.attempt >= rec.max_attempts:
            self._bury(topic, store, rec, "lease expired", now)
            return
        rec.last_error = "lease expired"
        store.make_due(rec, now, now)  # DEFECT: not rec.deadline_ms


class ReleaseKeepsOldDueTime(MemoryDriver):
    """A released job goes back under its old due time (re-added with the
    score it had before the claim) instead of the release time, so it jumps
    ahead of jobs that became due meanwhile. Breaks contract point 3: after
    a release a job is due at the release time."""

    caught_by = "moves_keep_priority_and_the_right_due_time"

    async def release(self, topic: str, job_id: str, token: str) -> None:
        store = self._store(topic)
        rec = self._holder(store, topic, job_id, token)
        now = self._now_ms()
        if rec.cancel:
            self._end(store, rec, now)
            return
        rec.attempt = max(0, rec.attempt - 1)
        store.make_due(rec, rec.due_ms, now)  # DEFECT: not now
        store.notify()


# -- delays (contract point 4) ----------------------------------------------------


class _LookaheadStore(TopicStore):
    def promote_due(self, now_ms: int) -> None:
        super().promote_due(now_ms + 100)  # DEFECT: "due within 100 ms is due"


class DelayedClaimableEarly(_CustomStore):
    """Claim promotes scheduled jobs due within the next 100 ms ("they are
    due by the time a worker starts them anyway"), so a delayed job can be
    claimed up to 100 ms before its ``run_at``. Breaks contract point 4: a
    job is never claimable before its due time."""

    caught_by = "delayed_high_priority_never_blocks_ready_jobs"
    store_class = _LookaheadStore


# -- leases and attempts (contract points 5, 7, 8, 13) --------------------------------


class _RefundOnExpiryStore(TopicStore):
    def pop_expired(self, now_ms: int) -> Rec | None:
        rec = super().pop_expired(now_ms)
        if rec is not None:
            rec.attempt -= 1  # DEFECT: an expired lease treated like a release
        return rec


class ExpiryNotCounted(_CustomStore):
    """A lease expiry refunds the attempt (the reaper reuses the release
    path), so a job whose worker dies keeps coming back with the same
    attempt number and is never dead-lettered. Breaks contract points 5 and 8:
    lease expiries count as attempts."""

    caught_by = "headers_round_trip_through_every_move"
    store_class = _RefundOnExpiryStore


class PoisonNeverDeadLettered(MemoryDriver):
    """The reaper always returns an expired job to ready and never checks
    ``max_attempts``, so a job that kills its worker every time loops forever.
    Breaks contract points 8 and 9 (and the original driver's defect 7): a
    job out of attempts goes to the dead-letter topic, also by lease expiry."""

    caught_by = "headers_round_trip_through_every_move"

    def _expire(self, topic: str, store: TopicStore, rec: Rec, now: int) -> None:
        if rec.cancel:
            self._end(store, rec, now)
            return
        # DEFECT: no `if rec.attempt >= rec.max_attempts: bury`
        rec.last_error = "lease expired"
        assert rec.deadline_ms is not None
        store.make_due(rec, rec.deadline_ms, now)


class ClaimSkipsReap(MemoryDriver):
    """Claim does not reap expired leases first, so a job whose lease expired
    is only claimable again once a separate reaper has run. Breaks
    contract point 5: a claimed job neither acked nor extended is claimable
    again after its lease (``Driver.claim`` first does what ``reap`` does)."""

    caught_by = "headers_round_trip_through_every_move"

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        store = self._store(topic)
        now = self._now_ms()
        # DEFECT: no `self._reap(topic, store, now, REAP_LIMIT)` here
        store.promote_due(now)
        return _lease_best(self, topic, store, _room(store, max_jobs, now), lease, now)


class TwoConsumersOneJob(MemoryDriver):
    """Claim is not atomic: it selects the best ready jobs, then (one round
    trip later) leases them without checking that they are still ready, so
    two concurrent claims can both get the same job. Breaks contract points 5
    and 12: while a lease is live no other consumer gets the job."""

    caught_by = "in_flight_limit_holds_under_concurrency"

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        store = self._store(topic)
        now = self._now_ms()
        self._reap(topic, store, now, REAP_LIMIT)
        store.promote_due(now)
        picked = store.sorted_recs(JobState.READY)[: _room(store, max_jobs, now)]  # SELECT
        await asyncio.sleep(0)  # DEFECT: the UPDATE comes later, unconditionally
        return [_lease(self, topic, store, rec, lease, now) for rec in picked]


class ExtendFromOldDeadline(MemoryDriver):
    """Extend adds the lease to the old deadline instead of setting it to
    ``now + lease``, so a lease renewed often drifts far into the future (a
    dead worker then holds its job for hours). Breaks contract point 7 (and
    ``Driver.extend``: the deadline becomes ``now + lease``)."""

    caught_by = "cancellation"

    async def extend(self, topic: str, job_id: str, token: str, lease: float) -> float:
        store = self._store(topic)
        rec = self._holder(store, topic, job_id, token)
        assert rec.deadline_ms is not None
        deadline = rec.deadline_ms + to_ms(lease)  # DEFECT: not self._now_ms() + ...
        store.lease(rec, token, deadline)
        return deadline / 1000.0


class ReleaseUsesAttempt(MemoryDriver):
    """Release (what a consumer does on graceful close) does not give the
    attempt back, so every shutdown eats one of the job's attempts. Breaks
    contract point 13: a release on shutdown does not use up an attempt."""

    caught_by = "release_refunds_the_attempt"

    async def release(self, topic: str, job_id: str, token: str) -> None:
        store = self._store(topic)
        rec = self._holder(store, topic, job_id, token)
        now = self._now_ms()
        if rec.cancel:
            self._end(store, rec, now)
            return
        # DEFECT: no `rec.attempt = max(0, rec.attempt - 1)`
        store.make_due(rec, now, now)
        store.notify()


class RetryForgetsError(MemoryDriver):
    """Retry schedules the job again but does not record the handler's error
    as ``last_error``. Breaks contract point 8: retries record the last
    error."""

    caught_by = "retry_waits_and_records_error"

    async def retry(
        self, topic: str, job_id: str, token: str, *, delay: float, error: str | None
    ) -> None:
        store = self._store(topic)
        rec = self._holder(store, topic, job_id, token)
        now = self._now_ms()
        if rec.cancel:
            self._end(store, rec, now)
            return
        # DEFECT: no `rec.last_error = error`
        store.make_due(rec, now + to_ms(delay), now)
        store.notify()


# -- fencing (contract point 6) -------------------------------------------------------


class StaleTokenAck(MemoryDriver):
    """Ack deletes any in-flight job without comparing the lease token, so a
    worker whose lease expired and was re-claimed acks the new holder's job
    (the original Go driver's defect 4). Breaks contract point 6: a stale
    token gets ``LeaseLost`` and changes nothing."""

    caught_by = "lease_expiry_redelivers_and_fences"

    async def ack_many(self, topic: str, leases: Sequence[tuple[str, str]]) -> list[Settled]:
        store = self._store(topic)
        now = self._now_ms()
        outcomes: list[Settled] = []
        for job_id, _token in leases:
            rec = store.jobs.get(job_id)
            if rec is None:
                outcomes.append(Settled.GONE)
            elif rec.state is not JobState.IN_FLIGHT:  # DEFECT: token not compared
                outcomes.append(Settled.LEASE_LOST)
            else:
                self._end(store, rec, now)
                outcomes.append(Settled.ACKED)
        return outcomes


class StaleTokenExtend(MemoryDriver):
    """Extend renews any in-flight job's lease without comparing the token,
    so a worker that lost its job keeps the new holder's lease alive. Breaks
    contract point 6 (stale tokens are fenced for every operation)."""

    caught_by = "lease_expiry_redelivers_and_fences"

    async def extend(self, topic: str, job_id: str, token: str, lease: float) -> float:
        store = self._store(topic)
        rec = store.jobs.get(job_id)
        if rec is None or rec.state is not JobState.IN_FLIGHT:  # DEFECT: token not compared
            raise LeaseLost(topic, job_id)
        deadline = self._now_ms() + to_ms(lease)
        store.lease(rec, rec.token or token, deadline)
        return deadline / 1000.0


class LateAckRejected(MemoryDriver):
    """Ack refuses a token whose lease deadline has passed even though the
    job was not reaped or re-claimed yet (a "strict" lock check), so work
    that finished a moment late is redone. Breaks contract point 6 as pinned
    by ``Driver.ack_many``: a token holds its job until it is settled,
    released, or reaped."""

    caught_by = "ack_is_terminal_and_repeatable"

    async def ack_many(self, topic: str, leases: Sequence[tuple[str, str]]) -> list[Settled]:
        store = self._store(topic)
        now = self._now_ms()
        outcomes: list[Settled] = []
        for job_id, token in leases:
            rec = store.jobs.get(job_id)
            if rec is None:
                outcomes.append(Settled.GONE)
            elif (
                rec.state is not JobState.IN_FLIGHT
                or rec.token != token
                or (rec.deadline_ms or 0) <= now  # DEFECT: the lease is not over until reaped
            ):
                outcomes.append(Settled.LEASE_LOST)
            else:
                self._end(store, rec, now)
                outcomes.append(Settled.ACKED)
        return outcomes


# -- dead letters (contract point 9) ------------------------------------------------


class DeadLetterDuplicated(MemoryDriver):
    """Dead-lettering writes the job into ``<topic>:dead`` even when that
    topic already holds its id (an upsert instead of insert-if-absent): the
    dead letter is written twice, its first copy's fields are overwritten and
    the dead topic counts it twice. Breaks contract point 9: dead letters are
    idempotent by job id, never duplicated."""

    caught_by = "dead_letters_are_never_duplicated"

    def _bury(self, topic: str, store: TopicStore, rec: Rec, error: str | None, now: int) -> None:
        self._end(store, rec, now)
        if rec.cancel:
            return
        dead = self._store(topic + DEAD_SUFFIX)
        # DEFECT: no `if rec.id in dead.jobs: return`
        rec.last_error = error
        rec.seq = dead.next_seq()
        rec.due_ms = now
        dead.add(rec, now)
        dead.notify()


class RedriveCopies(MemoryDriver):
    """Redrive copies dead letters back to their topic but leaves them in the
    dead-letter topic, so a redriven job is both dead and live and a later
    redrive delivers it again. Breaks contract point 9: redrive moves, and
    repeating it is a no-op."""

    caught_by = "idempotency_records"

    async def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int:
        store = self._store(topic)
        dead = self._store(topic + DEAD_SUFFIX)
        wanted = None if ids is None else set(ids)
        now = self._now_ms()
        moved = 0
        candidates = dead.sorted_recs(JobState.READY) + dead.sorted_recs(JobState.SCHEDULED)
        for rec in candidates:
            if (wanted is not None and rec.id not in wanted) or rec.id in store.jobs:
                continue
            # DEFECT: no `dead.remove(rec)`; a copy goes back to the topic
            copy = dataclasses.replace(rec, attempt=0, enqueued_ms=now, due_ms=now)
            copy.seq = store.next_seq()
            store.add(copy, now)
            moved += 1
        if moved:
            store.notify()
        return moved


# -- idempotence, ack, topics (contract points 10, 11, 12) ------------------------------


class InFlightEnqueueDuplicates(MemoryDriver):
    """The idempotent-enqueue lookup only covers waiting jobs (ready and
    scheduled), not in-flight ones, so re-sending an enqueue while its job
    runs creates a second job with the same id. Breaks contract point 10:
    an existing id (waiting, scheduled or in flight) creates nothing."""

    caught_by = "idempotent_enqueue"

    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        store = self._store(topic)
        for job in jobs:
            rec = store.jobs.get(job.id)
            if rec is not None and rec.state is JobState.IN_FLIGHT:
                del store.jobs[job.id]  # DEFECT: invisible to the dedup lookup
        return await super().enqueue(topic, jobs)


class DedupAcrossTopics(MemoryDriver):
    """Job ids are unique across all topics instead of per topic (a global
    ``id PRIMARY KEY``), so an explicit id used in one topic cannot be
    enqueued in another. Breaks contract point 10: different topics are
    independent."""

    caught_by = "idempotent_enqueue"

    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        taken = {  # DEFECT: looks up ids in every topic
            job_id for name, store in self._topics.items() if name != topic for job_id in store.jobs
        }
        fresh = [job for job in jobs if job.id not in taken]
        created = iter(await super().enqueue(topic, fresh)) if fresh else iter(())
        return [False if job.id in taken else next(created) for job in jobs]


class AckedJobDeliveredAgain(MemoryDriver):
    """Ack voids the lease token but leaves the job in the in-flight set (it
    forgets the ``ZREM``), so once the old deadline passes the reaper puts
    the acked job back and it is delivered again. Breaks contract point 11:
    ack is terminal (and point 12: an acked job is gone)."""

    caught_by = "reused_id_gets_a_fresh_schedule"

    async def ack_many(self, topic: str, leases: Sequence[tuple[str, str]]) -> list[Settled]:
        store = self._store(topic)
        outcomes: list[Settled] = []
        for job_id, token in leases:
            rec = store.jobs.get(job_id)
            if rec is None:
                outcomes.append(Settled.GONE)
            elif rec.state is not JobState.IN_FLIGHT or rec.token != token:
                outcomes.append(Settled.LEASE_LOST)
            else:
                rec.token = None  # DEFECT: instead of store.remove(rec)
                outcomes.append(Settled.ACKED)
        return outcomes


class PurgeAcrossTopics(MemoryDriver):
    """Purge by ids deletes matching waiting jobs in every topic (``DELETE
    ... WHERE id IN (...)`` without ``AND topic = ?``). Breaks contract point
    12 and the kit's topic-isolation property: no operation on one topic
    touches another."""

    caught_by = "topic_isolation"

    async def purge(self, topic: str, ids: Sequence[str] | None = None) -> int:
        if ids is None:
            return await super().purge(topic)
        # DEFECT: every topic, not just `topic`
        return sum(
            [await super(PurgeAcrossTopics, self).purge(name, ids) for name in list(self._topics)]
        )


# -- payloads and lifecycle (contract points 1, 13, 14) ----------------------------------


class EmptyPayloadMangled(MemoryDriver):
    """An empty payload is stored as one NUL byte (the backend refused empty
    values, so the author wrote a placeholder) and comes back as
    ``b"\\x00"``. Breaks contract point 1: any bytes, empty included, come
    back byte-identical."""

    caught_by = "payload_round_trip"

    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        stored = [
            dataclasses.replace(job, payload=job.payload or b"\x00") for job in jobs
        ]  # DEFECT
        return await super().enqueue(topic, stored)


class LargePayloadTruncated(MemoryDriver):
    """Payloads are stored in a column that holds 65,535 bytes (a MySQL
    ``BLOB``) and are silently truncated beyond that, while the driver still
    declares ``max_payload_bytes`` = 1 MiB. Breaks contract point 1: payloads
    up to ``max_payload_bytes`` come back byte-identical."""

    caught_by = "payload_round_trip"

    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        stored = [dataclasses.replace(job, payload=job.payload[:65_535]) for job in jobs]  # DEFECT
        return await super().enqueue(topic, stored)


class UsableAfterClose(MemoryDriver):
    """``close()`` only drops the driver's connections and the next call
    silently reconnects (as a redis-py pool does), so operations after close
    succeed. Breaks contract points 13 and 14: after ``close`` every method
    raises ``Closed``."""

    caught_by = "close_drains_then_releases"

    async def close(self) -> None:
        for store in self._topics.values():
            store.notify()  # DEFECT: `self._closed = True` is missing


# -- wake-ups and waiting (contract point 15) -----------------------------------------


class WaitIgnoresDueTime(MemoryDriver):
    """``wait()`` never shortens its timeout to the next scheduled due time
    or lease deadline, so on the real clock a delayed job waits for the
    consumer's whole poll interval. Breaks contract point 15: a blocked
    wait ends when a scheduled job comes due or a lease expires."""

    caught_by = "wait_ends_at_the_next_due_time"

    async def wait(self, topic: str, timeout: float) -> None:
        store = self._store(topic)
        now = self._now_ms()
        event = store.wakeup
        upcoming_ms = store.next_event_ms()
        claimable = store.n_ready or (upcoming_ms is not None and upcoming_ms <= now)
        if claimable and (store.limits.unlimited or store.claim_room(1, now)):
            return
        # DEFECT: no shortening of `timeout` to the next due time or deadline
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)


class WaitIgnoresLeaseDeadline(MemoryDriver):
    """``wait()`` shortens its timeout to the next scheduled due time but
    forgets lease deadlines, so a job whose worker died is redelivered only
    after the poll interval. Breaks contract point 15: a blocked wait ends
    when a lease expires."""

    caught_by = "wait_ends_at_the_next_due_time"

    async def wait(self, topic: str, timeout: float) -> None:
        store = self._store(topic)
        now = self._now_ms()
        event = store.wakeup
        upcoming_ms = store.next_event_ms()
        claimable = store.n_ready or (upcoming_ms is not None and upcoming_ms <= now)
        if claimable and (store.limits.unlimited or store.claim_room(1, now)):
            return
        if not self._fake_clock:
            # DEFECT: only scheduled due times, not the lease deadlines of `store.inflight`
            upcoming = [t for t in (store.scheduled[0][0] if store.scheduled else None,) if t]
            upcoming += [t for t in (store.next_slot_ms(now),) if t]
            if upcoming:
                timeout = min(timeout, max(0.0, (min(upcoming) - now) / 1000.0 + 0.001))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)


class WaitBusyPolls(MemoryDriver):
    """``wait()`` returns at once ("the caller claims again anyway"), so an
    idle consumer hammers the backend in a tight loop. Breaks contract
    point 15: an idle topic must not make wait return at once again and
    again."""

    caught_by = "idle_wait_does_not_poll"

    async def wait(self, topic: str, timeout: float) -> None:
        self._store(topic)
        await asyncio.sleep(0)  # DEFECT: no blocking at all


class WaitPollsEvery100ms(MemoryDriver):
    """``wait()`` ignores every wake-up and sleeps a fixed 100 ms (a driver
    that polls its backend instead of blocking on a notification): moves
    seem to wake waiters, within a poll, but an idle consumer calls the
    backend ten times a second. Breaks contract point 15: an idle topic
    must not make wait return again and again."""

    caught_by = "idle_wait_does_not_poll"

    async def wait(self, topic: str, timeout: float) -> None:
        self._store(topic)
        await asyncio.sleep(min(timeout, 0.1))  # DEFECT: a poll, not a wait


class WaitBlocksWhenReady(MemoryDriver):
    """``wait()`` always blocks until the next wake-up or its timeout, even
    when a job is claimable now (it does not look first), so a consumer that
    missed a wake-up sits on ready work for a whole poll interval. Breaks
    contract point 15: wait returns at once when a job is claimable."""

    caught_by = "wait_returns_at_once_when_work_is_claimable"

    async def wait(self, topic: str, timeout: float) -> None:
        store = self._store(topic)
        # DEFECT: no "return at once if a job is claimable" check
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(store.wakeup.wait(), timeout)


class RetryDoesNotWake(MemoryDriver):
    """A retry due now makes the job ready without waking blocked waiters.
    Breaks contract point 15: every move that makes work claimable wakes
    waiters."""

    caught_by = "every_move_wakes_waiters"

    async def retry(
        self, topic: str, job_id: str, token: str, *, delay: float, error: str | None
    ) -> None:
        store = self._store(topic)
        rec = self._holder(store, topic, job_id, token)
        now = self._now_ms()
        if rec.cancel:
            self._end(store, rec, now)
            return
        rec.last_error = error
        store.make_due(rec, now + to_ms(delay), now)
        # DEFECT: no store.notify()


class ReleaseDoesNotWake(MemoryDriver):
    """A released job is ready again but blocked waiters are not woken.
    Breaks contract point 15."""

    caught_by = "every_move_wakes_waiters"

    async def release(self, topic: str, job_id: str, token: str) -> None:
        store = self._store(topic)
        rec = self._holder(store, topic, job_id, token)
        now = self._now_ms()
        if rec.cancel:
            self._end(store, rec, now)
            return
        rec.attempt = max(0, rec.attempt - 1)
        store.make_due(rec, now, now)
        # DEFECT: no store.notify()


class RedriveDoesNotWake(MemoryDriver):
    """Redriven jobs are ready in their topic but its waiters are not woken.
    Breaks contract point 15."""

    caught_by = "every_move_wakes_waiters"

    async def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int:
        store = self._store(topic)
        wakeup = store.wakeup
        store.wakeup = asyncio.Event()  # DEFECT: the waiters' event is never set
        moved = await super().redrive(topic, ids)
        store.wakeup = wakeup
        return moved


class DeadLetterDoesNotWake(MemoryDriver):
    """A new dead letter (from a worker or the reaper) does not wake the
    waiters of the dead-letter topic, so a dead-letter consumer sees it only
    after its poll interval. Breaks contract point 15."""

    caught_by = "every_move_wakes_waiters"

    def _bury(self, topic: str, store: TopicStore, rec: Rec, error: str | None, now: int) -> None:
        self._end(store, rec, now)
        if rec.cancel:
            return
        dead = self._store(topic + DEAD_SUFFIX)
        if rec.id in dead.jobs:
            return
        rec.last_error = error
        rec.seq = dead.next_seq()
        rec.due_ms = now
        dead.add(rec, now)
        # DEFECT: no dead.notify()


class ClockAdvanceDoesNotWake(MemoryDriver):
    """The driver does not listen to its injected clock, so moving a fake
    clock past a due time or a lease deadline wakes no waiter (tests on a
    fake clock then stall). Breaks contract point 15: the clock moving wakes
    waiters."""

    caught_by = "every_move_wakes_waiters"

    def _on_clock_advance(self) -> None:
        pass  # DEFECT: the listener does nothing


class CloseDoesNotWake(MemoryDriver):
    """``close()`` marks the driver closed but leaves blocked waiters asleep
    until their timeout, so shutting down a consumer takes a poll interval.
    Breaks contract point 15 (and ``Driver.close``: it wakes every wait)."""

    caught_by = "every_move_wakes_waiters"

    async def close(self) -> None:
        self._closed = True  # DEFECT: no store.notify() for each topic


class WakeListNeverTrimmed(MemoryDriver):
    """Every enqueue pushes a wake-up token on a per-topic list (as a Redis
    ``LPUSH``) and ``wait()`` pops one and returns at once when there is
    one, but nothing ever trims the list: after a burst of enqueues, an idle
    consumer returns from wait at once for each old token (busy polling
    long after the topic drained). Breaks contract point 15."""

    caught_by = "idle_wait_does_not_poll"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tokens: dict[str, int] = {}

    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        created = await super().enqueue(topic, jobs)
        if any(created):
            self._tokens[topic] = self._tokens.get(topic, 0) + 1  # DEFECT: never trimmed
        return created

    async def wait(self, topic: str, timeout: float) -> None:
        if self._tokens.get(topic, 0) > 0:
            self._store(topic)
            self._tokens[topic] -= 1
            await asyncio.sleep(0)
            return
        await super().wait(topic, timeout)


class LimitedWaitBusyPolls(MemoryDriver):
    """``wait()`` returns at once whenever a job is ready, even when the
    topic's limits allow no claim, so consumers of a limited topic spin.
    Breaks contract points 15 and 21: a limited topic's wait blocks until a
    slot opens."""

    caught_by = "limited_topic_wait_blocks_until_a_slot_opens"

    async def wait(self, topic: str, timeout: float) -> None:
        store = self._store(topic)
        if store.n_ready:  # DEFECT: the limits are not consulted
            await asyncio.sleep(0)
            return
        await super().wait(topic, timeout)


class AckDoesNotFreeSlotWake(MemoryDriver):
    """An ack that frees an in-flight slot of a limited topic wakes nobody,
    so its waiting consumers stay blocked for their poll interval. Breaks
    contract points 15 and 21: a slot that opens wakes waiters."""

    caught_by = "limited_topic_wait_blocks_until_a_slot_opens"

    def _end(self, store: TopicStore, rec: Rec, now: int) -> None:
        store.remove(rec)
        if rec.window_ms > 0:
            store.remember(rec.id, now + rec.window_ms)
        # DEFECT: no store.notify() when an in-flight slot opens


# -- order of moves (contract point 9) -------------------------------------------------


def _redrive(
    driver: MemoryDriver,
    topic: str,
    ids: Sequence[str] | None,
    order: Callable[[TopicStore], list[Rec]],
    *,
    most: int | None = None,
    keep_seq: bool = False,
) -> int:
    """The reference redrive, with the candidates in ``order``."""
    store = driver._store(topic)
    dead = driver._store(topic + DEAD_SUFFIX)
    wanted = None if ids is None else set(ids)
    now = driver._now_ms()
    moved = 0
    for rec in order(dead):
        if (wanted is not None and rec.id not in wanted) or rec.id in store.jobs:
            continue
        dead.remove(rec)
        rec.attempt = 0
        rec.enqueued_ms = now
        rec.due_ms = now
        if not keep_seq:
            rec.seq = store.next_seq()
        store.add(rec, now)
        moved += 1
        if most is not None and moved >= most:
            break
    if moved:
        store.notify()
    return moved


def _waiting(dead: TopicStore) -> list[Rec]:
    return dead.sorted_recs(JobState.READY) + dead.sorted_recs(JobState.SCHEDULED)


class RedriveScheduledFirst(MemoryDriver):
    """Redrive brings scheduled dead letters back before the ready ones (it
    walks the scheduled index first), so retried-and-failed-again dead
    letters jump ahead of older ones. Breaks contract point 9: moved ready
    ones first, in claim order, then scheduled ones by due time."""

    caught_by = "redrive_keeps_the_dead_letter_order"

    async def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int:
        def order(dead: TopicStore) -> list[Rec]:
            # DEFECT: scheduled before ready
            return dead.sorted_recs(JobState.SCHEDULED) + dead.sorted_recs(JobState.READY)

        return _redrive(self, topic, ids, order)


class RedriveInIdOrder(MemoryDriver):
    """Redrive moves dead letters of equal priority in id order (it reads
    them from a hash or an id index) instead of their order in the
    dead-letter topic, scrambling equal priorities and equal due times.
    Breaks contract point 9: moved in the dead-letter topic's order."""

    caught_by = "redrive_keeps_the_dead_letter_order"

    async def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int:
        def order(dead: TopicStore) -> list[Rec]:
            return sorted(_waiting(dead), key=lambda r: (-r.priority, r.id))  # DEFECT

        return _redrive(self, topic, ids, order)


class RedriveMovesOnlyOne(MemoryDriver):
    """Redrive moves one dead letter per call (a loop that returns after its
    first move), so it fails as soon as there are several. Breaks contract
    point 9: every chosen dead letter moves."""

    caught_by = "redrive_and_purge"

    async def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int:
        return _redrive(self, topic, ids, _waiting, most=1)  # DEFECT: most=1


class DeadLetterKeepsSourceSequence(MemoryDriver):
    """A dead letter keeps the sequence it had in its source topic instead
    of taking the dead-letter topic's next one, so dead letters that died in
    the same millisecond are ordered by when they were enqueued, not by when
    they died. Breaks contract points 3 and 9."""

    caught_by = "dead_letters_and_redriven_jobs_get_new_sequences"

    def _bury(self, topic: str, store: TopicStore, rec: Rec, error: str | None, now: int) -> None:
        self._end(store, rec, now)
        if rec.cancel:
            return
        dead = self._store(topic + DEAD_SUFFIX)
        if rec.id in dead.jobs:
            return
        rec.last_error = error
        dead.next_seq()  # DEFECT: the value is not stored in rec.seq
        rec.due_ms = now
        dead.add(rec, now)
        dead.notify()


class RedriveKeepsDeadSequence(MemoryDriver):
    """A redriven job keeps its dead-letter topic sequence, so it jumps
    ahead of jobs enqueued before the redrive in the same millisecond.
    Breaks contract points 3 and 9: a redriven job takes its topic's next
    sequence."""

    caught_by = "dead_letters_and_redriven_jobs_get_new_sequences"

    async def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int:
        return _redrive(self, topic, ids, _waiting, keep_seq=True)  # DEFECT: keep_seq


# -- bounds (contract point 17) --------------------------------------------------------


class ListLimitPlusOne(MemoryDriver):
    """``list_jobs`` returns ``limit + 1`` jobs (an inclusive range, as
    ``ZRANGE key 0 limit``). Breaks contract point 17."""

    caught_by = "in_flight_limit_holds_under_concurrency"

    async def list_jobs(
        self, topic: str, state: JobState, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        recs = self._store(topic).sorted_recs(state)[offset : offset + limit + 1]  # DEFECT
        return [rec.to_job(topic) for rec in recs]


class ListDefaultLimitOffByOne(MemoryDriver):
    """``list_jobs`` without a limit returns 101 jobs (its default is off by
    one). Breaks contract point 17: 100 by default."""

    caught_by = "list_limits_and_offsets"

    async def list_jobs(
        self,
        topic: str,
        state: JobState,
        *,
        limit: int = 101,  # DEFECT: the contract's default is 100
        offset: int = 0,
    ) -> list[Job]:
        return await super().list_jobs(topic, state, limit=limit, offset=offset)


class ListOffsetIgnored(MemoryDriver):
    """``list_jobs`` ignores ``offset``: every page is the first page.
    Breaks contract point 17."""

    caught_by = "list_limits_and_offsets"

    async def list_jobs(
        self, topic: str, state: JobState, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        return await super().list_jobs(topic, state, limit=limit)  # DEFECT: no offset


class ReapLimitPlusOne(MemoryDriver):
    """``reap(limit=n)`` moves ``n + 1`` expired leases (the loop checks the
    limit after moving). Breaks contract point 17."""

    caught_by = "reap_and_claim_bounds"

    def _reap(self, topic: str, store: TopicStore, now: int, limit: int) -> int:
        moved = 0
        while moved <= limit:  # DEFECT: `<` would stop at the limit
            rec = store.pop_expired(now)
            if rec is None:
                break
            moved += 1
            self._expire(topic, store, rec, now)
        if moved:
            store.notify()
        return moved


class LargeClaimFailsHalfway(MemoryDriver):
    """A claim of more than 500 jobs leases the first 500 and then fails
    (the backend's reply or stack is too small for a whole batch), although
    the driver declares ``max_batch`` = 1000. Breaks contract point 17: a
    claim of up to ``max_batch`` jobs works."""

    caught_by = "reap_and_claim_bounds"

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        jobs = await super().claim(topic, max_jobs=min(max_jobs, 500), lease=lease)
        if max_jobs > 500 and len(jobs) == 500:
            raise BackendUnavailable("reply too large")  # DEFECT: fails halfway
        return jobs


class RedriveAllLoopsOnShadows(MemoryDriver):
    """Redrive of all dead letters pages through them 100 at a time and
    restarts from the first page whenever a page moved something, so when
    most dead letters are shadowed by live ids it never returns. Breaks
    contract points 9 and 17: redrive returns."""

    caught_by = "redrive_and_purge"

    async def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int:
        if ids is not None:
            return await super().redrive(topic, ids)
        store = self._store(topic)
        moved = 0
        while True:
            page = _waiting(self._store(topic + DEAD_SUFFIX))[:100]
            chosen = [rec.id for rec in page if rec.id not in store.jobs]
            if not page:
                return moved
            moved += await super().redrive(topic, chosen)
            await asyncio.sleep(0)  # one round trip per page
            # DEFECT: a page of shadowed dead letters is read again forever


class ReleaseRefundsTwo(MemoryDriver):
    """Release gives back two attempts (it decrements the attempt counted
    by the claim and once more). Breaks contract point 13: exactly one."""

    caught_by = "release_refunds_the_attempt"

    async def release(self, topic: str, job_id: str, token: str) -> None:
        store = self._store(topic)
        rec = self._holder(store, topic, job_id, token)
        now = self._now_ms()
        if rec.cancel:
            self._end(store, rec, now)
            return
        rec.attempt = max(0, rec.attempt - 2)  # DEFECT: two, not one
        store.make_due(rec, now, now)
        store.notify()


# -- errors (contract point 8) -------------------------------------------------------


class RetryNoneKeepsError(MemoryDriver):
    """A retry without an error (``error=None``) keeps the previous
    ``last_error`` instead of clearing it (``HSET`` only when there is a
    value). Breaks contract point 8: ``None`` clears it."""

    caught_by = "retry_waits_and_records_error"

    async def retry(
        self, topic: str, job_id: str, token: str, *, delay: float, error: str | None
    ) -> None:
        store = self._store(topic)
        rec = self._holder(store, topic, job_id, token)
        now = self._now_ms()
        if rec.cancel:
            self._end(store, rec, now)
            return
        if error is not None:  # DEFECT: None should clear the old error
            rec.last_error = error
        store.make_due(rec, now + to_ms(delay), now)
        store.notify()


class ReusedIdInheritsError(MemoryDriver):
    """Errors live in a side table keyed by job id that nobody cleans when a
    job ends (a Redis ``:errors`` hash without ``HDEL``), so a new job that
    reuses the id shows the old job's ``last_error``. Breaks contract points
    8 and 10: a reused id is a new job."""

    caught_by = "reused_id_gets_a_fresh_schedule"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._errors: dict[tuple[str, str], str | None] = {}

    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        created = await super().enqueue(topic, jobs)
        store = self._store(topic)
        for job, new in zip(jobs, created, strict=True):
            if new:  # DEFECT: the side table is read for a brand-new job
                store.jobs[job.id].last_error = self._errors.get((topic, job.id))
        return created

    async def retry(
        self, topic: str, job_id: str, token: str, *, delay: float, error: str | None
    ) -> None:
        await super().retry(topic, job_id, token, delay=delay, error=error)
        self._errors[(topic, job_id)] = error


# -- re-sent calls (contract point 18) ------------------------------------------------


class ResentDeadLetterMovesAgain(MemoryDriver):
    """To answer a re-sent ``dead_letter`` "done" (as a driver with request
    ids does), the driver remembers the tokens it dead-lettered; but a
    re-sent call finds the job by id in the dead-letter topic and
    dead-letters it again from there, into ``t:dead:dead``. Breaks contract
    point 18: a re-sent call takes effect once."""

    caught_by = "resent_calls_take_effect_once"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._buried: dict[tuple[str, str], str] = {}

    async def dead_letter(self, topic: str, job_id: str, token: str, *, error: str | None) -> None:
        if self._buried.get((topic, job_id)) == token:
            dead = topic + DEAD_SUFFIX
            store = self._store(dead)
            rec = store.jobs.get(job_id)
            if rec is not None and rec.state is not JobState.IN_FLIGHT:
                self._bury(dead, store, rec, error, self._now_ms())  # DEFECT: applied again
            return
        await super().dead_letter(topic, job_id, token, error=error)
        self._buried[(topic, job_id)] = token


# -- hangs (contract point 14) -----------------------------------------------------------


class ClaimWaitsForWork(MemoryDriver):
    """Claim on a topic with nothing due blocks until a job arrives (a
    blocking pop, ``BRPOP``-style), so a consumer can never check for
    shutdown or renew its leases between claims. Breaks contract points 5
    and 14: claim never waits for work."""

    caught_by = "priority_then_fifo_within_one_millisecond"

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        while True:
            jobs = await super().claim(topic, max_jobs=max_jobs, lease=lease)
            if jobs:
                return jobs
            await self._store(topic).wakeup.wait()  # DEFECT: waits for work


# -- headers (contract point 16) -----------------------------------------------------


class HeadersLostOnDeadLetter(MemoryDriver):
    """Dead-lettering copies the job's fields one by one into the dead-letter
    topic and forgets the headers. Breaks contract point 16: headers travel
    with the job through every move."""

    caught_by = "headers_round_trip_through_every_move"

    def _bury(self, topic: str, store: TopicStore, rec: Rec, error: str | None, now: int) -> None:
        rec.headers = EMPTY_HEADERS  # DEFECT: the headers are not copied
        super()._bury(topic, store, rec, error, now)


class HeaderValuesStripped(MemoryDriver):
    """Headers are stored as ``name=value`` lines and read back with
    ``strip()``, so values lose leading and trailing spaces. Breaks contract
    point 16: headers come back byte-exact."""

    caught_by = "headers_round_trip_through_every_move"

    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        stored = [
            dataclasses.replace(job, headers={k: v.strip() for k, v in job.headers.items()})
            for job in jobs  # DEFECT: strip()
        ]
        return await super().enqueue(topic, stored)


# -- fencing tokens (contract point 6) ---------------------------------------------------


class FencingCounterPerTopic(MemoryDriver):
    """Each topic has its own fencing counter, so the first claim of a dead
    letter in ``t:dead`` gets token 1 again, below tokens the job already
    carried. Breaks contract point 6: one counter per topic family."""

    caught_by = "fencing_tokens_rise_across_the_family"

    def _next_fence(self, topic: str) -> int:
        fence = self._fences.get(topic, 0) + 1  # DEFECT: keyed by topic, not family
        self._fences[topic] = fence
        return fence


class FencingCounterPerJob(MemoryDriver):
    """The fencing token counts the claims of each job (``fence + 1``), so a
    new job reusing an id, or another job of the topic, gets tokens at or
    below ones already issued. Breaks contract point 6: one counter per
    family, larger than every token issued before."""

    caught_by = "fencing_tokens_rise_across_the_family"

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        store = self._store(topic)
        now = self._now_ms()
        self._reap(topic, store, now, REAP_LIMIT)
        store.promote_due(now)
        jobs = []
        for _ in range(_room(store, max_jobs, now)):
            rec = store.pop_ready()
            if rec is None:
                break
            fence = rec.fence + 1  # DEFECT: per job
            jobs.append(_lease(self, topic, store, rec, lease, now, fence=fence))
        return jobs


# -- idempotency records (contract point 10) ---------------------------------------------


class ReaperForgetsRecords(MemoryDriver):
    """Jobs dead-lettered by the reaper (attempts used up by lease expiry)
    leave no idempotency record: the reaper deletes them directly instead of
    going through the code that ends a job. Breaks contract point 10."""

    caught_by = "idempotency_records"

    def _expire(self, topic: str, store: TopicStore, rec: Rec, now: int) -> None:
        if rec.attempt >= rec.max_attempts and not rec.cancel:
            window, rec.window_ms = rec.window_ms, 0  # DEFECT: no record left
            self._bury(topic, store, rec, "lease expired", now)
            rec.window_ms = window
            return
        super()._expire(topic, store, rec, now)


class RecordsNeverExpire(MemoryDriver):
    """Idempotency records are kept forever (a set without expiry), so an id
    can never be used again after its window. Breaks contract point 10:
    after the window an enqueue creates again."""

    caught_by = "idempotency_records"

    def _end(self, store: TopicStore, rec: Rec, now: int) -> None:
        if rec.window_ms > 0:
            rec.window_ms = 10**15  # DEFECT: the window is ignored
        super()._end(store, rec, now)


class RecordsShareTopics(MemoryDriver):
    """Idempotency records are global (one key for every topic), so an id
    that ended in one topic cannot be enqueued in another. Breaks contract
    point 10: other topics are independent."""

    caught_by = "idempotency_records"

    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        now = self._now_ms()
        blocked = {  # DEFECT: records of every topic
            job.id
            for job in jobs
            for store in self._topics.values()
            if store.done and store.remembered(job.id, now)
        }
        fresh = [job for job in jobs if job.id not in blocked]
        created = iter(await super().enqueue(topic, fresh) if fresh else [])
        return [False if job.id in blocked else next(created) for job in jobs]


class RedriveLeavesRecord(MemoryDriver):
    """Redrive ends the dead letter in the dead-letter topic (leaving an
    idempotency record there) instead of moving it. Breaks contract point
    10: a redrive is a move, not an end."""

    caught_by = "idempotency_records"

    async def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int:
        dead = self._store(topic + DEAD_SUFFIX)
        before = {rec.id: rec.window_ms for rec in dead.jobs.values()}
        moved = await super().redrive(topic, ids)
        now = self._now_ms()
        for job_id, window in before.items():
            if job_id not in dead.jobs and window > 0:
                dead.remember(job_id, now + window)  # DEFECT: a move is not an end
        return moved


# -- counts (contract point 17) -----------------------------------------------------------


class OldestDueIgnoresScheduled(MemoryDriver):
    """``counts().oldest_due_at`` looks at ready jobs only, missing scheduled
    jobs whose due time has passed (nobody claimed since). Breaks contract
    point 17."""

    caught_by = "counts_and_the_oldest_due_time"

    async def counts(self, topic: str) -> Counts:
        counts = await super().counts(topic)
        ready = [r.due_ms for r in self._store(topic).jobs.values() if r.state is JobState.READY]
        oldest = min(ready) / 1000.0 if ready else None  # DEFECT: ready jobs only
        return dataclasses.replace(counts, oldest_due_at=oldest)


# -- topics (contract point 19) ------------------------------------------------------------


class TopicsListDeadTopics(MemoryDriver):
    """``topics()`` lists dead-letter topics too (every key it finds).
    Breaks contract point 19: without ``:dead`` suffixes."""

    caught_by = "topics_lists_every_topic"

    async def topics(self) -> list[str]:
        return sorted(name for name, store in self._topics.items() if store.seq > 0)  # DEFECT


# -- cancellation (contract point 20) -------------------------------------------------------


class CancelDeletesInFlight(MemoryDriver):
    """Cancel deletes an in-flight job at once (as if it were waiting): its
    worker keeps running and its ack finds nothing. Breaks contract point
    20: an in-flight job gets a request and stays until settled."""

    caught_by = "cancellation"

    async def cancel(self, topic: str, ids: Sequence[str]) -> list[CancelOutcome]:
        store = self._store(topic)
        now = self._now_ms()
        outcomes = []
        for job_id in ids:
            rec = store.jobs.get(job_id)
            if rec is None:
                outcomes.append(CancelOutcome.NOT_FOUND)
            else:
                in_flight = rec.state is JobState.IN_FLIGHT
                self._end(store, rec, now)  # DEFECT: in flight too
                outcomes.append(CancelOutcome.REQUESTED if in_flight else CancelOutcome.CANCELLED)
        return outcomes


class CancelledReleaseComesBack(MemoryDriver):
    """Release ignores a pending cancel request: a cancelled job released by
    its worker (on shutdown) is ready again and runs. Breaks contract point
    20: whatever settles a cancelled job deletes it."""

    caught_by = "cancellation"

    async def release(self, topic: str, job_id: str, token: str) -> None:
        store = self._store(topic)
        rec = self._holder(store, topic, job_id, token)
        now = self._now_ms()
        # DEFECT: no `if rec.cancel: end it`
        rec.attempt = max(0, rec.attempt - 1)
        store.make_due(rec, now, now)
        store.notify()


class CancelledReapedIsRetried(MemoryDriver):
    """The reaper ignores a pending cancel request and returns the expired
    job to ready. Breaks contract point 20: the reaper deletes a cancelled
    job after its lease."""

    caught_by = "cancellation"

    def _expire(self, topic: str, store: TopicStore, rec: Rec, now: int) -> None:
        rec.cancel = False  # DEFECT: the request is dropped
        super()._expire(topic, store, rec, now)


class CancelDeletesOtherJobs(MemoryDriver):
    """Cancel of a waiting job runs ``DELETE ... WHERE topic = ? AND state
    != 'in_flight'`` without ``AND id = ?``: every waiting job of the topic
    goes. Breaks contract point 20: a cancel never loses a job that was not
    cancelled."""

    caught_by = "cancellation"

    async def cancel(self, topic: str, ids: Sequence[str]) -> list[CancelOutcome]:
        outcomes = await super().cancel(topic, ids)
        if CancelOutcome.CANCELLED in outcomes:
            await self.purge(topic)  # DEFECT: every waiting job
        return outcomes


# -- limits (contract point 21) ---------------------------------------------------------


class LimitsPerDriverObject(MemoryDriver):
    """The in-flight limit is counted per driver object (a process-local
    counter of the leases it issued) instead of in the backend, so two
    processes each let ``max_in_flight`` jobs run. ``peer()`` opens a second
    driver object on the same data. Breaks contract point 21: limits hold
    across every consumer of every process."""

    caught_by = "in_flight_limit_holds_under_concurrency"

    def peer(self) -> LimitsPerDriverObject:
        other = LimitsPerDriverObject(clock=self._clock)
        other._topics, other._fences = self._topics, self._fences
        return other

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        store = self._store(topic)
        now = self._now_ms()
        self._reap(topic, store, now, REAP_LIMIT)
        store.promote_due(now)
        room = max_jobs
        if store.limits.max_in_flight is not None:
            mine = sum(  # DEFECT: only this object's leases are counted
                1
                for rec in store.jobs.values()
                if rec.state is JobState.IN_FLIGHT
                and (rec.token or "").startswith(self._token_prefix)
            )
            room = min(room, store.limits.max_in_flight - mine)
        if store.limits.rate is not None:
            times, since = store.claim_times, now - round(store.limits.per * 1000)
            while times and times[0] <= since:
                times.popleft()
            room = min(room, store.limits.rate - len(times))
        return _lease_best(self, topic, store, max(0, room), lease, now)


class LimitCheckRaces(MemoryDriver):
    """Claim reads the number of jobs in flight, then (one round trip later)
    leases without checking again, so concurrent claimers together exceed
    ``max_in_flight``. Breaks contract point 21: claims honour the limits
    exactly under concurrency."""

    caught_by = "in_flight_limit_holds_under_concurrency"

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        store = self._store(topic)
        now = self._now_ms()
        self._reap(topic, store, now, REAP_LIMIT)
        store.promote_due(now)
        room = _room(store, max_jobs, now)
        await asyncio.sleep(0)  # DEFECT: the room is stale by the time we lease
        return _lease_best(self, topic, store, room, lease, now)


class RateFixedWindow(MemoryDriver):
    """The rate limit counts claims in fixed buckets (``now // per``) instead
    of a sliding window, so up to twice ``rate`` claims get through around a
    bucket boundary. Breaks contract point 21: at most ``rate`` claims
    within any window of ``per`` seconds."""

    caught_by = "rate_limit_is_a_sliding_window"

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        store = self._store(topic)
        limits = store.limits
        if limits.rate is not None:
            per = round(limits.per * 1000)
            bucket = self._now_ms() // per * per
            kept = [t for t in store.claim_times if t >= bucket]  # DEFECT: fixed buckets
            store.claim_times.clear()
            store.claim_times.extend(kept)
            room = limits.rate - len(kept)
            max_jobs = min(max_jobs, max(0, room))
            if max_jobs == 0:
                return []
            saved, store.limits = store.limits, TopicLimits(max_in_flight=limits.max_in_flight)
            try:
                jobs = await super().claim(topic, max_jobs=max_jobs, lease=lease)
            finally:
                store.limits = saved
            store.claim_times.extend([self._now_ms()] * len(jobs))
            return jobs
        return await super().claim(topic, max_jobs=max_jobs, lease=lease)


BROKEN_DRIVERS: tuple[type[MemoryDriver], ...] = (
    ReapLosesPriority,
    FifoBrokenWithinMs,
    ReapRequeuesAtNow,
    ReleaseKeepsOldDueTime,
    DelayedClaimableEarly,
    ExpiryNotCounted,
    PoisonNeverDeadLettered,
    ClaimSkipsReap,
    TwoConsumersOneJob,
    ExtendFromOldDeadline,
    ReleaseUsesAttempt,
    RetryForgetsError,
    StaleTokenAck,
    StaleTokenExtend,
    LateAckRejected,
    DeadLetterDuplicated,
    RedriveCopies,
    InFlightEnqueueDuplicates,
    DedupAcrossTopics,
    AckedJobDeliveredAgain,
    PurgeAcrossTopics,
    EmptyPayloadMangled,
    LargePayloadTruncated,
    UsableAfterClose,
    WaitIgnoresDueTime,
    WaitIgnoresLeaseDeadline,
    WaitBusyPolls,
    WaitPollsEvery100ms,
    WaitBlocksWhenReady,
    RetryDoesNotWake,
    ReleaseDoesNotWake,
    RedriveDoesNotWake,
    DeadLetterDoesNotWake,
    ClockAdvanceDoesNotWake,
    CloseDoesNotWake,
    WakeListNeverTrimmed,
    LimitedWaitBusyPolls,
    AckDoesNotFreeSlotWake,
    RedriveScheduledFirst,
    RedriveInIdOrder,
    RedriveMovesOnlyOne,
    DeadLetterKeepsSourceSequence,
    RedriveKeepsDeadSequence,
    ListLimitPlusOne,
    ListDefaultLimitOffByOne,
    ListOffsetIgnored,
    ReapLimitPlusOne,
    LargeClaimFailsHalfway,
    RedriveAllLoopsOnShadows,
    ReleaseRefundsTwo,
    RetryNoneKeepsError,
    ReusedIdInheritsError,
    ResentDeadLetterMovesAgain,
    ClaimWaitsForWork,
    HeadersLostOnDeadLetter,
    HeaderValuesStripped,
    FencingCounterPerTopic,
    FencingCounterPerJob,
    ReaperForgetsRecords,
    RecordsNeverExpire,
    RecordsShareTopics,
    RedriveLeavesRecord,
    OldestDueIgnoresScheduled,
    TopicsListDeadTopics,
    CancelDeletesInFlight,
    CancelledReleaseComesBack,
    CancelledReapedIsRetried,
    CancelDeletesOtherJobs,
    LimitsPerDriverObject,
    LimitCheckRaces,
    RateFixedWindow,
)
"""Every broken driver; each must fail the kit."""
