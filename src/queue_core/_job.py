"""The records that cross the API: jobs, new jobs, counts, outcomes."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from ._validate import EMPTY_HEADERS

__all__ = ["CancelOutcome", "Counts", "EnqueueResult", "Job", "JobState", "NewJob", "Settled"]


class JobState(enum.Enum):
    """Where a job is. Dead letters live in the dead-letter topic
    (``<topic>:dead``), where they are scheduled, ready or in flight again."""

    SCHEDULED = "scheduled"
    READY = "ready"
    IN_FLIGHT = "in_flight"


@dataclass(frozen=True, kw_only=True, slots=True)
class Job:
    """A job as a handler (or an inspector) sees it.

    Times are seconds since the epoch, on the backend's clock, at millisecond
    resolution. ``attempt`` counts claims (it is 1 on the first delivery).
    ``fencing_token`` is issued by every claim from a counter of the topic
    (shared with its dead-letter topics) that only goes up: a later claim of
    any job of the topic, this one included, always carries a larger token,
    across retries, dead-lettering, redrive and reuse of the id. Pass it to
    downstream systems to reject writes from a worker that lost its lease.
    ``lease_token`` and ``lease_deadline`` are set while the job is in
    flight. ``headers`` is the string map given at enqueue (trace context,
    tenant, correlation id), kept through every move.

    A handler learns that someone asked to cancel its job from
    :attr:`cancel_requested` (an async handler is also cancelled at its
    next ``await``); see :meth:`QueueService.cancel`.
    """

    id: str
    topic: str
    payload: bytes
    priority: int
    attempt: int
    max_attempts: int
    enqueued_at: float
    run_at: float
    state: JobState
    last_error: str | None = None
    lease_token: str | None = None
    lease_deadline: float | None = None
    fencing_token: int = 0
    headers: Mapping[str, str] = field(default_factory=lambda: EMPTY_HEADERS)
    _cancelled: bool = field(default=False, repr=False, compare=False)

    @property
    def cancel_requested(self) -> bool:
        """True once a cancel request for this job reached its worker. A
        long sync handler should check it between steps and return (or
        raise :class:`~queue_core.JobCancelled`) when it turns true."""
        return self._cancelled

    def raise_if_cancelled(self) -> None:
        """Raise :class:`~queue_core.JobCancelled` if a cancel request for
        this job reached its worker (for sync handlers, between steps)."""
        if self.cancel_requested:
            from ._handler import JobCancelled

            raise JobCancelled(f"{self.topic}/{self.id} was cancelled")


@dataclass(frozen=True, kw_only=True, slots=True)
class NewJob:
    """A job handed to :meth:`Driver.enqueue`, already validated, with its id
    chosen by the caller (so that a re-sent enqueue is idempotent).

    ``run_at`` (an instant) wins over ``delay`` (seconds from the driver's
    now) when set; an instant in the past means now.
    ``idempotency_window``: seconds for which the id is remembered after the
    job ends (acked, dead-lettered, purged, cancelled), so that an enqueue of
    the same id in that time creates nothing (0: forgotten at once). The
    service sets it for explicit ids only.
    """

    id: str
    payload: bytes
    priority: int = 0
    delay: float = 0.0
    run_at: float | None = None
    max_attempts: int = 5
    headers: Mapping[str, str] = field(default_factory=lambda: EMPTY_HEADERS)
    idempotency_window: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Counts:
    """Jobs of one topic by state. ``dead`` counts every job of the topic's
    dead-letter topic, whatever its state there. ``oldest_due_at`` is the
    earliest time at which a job that is due now (ready, or scheduled and
    past its due time) became due: ``now - oldest_due_at`` is the topic's
    lag; ``None`` when nothing is due."""

    scheduled: int = 0
    ready: int = 0
    in_flight: int = 0
    dead: int = 0
    oldest_due_at: float | None = None

    @property
    def total(self) -> int:
        return self.scheduled + self.ready + self.in_flight + self.dead

    def lag(self, now: float) -> float | None:
        """Seconds since the oldest due job became due; ``None`` when
        nothing is due."""
        return None if self.oldest_due_at is None else max(0.0, now - self.oldest_due_at)


class Settled(enum.Enum):
    """The outcome of settling one lease with :meth:`Driver.ack_many`."""

    ACKED = "acked"
    GONE = "gone"  # no such job: already acked (a repeated ack is a no-op)
    LEASE_LOST = "lease_lost"  # the job exists but the token does not hold it


class CancelOutcome(enum.Enum):
    """What a cancel request did to one job (:meth:`QueueService.cancel`)."""

    CANCELLED = "cancelled"  # it was waiting (scheduled or ready): deleted
    REQUESTED = "requested"  # it is running: its worker is told to stop
    NOT_FOUND = "not_found"  # no such job in the topic (ended, or never was)


@dataclass(frozen=True, kw_only=True, slots=True)
class EnqueueResult:
    """What one enqueue did: the job's id, and whether this call created the
    job (``False``: a job with this explicit id exists, or ended within the
    idempotency window, so nothing was created)."""

    id: str
    created: bool
