"""Option dataclasses: frozen, keyword-only, every field defaulted.

Durations are seconds (``float``) everywhere; instants are seconds since the
Unix epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from ._errors import InvalidArgument
from ._retry import RetryPolicy
from ._validate import (
    validate_duration,
    validate_job_id,
    validate_max_attempts,
    validate_priority,
)

__all__ = ["EnqueueOptions", "QueueOptions", "SubscribeOptions"]


@dataclass(frozen=True, kw_only=True, slots=True)
class QueueOptions:
    """Defaults for a whole :class:`~queue_core.QueueService`.

    * ``max_attempts``: claims a job gets (failures and lease expiries both
      count) before it is dead-lettered, unless the job sets its own.
    * ``retry``: backoff between attempts after a handler failure.
    * ``backend_retry``: backoff for the runtime's own retries of driver calls
      that raised :class:`~queue_core.BackendUnavailable` while settling a job.
    """

    max_attempts: int = 5
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    backend_retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(initial_delay=0.05, max_delay=5.0, jitter=0.5)
    )

    def __post_init__(self) -> None:
        validate_max_attempts(self.max_attempts)
        if not isinstance(self.retry, RetryPolicy) or not isinstance(
            self.backend_retry, RetryPolicy
        ):
            raise InvalidArgument("retry and backend_retry must be RetryPolicy instances")


@dataclass(frozen=True, kw_only=True, slots=True)
class EnqueueOptions:
    """Per-job options for :meth:`~queue_core.QueueService.enqueue`.

    * ``priority``: an int in [-2**31, 2**31 - 1]; higher is claimed first.
    * ``delay``: seconds from now (on the backend's clock) before the job is
      claimable; or ``run_at``: an instant (seconds since the epoch). At most
      one of the two; an instant in the past means "now".
    * ``job_id``: an explicit id makes the enqueue idempotent: if a job with
      this id exists in the topic (scheduled, ready or in flight), nothing is
      created and its id is returned.
    * ``max_attempts``: overrides the queue's default for this job.
    """

    priority: int = 0
    delay: float = 0.0
    run_at: float | None = None
    job_id: str | None = None
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        validate_priority(self.priority)
        validate_duration("delay", self.delay)
        if self.run_at is not None:
            if isinstance(self.run_at, bool) or not isinstance(self.run_at, int | float):
                raise InvalidArgument("run_at must be seconds since the epoch")
            if not math.isfinite(self.run_at) or self.run_at < 0:
                raise InvalidArgument(f"run_at must be a finite instant, not {self.run_at!r}")
            if self.delay:
                raise InvalidArgument("give delay or run_at, not both")
        if self.job_id is not None:
            validate_job_id(self.job_id)
        if self.max_attempts is not None:
            validate_max_attempts(self.max_attempts)


OnExhausted = Literal["dead_letter", "drop"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SubscribeOptions:
    """How a consumer runs handlers.

    * ``concurrency``: handlers running at once (sync handlers use a thread
      pool of this size).
    * ``batch_size``: most jobs claimed per driver call (default: concurrency).
    * ``prefetch``: jobs claimed ahead of free handlers, so the next job is
      at hand when one finishes (default: ``batch_size``; 0 to claim only for
      idle handlers). Prefetched jobs are leased (and renewed) while they
      wait; on close they are released without using up an attempt.
    * ``lease``: seconds a claim holds a job; the runtime renews it every
      ``lease / 3`` while the handler runs.
    * ``poll_interval``: longest an idle consumer blocks before it claims again
      (wake-ups normally come sooner, pushed by enqueues).
    * ``shutdown_grace``: on close, how long running handlers may finish
      before their jobs are released (without using up an attempt).
    * ``retry``: overrides the queue's retry policy for this consumer.
    * ``on_exhausted``: what happens to a job out of attempts: ``"dead_letter"``
      (default) or ``"drop"`` (explicit opt-in to discard it).
    """

    concurrency: int = 10
    batch_size: int | None = None
    prefetch: int | None = None
    lease: float = 30.0
    poll_interval: float = 2.0
    shutdown_grace: float = 10.0
    retry: RetryPolicy | None = None
    on_exhausted: OnExhausted = "dead_letter"

    def __post_init__(self) -> None:
        for name in ("concurrency", "batch_size"):
            value = getattr(self, name)
            if value is None and name == "batch_size":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgument(f"{name} must be an int >= 1, not {value!r}")
        if self.prefetch is not None and (
            isinstance(self.prefetch, bool)
            or not isinstance(self.prefetch, int)
            or self.prefetch < 0
        ):
            raise InvalidArgument(f"prefetch must be an int >= 0, not {self.prefetch!r}")
        validate_duration("lease", self.lease, minimum=0.0, allow_zero=False)
        validate_duration("poll_interval", self.poll_interval, minimum=0.0, allow_zero=False)
        validate_duration("shutdown_grace", self.shutdown_grace)
        if self.retry is not None and not isinstance(self.retry, RetryPolicy):
            raise InvalidArgument("retry must be a RetryPolicy")
        if self.on_exhausted not in ("dead_letter", "drop"):
            raise InvalidArgument("on_exhausted must be 'dead_letter' or 'drop'")

    @property
    def effective_batch_size(self) -> int:
        return self.batch_size or self.concurrency

    @property
    def max_held(self) -> int:
        """Jobs a consumer holds at most: running plus prefetched."""
        prefetch = self.effective_batch_size if self.prefetch is None else self.prefetch
        return self.concurrency + prefetch
