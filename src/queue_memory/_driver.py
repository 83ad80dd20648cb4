"""The in-memory reference driver."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections.abc import Sequence

from queue_core import (
    DEAD_SUFFIX,
    CancelOutcome,
    Capabilities,
    Clock,
    Closed,
    Counts,
    Driver,
    FakeClock,
    Job,
    JobState,
    LeaseLost,
    NewJob,
    Settled,
    SystemClock,
    TopicLimits,
    base_topic,
    to_ms,
)

from ._store import Rec, TopicStore

__all__ = ["MemoryDriver"]

REAP_LIMIT = 1000


class MemoryDriver(Driver):
    """Every semantic of the driver contract, in one process, no dependencies.

    Deterministic under a :class:`~queue_core.FakeClock`: nothing happens
    unless a method is called or the clock is advanced. Jobs live as long as
    the driver object; not for production (nothing is persisted).

    Beyond the driver interface it offers helpers for tests: :meth:`jobs`,
    :meth:`dead_letters`, :meth:`next_due`.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        max_payload_bytes: int = 1024 * 1024,
        max_batch: int = 1000,
    ) -> None:
        self._clock = clock or SystemClock()
        self._capabilities = Capabilities(
            max_payload_bytes=max_payload_bytes,
            max_batch=max_batch,
            clock_control=True,
            persistent=False,
            push_wakeup=True,
            idempotency_records=True,
            list_topics=True,
            cancellation=True,
            limits=True,
        )
        self._topics: dict[str, TopicStore] = {}
        self._fences: dict[str, int] = {}  # per family (base topic): last fencing token
        self._closed = False
        self._token_prefix = secrets.token_hex(4)
        self._token_counter = itertools.count(1)
        self._fake_clock = isinstance(self._clock, FakeClock)
        if isinstance(self._clock, FakeClock):
            self._clock.on_advance(self._on_clock_advance)

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def clock(self) -> Clock:
        return self._clock

    # -- helpers --------------------------------------------------------------

    def _now_ms(self) -> int:
        return to_ms(self._clock.now())

    def _store(self, topic: str) -> TopicStore:
        if self._closed:
            raise Closed("the memory driver is closed")
        store = self._topics.get(topic)
        if store is None:
            store = self._topics[topic] = TopicStore()
        return store

    def _holder(self, store: TopicStore, topic: str, job_id: str, token: str) -> Rec:
        rec = store.jobs.get(job_id)
        if rec is None:
            raise LeaseLost(topic, job_id, "no such job")
        if rec.state is not JobState.IN_FLIGHT or rec.token != token:
            raise LeaseLost(topic, job_id)
        return rec

    def _on_clock_advance(self) -> None:
        for store in self._topics.values():
            store.notify()

    def _next_fence(self, topic: str) -> int:
        """The next fencing token of the topic's family (see ``base_topic``)."""
        family = base_topic(topic)
        fence = self._fences.get(family, 0) + 1
        self._fences[family] = fence
        return fence

    def _end(self, store: TopicStore, rec: Rec, now: int) -> None:
        """The job ends in this topic: gone, its id remembered for its window."""
        store.remove(rec)
        if rec.window_ms > 0:
            store.remember(rec.id, now + rec.window_ms)
        if store.limits.max_in_flight is not None:
            store.notify()  # an in-flight slot may have opened

    def _bury(self, topic: str, store: TopicStore, rec: Rec, error: str | None, now: int) -> None:
        self._end(store, rec, now)
        if rec.cancel:
            return  # a cancelled job ends here instead of dying
        dead = self._store(topic + DEAD_SUFFIX)
        if rec.id in dead.jobs:
            return
        rec.last_error = error
        rec.seq = dead.next_seq()
        rec.due_ms = now
        dead.add(rec, now)
        dead.notify()

    def _reap(self, topic: str, store: TopicStore, now: int, limit: int) -> int:
        moved = 0
        while moved < limit:
            rec = store.pop_expired(now)
            if rec is None:
                break
            moved += 1
            self._expire(topic, store, rec, now)
        if moved:
            store.notify()
        return moved

    def _expire(self, topic: str, store: TopicStore, rec: Rec, now: int) -> None:
        """One expired lease: back to ready, due at its deadline, or to the
        dead-letter topic when the job is out of attempts (deleted when its
        cancellation was requested)."""
        if rec.cancel:
            self._end(store, rec, now)
            return
        if rec.attempt >= rec.max_attempts:
            self._bury(topic, store, rec, "lease expired", now)
            return
        rec.last_error = "lease expired"
        assert rec.deadline_ms is not None
        store.make_due(rec, rec.deadline_ms, now)

    # -- the driver interface -------------------------------------------------

    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        store = self._store(topic)
        now = self._now_ms()
        created: list[bool] = []
        for job in jobs:
            if job.id in store.jobs or (store.done and store.remembered(job.id, now)):
                created.append(False)
                continue
            due = max(now, to_ms(job.run_at)) if job.run_at is not None else now + to_ms(job.delay)
            rec = Rec(
                id=job.id,
                payload=job.payload,
                priority=job.priority,
                max_attempts=job.max_attempts,
                enqueued_ms=now,
                due_ms=due,
                seq=store.next_seq(),
                state=JobState.READY,
                headers=job.headers,
                window_ms=to_ms(job.idempotency_window),
            )
            store.add(rec, now)
            created.append(True)
        if any(created):
            store.notify()
        return created

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        store = self._store(topic)
        now = self._now_ms()
        self._reap(topic, store, now, REAP_LIMIT)
        store.promote_due(now)
        deadline = now + to_ms(lease)
        claimed: list[Job] = []
        room = max_jobs if store.limits.unlimited else store.claim_room(max_jobs, now)
        while len(claimed) < room:
            rec = store.pop_ready()
            if rec is None:
                break
            rec.attempt += 1
            rec.fence = self._next_fence(topic)
            store.lease(rec, f"{self._token_prefix}.{next(self._token_counter)}", deadline)
            if store.limits.rate is not None:
                store.claim_times.append(now)
            claimed.append(rec.to_job(topic))
        return claimed

    async def ack_many(self, topic: str, leases: Sequence[tuple[str, str]]) -> list[Settled]:
        store = self._store(topic)
        outcomes: list[Settled] = []
        now = self._now_ms()
        for job_id, token in leases:
            rec = store.jobs.get(job_id)
            if rec is None:
                outcomes.append(Settled.GONE)
            elif rec.state is not JobState.IN_FLIGHT or rec.token != token:
                outcomes.append(Settled.LEASE_LOST)
            else:
                self._end(store, rec, now)
                outcomes.append(Settled.ACKED)
        return outcomes

    async def extend(self, topic: str, job_id: str, token: str, lease: float) -> float:
        store = self._store(topic)
        rec = self._holder(store, topic, job_id, token)
        deadline = self._now_ms() + to_ms(lease)
        store.lease(rec, token, deadline)
        return deadline / 1000.0

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
        store.notify()

    async def release(self, topic: str, job_id: str, token: str) -> None:
        store = self._store(topic)
        rec = self._holder(store, topic, job_id, token)
        now = self._now_ms()
        if rec.cancel:
            self._end(store, rec, now)
            return
        rec.attempt = max(0, rec.attempt - 1)
        store.make_due(rec, now, now)
        store.notify()

    async def dead_letter(self, topic: str, job_id: str, token: str, *, error: str | None) -> None:
        store = self._store(topic)
        rec = self._holder(store, topic, job_id, token)
        self._bury(topic, store, rec, error, self._now_ms())

    async def reap(self, topic: str, *, limit: int = REAP_LIMIT) -> int:
        store = self._store(topic)
        return self._reap(topic, store, self._now_ms(), limit)

    async def wait(self, topic: str, timeout: float) -> None:
        store = self._store(topic)
        now = self._now_ms()
        event = store.wakeup
        upcoming_ms = store.next_event_ms()  # a job coming due or a lease expiring
        claimable = store.n_ready or (upcoming_ms is not None and upcoming_ms <= now)
        if claimable and (store.limits.unlimited or store.claim_room(1, now)):
            return
        if not self._fake_clock:  # a fake clock wakes waiters when it moves
            upcoming = [t for t in (upcoming_ms, store.next_slot_ms(now)) if t]
            if upcoming:
                timeout = min(timeout, max(0.0, (min(upcoming) - now) / 1000.0 + 0.001))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def counts(self, topic: str) -> Counts:
        store = self._store(topic)
        dead = self._topics.get(topic + DEAD_SUFFIX)
        oldest = store.oldest_due_ms(self._now_ms())
        return Counts(
            scheduled=store.n_scheduled,
            ready=store.n_ready,
            in_flight=store.n_inflight,
            dead=len(dead.jobs) if dead is not None else 0,
            oldest_due_at=None if oldest is None else oldest / 1000.0,
        )

    async def get(self, topic: str, job_id: str) -> Job | None:
        rec = self._store(topic).jobs.get(job_id)
        return None if rec is None else rec.to_job(topic)

    async def list_jobs(
        self, topic: str, state: JobState, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        recs = self._store(topic).sorted_recs(state)[offset : offset + limit]
        return [rec.to_job(topic) for rec in recs]

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
            dead.remove(rec)
            rec.attempt = 0
            rec.enqueued_ms = now
            rec.due_ms = now
            rec.seq = store.next_seq()
            store.add(rec, now)
            moved += 1
        if moved:
            store.notify()
        return moved

    async def purge(self, topic: str, ids: Sequence[str] | None = None) -> int:
        store = self._store(topic)
        wanted = None if ids is None else set(ids)
        victims = [
            rec
            for rec in store.jobs.values()
            if rec.state is not JobState.IN_FLIGHT and (wanted is None or rec.id in wanted)
        ]
        now = self._now_ms()
        for rec in victims:
            self._end(store, rec, now)
        return len(victims)

    async def topics(self) -> list[str]:
        if self._closed:
            raise Closed("the memory driver is closed")
        return sorted(
            name
            for name, store in self._topics.items()
            if store.seq > 0 and not name.endswith(DEAD_SUFFIX)
        )

    async def cancel(self, topic: str, ids: Sequence[str]) -> list[CancelOutcome]:
        store = self._store(topic)
        now = self._now_ms()
        outcomes: list[CancelOutcome] = []
        for job_id in ids:
            rec = store.jobs.get(job_id)
            if rec is None:
                outcomes.append(CancelOutcome.NOT_FOUND)
            elif rec.state is JobState.IN_FLIGHT:
                rec.cancel = True
                outcomes.append(CancelOutcome.REQUESTED)
            else:
                self._end(store, rec, now)
                outcomes.append(CancelOutcome.CANCELLED)
        return outcomes

    async def cancel_requested(self, topic: str, ids: Sequence[str]) -> list[str]:
        store = self._store(topic)
        found = []
        for job_id in ids:
            rec = store.jobs.get(job_id)
            if rec is not None and rec.cancel and rec.state is JobState.IN_FLIGHT:
                found.append(job_id)
        return found

    async def set_limits(self, topic: str, limits: TopicLimits) -> None:
        store = self._store(topic)
        store.limits = limits
        if limits.rate is None:
            store.claim_times.clear()
        store.notify()

    async def get_limits(self, topic: str) -> TopicLimits:
        return self._store(topic).limits

    async def close(self) -> None:
        self._closed = True
        if isinstance(self._clock, FakeClock):
            self._clock.remove_listener(self._on_clock_advance)
        for store in self._topics.values():
            store.notify()

    # -- test helpers (not part of the driver interface) ------------------------

    def jobs(self, topic: str) -> list[Job]:
        """Every job of ``topic`` in every state: ready in claim order, then
        scheduled, then in flight."""
        store = self._topics.get(topic)
        if store is None:
            return []
        return [
            rec.to_job(topic)
            for state in (JobState.READY, JobState.SCHEDULED, JobState.IN_FLIGHT)
            for rec in store.sorted_recs(state)
        ]

    def dead_letters(self, topic: str) -> list[Job]:
        """Every dead letter of ``topic`` (jobs of ``<topic>:dead``)."""
        return self.jobs(topic + DEAD_SUFFIX)

    def next_due(self, topic: str) -> float | None:
        """When the earliest scheduled job of ``topic`` (or of its expired
        leases) comes due, in seconds since the epoch; ``None`` if none."""
        store = self._topics.get(topic)
        if store is None:
            return None
        times = [r.due_ms for r in store.jobs.values() if r.state is JobState.SCHEDULED]
        times += [
            r.deadline_ms
            for r in store.jobs.values()
            if r.state is JobState.IN_FLIGHT and r.deadline_ms is not None
        ]
        return min(times) / 1000.0 if times else None
