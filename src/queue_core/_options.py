"""Option dataclasses: frozen, keyword-only, every field defaulted.

Durations are seconds (``float``) everywhere; instants are seconds since the
Unix epoch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ._errors import InvalidArgument
from ._retry import RetryPolicy
from ._validate import (
    validate_count,
    validate_duration,
    validate_headers,
    validate_instant,
    validate_job_id,
    validate_max_attempts,
    validate_priority,
)

MAX_CONCURRENCY = 10_000
MAX_BATCH = 100_000


def _set(options: object, name: str, value: object) -> None:
    """Store a normalized value on a frozen options object."""
    object.__setattr__(options, name, value)


__all__ = ["EnqueueOptions", "QueueOptions", "SubscribeOptions"]


@dataclass(frozen=True, kw_only=True, slots=True)
class QueueOptions:
    """Defaults for a whole :class:`~queue_core.QueueService`.

    * ``max_attempts``: claims a job gets (failures and lease expiries both
      count) before it is dead-lettered, unless the job sets its own.
    * ``retry``: backoff between attempts after a handler failure.
    * ``backend_retry``: backoff for the runtime's own retries of driver calls
      that raised :class:`~queue_core.BackendUnavailable` while settling a job.
    * ``idempotency_window``: seconds for which an explicit ``job_id`` is
      remembered after its job ends (acked, dead-lettered, purged,
      cancelled): an enqueue of that id in that time creates nothing, so an
      enqueue retried after a lost reply never runs a job twice. 0 forgets
      ids as soon as their job ends. Needs a driver with
      ``capabilities.idempotency_records``. Each remembered id costs backend
      memory (about 150 bytes on Redis) for the window.
    """

    max_attempts: int = 5
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    backend_retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(initial_delay=0.05, max_delay=5.0, jitter=0.5)
    )
    idempotency_window: float = 3600.0

    def __post_init__(self) -> None:
        _set(self, "max_attempts", validate_max_attempts(self.max_attempts))
        _set(
            self,
            "idempotency_window",
            validate_duration("idempotency_window", self.idempotency_window),
        )
        if not isinstance(self.retry, RetryPolicy) or not isinstance(
            self.backend_retry, RetryPolicy
        ):
            raise InvalidArgument("retry and backend_retry must be RetryPolicy instances")


@dataclass(frozen=True, kw_only=True, slots=True)
class EnqueueOptions:
    """Per-job options for :meth:`~queue_core.QueueService.enqueue`.

    * ``priority``: an int in [-2**31, 2**31 - 1]; higher is claimed first.
    * ``delay``: seconds from now (on the backend's clock) before the job is
      claimable; or ``run_at``: an instant (seconds since the epoch, at most
      the end of year 9999). At most one of the two; an instant in the past
      means "now".
    * ``job_id``: an explicit id makes the enqueue idempotent: if a job with
      this id exists in the topic (scheduled, ready or in flight), or ended
      there within the idempotency window, nothing is created and the id is
      returned (:meth:`QueueService.enqueue_result` tells which happened).
    * ``max_attempts``: overrides the queue's default for this job.
    * ``headers``: a small string-to-string map carried with the job (see
      :func:`~queue_core.validate_headers` for the limits).
    * ``idempotency_window``: overrides the queue's window for this job
      (only used with an explicit ``job_id``).
    """

    priority: int = 0
    delay: float = 0.0
    run_at: float | None = None
    job_id: str | None = None
    max_attempts: int | None = None
    headers: Mapping[str, str] | None = None
    idempotency_window: float | None = None

    def __post_init__(self) -> None:
        _set(self, "priority", validate_priority(self.priority))
        _set(self, "delay", validate_duration("delay", self.delay))
        if self.run_at is not None:
            _set(self, "run_at", validate_instant("run_at", self.run_at))
            if self.delay:
                raise InvalidArgument("give delay or run_at, not both")
        if self.job_id is not None:
            _set(self, "job_id", validate_job_id(self.job_id))
        if self.max_attempts is not None:
            _set(self, "max_attempts", validate_max_attempts(self.max_attempts))
        if self.headers is not None:
            _set(self, "headers", validate_headers(self.headers))
        if self.idempotency_window is not None:
            window = validate_duration("idempotency_window", self.idempotency_window)
            _set(self, "idempotency_window", window)


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
    * ``time_limit``: the longest one attempt of the handler may run
      (seconds; ``None``: no limit). Past it the attempt fails with
      :class:`~queue_core.TimeLimitExceeded` and is retried per policy; an
      async handler is cancelled, a sync one is abandoned (its thread
      cannot be stopped; its result is discarded) and the lease is never
      renewed past the limit.
    * ``cancel_poll_interval``: how often a consumer that holds jobs asks
      the driver for cancel requests (drivers with
      ``capabilities.cancellation``).
    Counts are bounded: ``concurrency`` at most 10,000, ``batch_size`` and
    ``prefetch`` at most 100,000.
    """

    concurrency: int = 10
    batch_size: int | None = None
    prefetch: int | None = None
    lease: float = 30.0
    poll_interval: float = 2.0
    shutdown_grace: float = 10.0
    retry: RetryPolicy | None = None
    on_exhausted: OnExhausted = "dead_letter"
    time_limit: float | None = None
    cancel_poll_interval: float = 1.0

    def __post_init__(self) -> None:
        _set(
            self,
            "concurrency",
            validate_count("concurrency", self.concurrency, minimum=1, maximum=MAX_CONCURRENCY),
        )
        if self.batch_size is not None:
            batch = validate_count("batch_size", self.batch_size, minimum=1, maximum=MAX_BATCH)
            _set(self, "batch_size", batch)
        if self.prefetch is not None:
            prefetch = validate_count("prefetch", self.prefetch, minimum=0, maximum=MAX_BATCH)
            _set(self, "prefetch", prefetch)
        _set(self, "lease", validate_duration("lease", self.lease, minimum=0.0, allow_zero=False))
        _set(
            self,
            "poll_interval",
            validate_duration("poll_interval", self.poll_interval, minimum=0.0, allow_zero=False),
        )
        _set(self, "shutdown_grace", validate_duration("shutdown_grace", self.shutdown_grace))
        if self.time_limit is not None:
            limit = validate_duration("time_limit", self.time_limit, allow_zero=False)
            _set(self, "time_limit", limit)
        _set(
            self,
            "cancel_poll_interval",
            validate_duration("cancel_poll_interval", self.cancel_poll_interval, minimum=0.01),
        )
        if self.retry is not None and not isinstance(self.retry, RetryPolicy):
            raise InvalidArgument("retry must be a RetryPolicy")
        if not isinstance(self.on_exhausted, str) or self.on_exhausted not in (
            "dead_letter",
            "drop",
        ):
            raise InvalidArgument("on_exhausted must be 'dead_letter' or 'drop'")

    @property
    def effective_batch_size(self) -> int:
        return self.batch_size or self.concurrency

    @property
    def max_held(self) -> int:
        """Jobs a consumer holds at most: running plus prefetched."""
        prefetch = self.effective_batch_size if self.prefetch is None else self.prefetch
        return self.concurrency + prefetch
