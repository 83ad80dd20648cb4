"""The records that cross the API: jobs, new jobs, counts."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Counts", "Job", "JobState", "NewJob", "Settled"]


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
    resolution. ``attempt`` counts claims (it is 1 on the first delivery);
    ``fencing_token`` grows with every claim of this job and never goes back,
    even across a redrive: pass it to downstream systems to reject writes
    from a worker that lost its lease. ``lease_token`` and ``lease_deadline``
    are set while the job is in flight.
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


@dataclass(frozen=True, kw_only=True, slots=True)
class NewJob:
    """A job handed to :meth:`Driver.enqueue`, already validated, with its id
    chosen by the caller (so that a re-sent enqueue is idempotent).

    ``run_at`` (an instant) wins over ``delay`` (seconds from the driver's
    now) when set; an instant in the past means now.
    """

    id: str
    payload: bytes
    priority: int = 0
    delay: float = 0.0
    run_at: float | None = None
    max_attempts: int = 5


@dataclass(frozen=True, kw_only=True, slots=True)
class Counts:
    """Jobs of one topic by state. ``dead`` counts every job of the topic's
    dead-letter topic, whatever its state there."""

    scheduled: int = 0
    ready: int = 0
    in_flight: int = 0
    dead: int = 0

    @property
    def total(self) -> int:
        return self.scheduled + self.ready + self.in_flight + self.dead


class Settled(enum.Enum):
    """The outcome of settling one lease with :meth:`Driver.ack_many`."""

    ACKED = "acked"
    GONE = "gone"  # no such job: already acked (a repeated ack is a no-op)
    LEASE_LOST = "lease_lost"  # the job exists but the token does not hold it
