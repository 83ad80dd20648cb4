"""The per-topic data structures of the in-memory driver."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from queue_core import EMPTY_HEADERS, Job, JobState, TopicLimits

__all__ = ["Rec", "TopicStore"]

# one counter for every record of every store: a heap entry left behind by a
# deleted job can never match a later job that reuses its id
_versions = itertools.count(1)


@dataclass(slots=True)
class Rec:
    """One job's mutable record. ``ver`` changes on every move, which voids
    the heap entries pushed for the job's earlier states."""

    id: str
    payload: bytes
    priority: int
    max_attempts: int
    enqueued_ms: int
    due_ms: int
    seq: int
    state: JobState
    attempt: int = 0
    last_error: str | None = None
    token: str | None = None
    deadline_ms: int | None = None
    fence: int = 0
    ver: int = 0
    headers: Mapping[str, str] = field(default_factory=lambda: EMPTY_HEADERS)
    window_ms: int = 0  # how long the id is remembered after the job ends
    cancel: bool = False  # a cancel request is pending (in flight only)

    def to_job(self, topic: str) -> Job:
        return Job(
            id=self.id,
            topic=topic,
            payload=self.payload,
            priority=self.priority,
            attempt=self.attempt,
            max_attempts=self.max_attempts,
            enqueued_at=self.enqueued_ms / 1000.0,
            run_at=self.due_ms / 1000.0,
            state=self.state,
            last_error=self.last_error,
            lease_token=self.token,
            lease_deadline=None if self.deadline_ms is None else self.deadline_ms / 1000.0,
            fencing_token=self.fence,
            headers=self.headers,
        )


@dataclass(slots=True)
class TopicStore:
    """Jobs of one topic plus three lazily cleaned heaps (stale entries are
    skipped by comparing the record's ``ver``). Entries order by the
    contract's keys, then the job id; ``ver`` never decides an order."""

    jobs: dict[str, Rec] = field(default_factory=dict)
    ready: list[tuple[int, int, int, str, int]] = field(default_factory=list)
    # ready jobs by due time (for the oldest due time in counts; lazily pruned)
    ready_due: list[tuple[int, int, str, int]] = field(default_factory=list)
    scheduled: list[tuple[int, int, str, int]] = field(default_factory=list)
    inflight: list[tuple[int, int, str, int]] = field(default_factory=list)
    seq: int = 0
    n_ready: int = 0
    n_scheduled: int = 0
    n_inflight: int = 0
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    # idempotency records: id -> expiry (ms), and a heap to drop expired ones
    done: dict[str, int] = field(default_factory=dict)
    done_heap: list[tuple[int, str]] = field(default_factory=list)
    limits: TopicLimits = field(default_factory=TopicLimits)
    claim_times: deque[int] = field(default_factory=deque)  # rate window (ms)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    # -- idempotency records ------------------------------------------------

    def remember(self, job_id: str, until_ms: int) -> None:
        self.done[job_id] = until_ms
        heapq.heappush(self.done_heap, (until_ms, job_id))

    def remembered(self, job_id: str, now_ms: int) -> bool:
        """Whether ``job_id`` ended here less than its window ago (and drop
        records that expired)."""
        heap = self.done_heap
        while heap and heap[0][0] <= now_ms:
            until, old = heapq.heappop(heap)
            if self.done.get(old) == until:
                del self.done[old]
        return self.done.get(job_id, 0) > now_ms

    # -- limits -------------------------------------------------------------

    def claim_room(self, want: int, now_ms: int) -> int:
        """How many of ``want`` jobs the topic's limits let one claim take."""
        limits = self.limits
        if limits.max_in_flight is not None:
            want = min(want, limits.max_in_flight - self.n_inflight)
        if limits.rate is not None:
            times = self.claim_times
            since = now_ms - round(limits.per * 1000)
            while times and times[0] <= since:
                times.popleft()
            want = min(want, limits.rate - len(times))
        return max(0, want)

    def next_slot_ms(self, now_ms: int) -> int | None:
        """When the rate window lets a claim through again, if it is full."""
        limits = self.limits
        if limits.rate is None or self.claim_room(1, now_ms) > 0 or not self.claim_times:
            return None
        if limits.max_in_flight is not None and self.n_inflight >= limits.max_in_flight:
            return None  # an ack opens the slot, not the time
        return self.claim_times[0] + round(limits.per * 1000)

    # -- state transitions (each bumps ver and keeps the counters) ---------

    def _leave(self, rec: Rec) -> None:
        if rec.state is JobState.READY:
            self.n_ready -= 1
        elif rec.state is JobState.SCHEDULED:
            self.n_scheduled -= 1
        else:
            self.n_inflight -= 1
        rec.ver = next(_versions)

    def add(self, rec: Rec, now_ms: int) -> None:
        self.jobs[rec.id] = rec
        rec.ver = next(_versions)
        self._enter(rec, now_ms)

    def _enter(self, rec: Rec, now_ms: int) -> None:
        rec.token = None
        rec.deadline_ms = None
        if rec.due_ms > now_ms:
            rec.state = JobState.SCHEDULED
            self.n_scheduled += 1
            heapq.heappush(self.scheduled, (rec.due_ms, rec.seq, rec.id, rec.ver))
        else:
            rec.state = JobState.READY
            self.n_ready += 1
            heapq.heappush(self.ready, (-rec.priority, rec.due_ms, rec.seq, rec.id, rec.ver))
            if len(self.ready_due) > 2 * self.n_ready + 64:  # mostly stale: rebuild
                self.ready_due = [e for e in self.ready_due if self._live(e[2], e[3])]
                heapq.heapify(self.ready_due)
            heapq.heappush(self.ready_due, (rec.due_ms, rec.seq, rec.id, rec.ver))

    def make_due(self, rec: Rec, due_ms: int, now_ms: int) -> None:
        """Move ``rec`` to ready or scheduled, due at ``due_ms``."""
        self._leave(rec)
        rec.due_ms = due_ms
        self._enter(rec, now_ms)

    def lease(self, rec: Rec, token: str, deadline_ms: int) -> None:
        self._leave(rec)
        rec.state = JobState.IN_FLIGHT
        rec.token = token
        rec.deadline_ms = deadline_ms
        self.n_inflight += 1
        heapq.heappush(self.inflight, (deadline_ms, rec.seq, rec.id, rec.ver))

    def remove(self, rec: Rec) -> None:
        self._leave(rec)
        del self.jobs[rec.id]

    # -- heap access --------------------------------------------------------

    def promote_due(self, now_ms: int) -> None:
        heap = self.scheduled
        while heap and heap[0][0] <= now_ms:
            _, _, job_id, ver = heapq.heappop(heap)
            rec = self.jobs.get(job_id)
            if rec is not None and rec.ver == ver:
                self.make_due(rec, rec.due_ms, now_ms)

    def pop_ready(self) -> Rec | None:
        heap = self.ready
        while heap:
            _, _, _, job_id, ver = heapq.heappop(heap)
            rec = self.jobs.get(job_id)
            if rec is not None and rec.ver == ver:
                return rec
        return None

    def pop_expired(self, now_ms: int) -> Rec | None:
        heap = self.inflight
        while heap and heap[0][0] <= now_ms:
            _, _, job_id, ver = heapq.heappop(heap)
            rec = self.jobs.get(job_id)
            if rec is not None and rec.ver == ver:
                return rec
        return None

    def next_event_ms(self) -> int | None:
        """The earliest scheduled due time or lease deadline (may be stale)."""
        times = [heap[0][0] for heap in (self.scheduled, self.inflight) if heap]
        return min(times) if times else None

    def oldest_due_ms(self, now_ms: int) -> int | None:
        """The earliest due time among jobs due now (ready, or scheduled
        and past their due time), from the tops of two heaps (no scan)."""
        due = [
            heap[0][0]
            for heap in (self.ready_due, self.scheduled)
            if self._prune(heap) and heap[0][0] <= now_ms
        ]
        return min(due) if due else None

    def _live(self, job_id: str, ver: int) -> bool:
        rec = self.jobs.get(job_id)
        return rec is not None and rec.ver == ver

    def _prune(self, heap: list[tuple[int, int, str, int]]) -> bool:
        """Drop stale entries from the top of ``heap``; whether any is left."""
        while heap and not self._live(heap[0][2], heap[0][3]):
            heapq.heappop(heap)
        return bool(heap)

    def notify(self) -> None:
        event, self.wakeup = self.wakeup, asyncio.Event()
        event.set()

    def sorted_recs(self, state: JobState) -> list[Rec]:
        """Jobs in ``state``, in that state's order (see ``list_jobs``)."""
        recs = [rec for rec in self.jobs.values() if rec.state is state]
        if state is JobState.READY:
            recs.sort(key=lambda r: (-r.priority, r.due_ms, r.seq))
        elif state is JobState.SCHEDULED:
            recs.sort(key=lambda r: (r.due_ms, r.seq))
        else:
            recs.sort(key=lambda r: (r.deadline_ms or 0, r.seq))
        return recs
