"""Deliberately broken drivers: the proof that the conformance kit catches
contract defects (``tests/test_kit_catches_broken_drivers.py``).

Each class is :class:`queue_memory.MemoryDriver` with exactly one defect, the
kind a real driver author writes; its docstring names the defect and the
SPEC contract point it breaks, and the overridden code marks the defect with
``# DEFECT``. Everything else is the reference behaviour, so the kit must
find the defect itself. Read as a checklist, this file is also the "common
mistakes" section of ``docs/writing-a-driver.md``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from queue_core import (
    DEAD_SUFFIX,
    Closed,
    Job,
    JobState,
    LeaseLost,
    NewJob,
    Settled,
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


# -- ordering (contract point 3) ------------------------------------------------


class ReapLosesPriority(MemoryDriver):
    """The reaper re-queues an expired job under the default priority 0 (it
    computes the ready score without reading the job's priority), so after a
    lease expiry the job sorts among priority-0 jobs while its record still
    shows its real priority. Breaks contract point 3: priority survives
    every move (the original Go driver's reaper had this class of bug)."""

    def _expire(self, topic: str, store: TopicStore, rec: Rec, now: int) -> None:
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

    store_class = _NoSequenceStore


class ReapRequeuesAtNow(MemoryDriver):
    """The reaper makes an expired job due at the time of the reap instead of
    at its lease deadline, so a job reaped late queues behind jobs that
    became due after its lease ran out. Breaks contract point 3: after a
    lease expiry a job is due at its lease deadline."""

    def _expire(self, topic: str, store: TopicStore, rec: Rec, now: int) -> None:
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

    async def release(self, topic: str, job_id: str, token: str) -> None:
        store = self._store(topic)
        rec = self._holder(store, topic, job_id, token)
        now = self._now_ms()
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

    store_class = _RefundOnExpiryStore


class PoisonNeverDeadLettered(MemoryDriver):
    """The reaper always returns an expired job to ready and never checks
    ``max_attempts``, so a job that kills its worker every time loops forever.
    Breaks contract points 8 and 9 (and the original driver's defect 7): a
    job out of attempts goes to the dead-letter topic, also by lease expiry."""

    def _expire(self, topic: str, store: TopicStore, rec: Rec, now: int) -> None:
        # DEFECT: no `if rec.attempt >= rec.max_attempts: bury`
        rec.last_error = "lease expired"
        assert rec.deadline_ms is not None
        store.make_due(rec, rec.deadline_ms, now)


class ClaimSkipsReap(MemoryDriver):
    """Claim does not reap expired leases first, so a job whose lease expired
    is only claimable again once a separate reaper has run. Breaks
    contract point 5: a claimed job neither acked nor extended is claimable
    again after its lease (``Driver.claim`` first does what ``reap`` does)."""

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        store = self._store(topic)
        now = self._now_ms()
        # DEFECT: no `self._reap(topic, store, now, REAP_LIMIT)` here
        store.promote_due(now)
        deadline = now + to_ms(lease)
        claimed: list[Job] = []
        while len(claimed) < max_jobs:
            rec = store.pop_ready()
            if rec is None:
                break
            rec.attempt += 1
            rec.fence += 1
            store.lease(rec, f"{self._token_prefix}.{next(self._token_counter)}", deadline)
            claimed.append(rec.to_job(topic))
        return claimed


class TwoConsumersOneJob(MemoryDriver):
    """Claim is not atomic: it selects the best ready jobs, then (one round
    trip later) leases them without checking that they are still ready, so
    two concurrent claims can both get the same job. Breaks contract points 5
    and 12: while a lease is live no other consumer gets the job."""

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        store = self._store(topic)
        now = self._now_ms()
        self._reap(topic, store, now, REAP_LIMIT)
        store.promote_due(now)
        picked = store.sorted_recs(JobState.READY)[:max_jobs]  # SELECT ... LIMIT n
        await asyncio.sleep(0)  # DEFECT: the UPDATE comes later, unconditionally
        deadline = now + to_ms(lease)
        claimed: list[Job] = []
        for rec in picked:
            rec.attempt += 1
            rec.fence += 1
            store.lease(rec, f"{self._token_prefix}.{next(self._token_counter)}", deadline)
            claimed.append(rec.to_job(topic))
        return claimed


class ExtendFromOldDeadline(MemoryDriver):
    """Extend adds the lease to the old deadline instead of setting it to
    ``now + lease``, so a lease renewed often drifts far into the future (a
    dead worker then holds its job for hours). Breaks contract point 7 (and
    ``Driver.extend``: the deadline becomes ``now + lease``)."""

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

    async def release(self, topic: str, job_id: str, token: str) -> None:
        store = self._store(topic)
        rec = self._holder(store, topic, job_id, token)
        now = self._now_ms()
        # DEFECT: no `rec.attempt = max(0, rec.attempt - 1)`
        store.make_due(rec, now, now)
        store.notify()


class RetryForgetsError(MemoryDriver):
    """Retry schedules the job again but does not record the handler's error
    as ``last_error``. Breaks contract point 8: retries record the last
    error."""

    async def retry(
        self, topic: str, job_id: str, token: str, *, delay: float, error: str | None
    ) -> None:
        store = self._store(topic)
        rec = self._holder(store, topic, job_id, token)
        now = self._now_ms()
        # DEFECT: no `rec.last_error = error`
        store.make_due(rec, now + to_ms(delay), now)
        store.notify()


# -- fencing (contract point 6) -------------------------------------------------------


class StaleTokenAck(MemoryDriver):
    """Ack deletes any in-flight job without comparing the lease token, so a
    worker whose lease expired and was re-claimed acks the new holder's job
    (the original Go driver's defect 4). Breaks contract point 6: a stale
    token gets ``LeaseLost`` and changes nothing."""

    async def ack_many(self, topic: str, leases: Sequence[tuple[str, str]]) -> list[Settled]:
        store = self._store(topic)
        outcomes: list[Settled] = []
        for job_id, _token in leases:
            rec = store.jobs.get(job_id)
            if rec is None:
                outcomes.append(Settled.GONE)
            elif rec.state is not JobState.IN_FLIGHT:  # DEFECT: token not compared
                outcomes.append(Settled.LEASE_LOST)
            else:
                store.remove(rec)
                outcomes.append(Settled.ACKED)
        return outcomes


class StaleTokenExtend(MemoryDriver):
    """Extend renews any in-flight job's lease without comparing the token,
    so a worker that lost its job keeps the new holder's lease alive. Breaks
    contract point 6 (stale tokens are fenced for every operation)."""

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
                store.remove(rec)
                outcomes.append(Settled.ACKED)
        return outcomes


# -- dead letters (contract point 9) ------------------------------------------------


class DeadLetterDuplicated(MemoryDriver):
    """Dead-lettering writes the job into ``<topic>:dead`` even when that
    topic already holds its id (an upsert instead of insert-if-absent): the
    dead letter is written twice, its first copy's fields are overwritten and
    the dead topic counts it twice. Breaks contract point 9: dead letters are
    idempotent by job id, never duplicated."""

    def _bury(self, topic: str, store: TopicStore, rec: Rec, error: str | None, now: int) -> None:
        store.remove(rec)
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

    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        stored = [dataclasses.replace(job, payload=job.payload[:65_535]) for job in jobs]  # DEFECT
        return await super().enqueue(topic, stored)


class UsableAfterClose(MemoryDriver):
    """``close()`` only drops the driver's connections and the next call
    silently reconnects (as a redis-py pool does), so operations after close
    succeed. Breaks contract points 13 and 14: after ``close`` every method
    raises ``Closed``."""

    async def close(self) -> None:
        for store in self._topics.values():
            store.notify()  # DEFECT: `self._closed = True` is missing


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
)
"""Every broken driver; each must fail the kit."""
