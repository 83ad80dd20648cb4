"""The executable specification: the driver contract as a tiny, slow,
obviously-correct program.

:class:`SpecDriver` keeps every job of every topic in plain dicts and
answers every question by sorting and filtering them: no heaps, no indexes,
no wake-ups. It shares no code with any real driver (in particular not with
``queue_memory``), so the model comparison certifies the reference driver
against it like any other. Every rule below quotes the contract point of
``docs/conformance.md`` it encodes.

Time is read once per call, in whole milliseconds (``to_ms`` of the clock).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from queue_core import (
    DEAD_SUFFIX,
    CancelOutcome,
    Capabilities,
    Clock,
    Closed,
    Counts,
    Driver,
    Job,
    JobState,
    LeaseLost,
    NewJob,
    Settled,
    TopicLimits,
    Unsupported,
    to_ms,
)

__all__ = ["SpecDriver"]

SCHEDULED, READY, IN_FLIGHT = JobState.SCHEDULED, JobState.READY, JobState.IN_FLIGHT
REAP_LIMIT = 1000  # what claim reaps first, and reap's default limit


@dataclass
class _Job:
    id: str
    payload: bytes
    priority: int
    max_attempts: int
    headers: dict[str, str]
    window_ms: int
    enqueued_ms: int
    due_ms: int
    seq: int
    state: JobState
    attempt: int = 0
    last_error: str | None = None
    token: str | None = None
    deadline_ms: int | None = None
    fence: int = 0
    cancel: bool = False


@dataclass
class _Topic:
    jobs: dict[str, _Job] = field(default_factory=dict)
    seq: int = 0  # the enqueue sequence: one value per job that enters the topic
    records: dict[str, int] = field(default_factory=dict)  # id -> remembered until (ms)
    limits: TopicLimits = field(default_factory=TopicLimits)
    claims_ms: list[int] = field(default_factory=list)  # claim instants while a rate is set

    def in_state(self, state: JobState) -> list[_Job]:
        """Jobs in ``state``, in that state's order (point 3 and point 17)."""
        jobs = [job for job in self.jobs.values() if job.state is state]
        if state is READY:
            jobs.sort(key=lambda j: (-j.priority, j.due_ms, j.seq))
        elif state is SCHEDULED:
            jobs.sort(key=lambda j: (j.due_ms, j.seq))
        else:
            jobs.sort(key=lambda j: (j.deadline_ms or 0, j.seq))
        return jobs


def _family(topic: str) -> str:
    while topic.endswith(DEAD_SUFFIX):
        topic = topic[: -len(DEAD_SUFFIX)]
    return topic


class SpecDriver(Driver):
    """The contract, executable. ``records``, ``cancellation``, ``limits``
    and ``list_topics`` switch the optional capabilities (off: the driver
    behaves as one without them, e.g. it ignores idempotency windows)."""

    def __init__(
        self,
        clock: Clock,
        *,
        records: bool = True,
        cancellation: bool = True,
        limits: bool = True,
        list_topics: bool = True,
    ) -> None:
        self._clock = clock
        self._caps = Capabilities(
            clock_control=True,
            idempotency_records=records,
            cancellation=cancellation,
            limits=limits,
            list_topics=list_topics,
        )
        self._topics: dict[str, _Topic] = {}
        self._fences: dict[str, int] = {}
        self._tokens = 0
        self._closed = False

    @property
    def capabilities(self) -> Capabilities:
        return self._caps

    # -- helpers ----------------------------------------------------------------

    def _now(self) -> int:
        if self._closed:
            raise Closed("the spec driver is closed")
        return to_ms(self._clock.now())

    def _topic(self, name: str) -> _Topic:
        return self._topics.setdefault(name, _Topic())

    def _view(self, topic: str, job: _Job) -> Job:
        return Job(
            id=job.id,
            topic=topic,
            payload=job.payload,
            priority=job.priority,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            enqueued_at=job.enqueued_ms / 1000.0,
            run_at=job.due_ms / 1000.0,
            state=job.state,
            last_error=job.last_error,
            lease_token=job.token,
            lease_deadline=None if job.deadline_ms is None else job.deadline_ms / 1000.0,
            fencing_token=job.fence,
            headers=MappingProxyType(dict(job.headers)),
        )

    def _held(self, topic: str, job_id: str, token: str) -> _Job:
        """Point 6: only the token of the current lease moves a job."""
        job = self._topic(topic).jobs.get(job_id)
        if job is None or job.state is not IN_FLIGHT or job.token != token:
            raise LeaseLost(topic, job_id)
        return job

    @staticmethod
    def _due(job: _Job, due: int, now: int) -> None:
        """The job waits again, due at ``due`` (point 3: the due time orders it)."""
        job.due_ms = due
        job.state = SCHEDULED if due > now else READY
        job.token = None
        job.deadline_ms = None

    def _end(self, topic: str, job: _Job, now: int) -> None:
        """Point 10: a job that ends leaves its id remembered for its window."""
        store = self._topic(topic)
        del store.jobs[job.id]
        if self._caps.idempotency_records and job.window_ms > 0:
            store.records[job.id] = now + job.window_ms

    def _bury(self, topic: str, job: _Job, error: str | None, now: int) -> None:
        """Point 9: to ``topic:dead``, ready, a new sequence there, never
        twice; a job with a pending cancel request is deleted instead."""
        self._end(topic, job, now)
        if job.cancel:
            return
        dead = self._topic(topic + DEAD_SUFFIX)
        if job.id in dead.jobs:
            return
        dead.seq += 1
        job.seq = dead.seq
        job.last_error = error
        self._due(job, now, now)
        dead.jobs[job.id] = job

    def _expire(self, topic: str, limit: int, now: int) -> int:
        """Point 5: expired leases (deadline <= now) in deadline order."""
        store = self._topic(topic)
        expired = [j for j in store.in_state(IN_FLIGHT) if (j.deadline_ms or 0) <= now][:limit]
        for job in expired:
            if job.cancel:
                self._end(topic, job, now)
            elif job.attempt >= job.max_attempts:
                self._bury(topic, job, "lease expired", now)
            else:
                job.last_error = "lease expired"
                self._due(job, job.deadline_ms or 0, now)
        return len(expired)

    def _room(self, store: _Topic, want: int, now: int) -> int:
        """Point 21: how many claims the topic's limits allow now."""
        limits = store.limits
        if limits.max_in_flight is not None:
            in_flight = sum(1 for j in store.jobs.values() if j.state is IN_FLIGHT)
            want = min(want, limits.max_in_flight - in_flight)
        if limits.rate is not None:
            since = now - to_ms(limits.per)
            want = min(want, limits.rate - sum(1 for t in store.claims_ms if t > since))
        return max(0, want)

    def _lookup(self, topic: str, ids: Sequence[str]) -> list[_Job | None]:
        store = self._topic(topic)
        return [store.jobs.get(job_id) for job_id in ids]

    # -- the driver interface ----------------------------------------------------

    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        now = self._now()
        store = self._topic(topic)
        created = []
        for new in jobs:
            remembered = store.records.get(new.id, 0) > now
            if new.id in store.jobs or remembered:
                created.append(False)
                continue
            due = now + to_ms(new.delay) if new.run_at is None else max(now, to_ms(new.run_at))
            store.seq += 1
            store.jobs[new.id] = _Job(
                id=new.id,
                payload=bytes(new.payload),
                priority=new.priority,
                max_attempts=new.max_attempts,
                headers=dict(new.headers),
                window_ms=to_ms(new.idempotency_window),
                enqueued_ms=now,
                due_ms=due,
                seq=store.seq,
                state=SCHEDULED if due > now else READY,
            )
            created.append(True)
        return created

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        now = self._now()
        store = self._topic(topic)
        self._expire(topic, REAP_LIMIT, now)
        for job in store.jobs.values():
            if job.state is SCHEDULED and job.due_ms <= now:
                job.state = READY
        chosen = store.in_state(READY)[: self._room(store, max_jobs, now)]
        family = _family(topic)
        for job in chosen:
            self._tokens += 1
            self._fences[family] = self._fences.get(family, 0) + 1
            job.attempt += 1
            job.fence = self._fences[family]
            job.token = f"spec.{self._tokens}"
            job.deadline_ms = now + to_ms(lease)
            job.state = IN_FLIGHT
            if store.limits.rate is not None:
                store.claims_ms.append(now)
        return [self._view(topic, job) for job in chosen]

    async def ack_many(self, topic: str, leases: Sequence[tuple[str, str]]) -> list[Settled]:
        now = self._now()
        outcomes = []
        for job_id, token in leases:
            job = self._topic(topic).jobs.get(job_id)
            if job is None:
                outcomes.append(Settled.GONE)
            elif job.state is not IN_FLIGHT or job.token != token:
                outcomes.append(Settled.LEASE_LOST)
            else:
                self._end(topic, job, now)
                outcomes.append(Settled.ACKED)
        return outcomes

    async def extend(self, topic: str, job_id: str, token: str, lease: float) -> float:
        now = self._now()
        job = self._held(topic, job_id, token)
        job.deadline_ms = now + to_ms(lease)
        return job.deadline_ms / 1000.0

    async def retry(
        self, topic: str, job_id: str, token: str, *, delay: float, error: str | None
    ) -> None:
        now = self._now()
        job = self._held(topic, job_id, token)
        if job.cancel:
            self._end(topic, job, now)
            return
        job.last_error = error
        self._due(job, now + to_ms(delay), now)

    async def release(self, topic: str, job_id: str, token: str) -> None:
        now = self._now()
        job = self._held(topic, job_id, token)
        if job.cancel:
            self._end(topic, job, now)
            return
        job.attempt = max(0, job.attempt - 1)
        self._due(job, now, now)

    async def dead_letter(self, topic: str, job_id: str, token: str, *, error: str | None) -> None:
        now = self._now()
        self._bury(topic, self._held(topic, job_id, token), error, now)

    async def reap(self, topic: str, *, limit: int = REAP_LIMIT) -> int:
        return self._expire(topic, limit, self._now())

    async def wait(self, topic: str, timeout: float) -> None:
        self._now()
        await asyncio.sleep(0)  # a hint only; the model comparison never waits

    async def counts(self, topic: str) -> Counts:
        now = self._now()
        store = self._topic(topic)
        by_state = {state: store.in_state(state) for state in JobState}
        due = [j.due_ms for j in by_state[READY]]
        due += [j.due_ms for j in by_state[SCHEDULED] if j.due_ms <= now]
        return Counts(
            scheduled=len(by_state[SCHEDULED]),
            ready=len(by_state[READY]),
            in_flight=len(by_state[IN_FLIGHT]),
            dead=len(self._topic(topic + DEAD_SUFFIX).jobs),
            oldest_due_at=min(due) / 1000.0 if due else None,
        )

    async def get(self, topic: str, job_id: str) -> Job | None:
        self._now()
        job = self._topic(topic).jobs.get(job_id)
        return None if job is None else self._view(topic, job)

    async def list_jobs(
        self, topic: str, state: JobState, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        self._now()
        jobs = self._topic(topic).in_state(state)[offset : offset + limit]
        return [self._view(topic, job) for job in jobs]

    async def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int:
        now = self._now()
        store, dead = self._topic(topic), self._topic(topic + DEAD_SUFFIX)
        moved = 0
        for job in dead.in_state(READY) + dead.in_state(SCHEDULED):
            if (ids is not None and job.id not in ids) or job.id in store.jobs:
                continue
            del dead.jobs[job.id]  # a move, not an end: no record in the dead topic
            store.seq += 1
            job.seq, job.attempt, job.enqueued_ms = store.seq, 0, now
            self._due(job, now, now)
            store.jobs[job.id] = job
            moved += 1
        return moved

    async def purge(self, topic: str, ids: Sequence[str] | None = None) -> int:
        now = self._now()
        victims = [
            job
            for job in self._topic(topic).jobs.values()
            if job.state is not IN_FLIGHT and (ids is None or job.id in ids)
        ]
        for job in victims:
            self._end(topic, job, now)
        return len(victims)

    async def close(self) -> None:
        self._closed = True

    # -- optional capabilities ------------------------------------------------------

    async def topics(self) -> list[str]:
        self._now()
        if not self._caps.list_topics:
            raise Unsupported("spec without list_topics")
        return sorted(
            name for name, t in self._topics.items() if t.seq > 0 and not name.endswith(DEAD_SUFFIX)
        )

    async def cancel(self, topic: str, ids: Sequence[str]) -> list[CancelOutcome]:
        now = self._now()
        if not self._caps.cancellation:
            raise Unsupported("spec without cancellation")
        outcomes = []
        for job_id in ids:
            job = self._topic(topic).jobs.get(job_id)
            if job is None:
                outcomes.append(CancelOutcome.NOT_FOUND)
            elif job.state is IN_FLIGHT:
                job.cancel = True
                outcomes.append(CancelOutcome.REQUESTED)
            else:
                self._end(topic, job, now)
                outcomes.append(CancelOutcome.CANCELLED)
        return outcomes

    async def cancel_requested(self, topic: str, ids: Sequence[str]) -> list[str]:
        self._now()
        if not self._caps.cancellation:
            raise Unsupported("spec without cancellation")
        jobs = self._lookup(topic, ids)
        return [j.id for j in jobs if j is not None and j.cancel and j.state is IN_FLIGHT]

    async def set_limits(self, topic: str, limits: TopicLimits) -> None:
        self._now()
        if not self._caps.limits:
            raise Unsupported("spec without limits")
        store = self._topic(topic)
        store.limits = replace(limits)
        if limits.rate is None:
            store.claims_ms.clear()

    async def get_limits(self, topic: str) -> TopicLimits:
        self._now()
        return self._topic(topic).limits
