"""Observability hooks. Override the methods you need; the defaults do
nothing. A hook that raises is logged and ignored: it never changes what
happens to a job."""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence

from ._job import Job, NewJob

__all__ = ["Hooks", "Outcome"]

logger = logging.getLogger("queue_core")


class Outcome(enum.Enum):
    """How one attempt ended, as reported to :meth:`Hooks.after_job`."""

    ACKED = "acked"
    RETRIED = "retried"
    DEAD_LETTERED = "dead_lettered"
    DROPPED = "dropped"
    RELEASED = "released"
    CANCELLED = "cancelled"
    LEASE_LOST = "lease_lost"  # the backend refused the settle: the lease had moved on
    UNKNOWN = "unknown"  # the settle call's outcome is unknown (the backend did not answer)


class Hooks:
    """Called by the runtime (never by drivers), on the event loop thread
    (``before_enqueue`` and ``after_enqueue``: in the enqueuing thread, which
    for :class:`~queue_core.SyncQueueService` on a driver that enqueues from
    threads is the caller's). Keep them quick: they run inline with every
    job."""

    def before_enqueue(self, topic: str, job: NewJob) -> NewJob:
        """A job is about to be sent to the backend; return it, or a copy
        with other headers (for example trace context). Called for every
        job of ``enqueue`` and ``enqueue_many``, after validation."""
        return job

    def after_enqueue(
        self,
        topic: str,
        jobs: Sequence[NewJob],
        created: Sequence[bool] | None,
        error: BaseException | None,
    ) -> None:
        """A driver call for ``jobs`` returned: ``created`` per job, or
        ``None`` with the ``error`` it raised."""

    def on_claimed(self, topic: str, jobs: Sequence[Job]) -> None:
        """A consumer claimed ``jobs`` (they may wait in its prefetch buffer
        before they run)."""

    def before_job(self, job: Job) -> None:
        """A claimed job is about to run."""

    def after_job(
        self, job: Job, outcome: Outcome, error: BaseException | None, duration: float
    ) -> None:
        """An attempt ended and was settled with the backend."""

    def on_retry(self, job: Job, delay: float, error: BaseException | None) -> None:
        """A failed attempt will be retried after ``delay`` seconds."""

    def on_dead_letter(self, job: Job, error: BaseException | None) -> None:
        """A job went to its dead-letter topic (or was dropped, if so configured)."""

    def on_lease_lost(self, job: Job) -> None:
        """The backend refused to settle the job: its lease had moved on
        (expired and reaped, or the job was re-claimed), so the attempt's
        result was discarded."""

    def on_settle_unknown(self, job: Job, error: BaseException) -> None:
        """The runtime gave up settling the job (the backend did not
        answer): the outcome is unknown. If the settle did not apply, the
        job comes back when its lease expires."""


class HookSet:
    """Fan-out to several hooks, isolating their failures."""

    def __init__(self, hooks: Sequence[Hooks]) -> None:
        self.hooks = tuple(hooks)
        self.active = bool(self.hooks)

    def add(self, hook: Hooks) -> None:
        self.hooks = (*self.hooks, hook)
        self.active = True

    def remove(self, hook: Hooks) -> None:
        self.hooks = tuple(h for h in self.hooks if h is not hook)
        self.active = bool(self.hooks)

    def _each(self, name: str, *args: object) -> None:
        for hook in self.hooks:
            try:
                getattr(hook, name)(*args)
            except Exception:
                logger.exception("hook %s.%s raised; ignored", type(hook).__name__, name)

    def before_enqueue(self, topic: str, job: NewJob) -> NewJob:
        for hook in self.hooks:
            try:
                changed = hook.before_enqueue(topic, job)
            except Exception:
                logger.exception("hook %s.before_enqueue raised; ignored", type(hook).__name__)
                continue
            if isinstance(changed, NewJob):
                job = changed
            else:
                logger.error(
                    "hook %s.before_enqueue returned %s, not a NewJob; ignored",
                    type(hook).__name__,
                    type(changed).__name__,
                )
        return job

    def after_enqueue(
        self,
        topic: str,
        jobs: Sequence[NewJob],
        created: Sequence[bool] | None,
        error: BaseException | None,
    ) -> None:
        self._each("after_enqueue", topic, jobs, created, error)

    def on_claimed(self, topic: str, jobs: Sequence[Job]) -> None:
        self._each("on_claimed", topic, jobs)

    def before_job(self, job: Job) -> None:
        self._each("before_job", job)

    def after_job(
        self, job: Job, outcome: Outcome, error: BaseException | None, duration: float
    ) -> None:
        self._each("after_job", job, outcome, error, duration)

    def on_retry(self, job: Job, delay: float, error: BaseException | None) -> None:
        self._each("on_retry", job, delay, error)

    def on_dead_letter(self, job: Job, error: BaseException | None) -> None:
        self._each("on_dead_letter", job, error)

    def on_lease_lost(self, job: Job) -> None:
        self._each("on_lease_lost", job)

    def on_settle_unknown(self, job: Job, error: BaseException) -> None:
        self._each("on_settle_unknown", job, error)
