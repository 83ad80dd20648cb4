"""Observability hooks. Override the methods you need; the defaults do
nothing. A hook that raises is logged and ignored: it never changes what
happens to a job."""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence

from ._job import Job

__all__ = ["Hooks", "Outcome"]

logger = logging.getLogger("queue_core")


class Outcome(enum.Enum):
    """How one attempt ended, as reported to :meth:`Hooks.after_job`."""

    ACKED = "acked"
    RETRIED = "retried"
    DEAD_LETTERED = "dead_lettered"
    DROPPED = "dropped"
    RELEASED = "released"
    LEASE_LOST = "lease_lost"


class Hooks:
    """Called by the runtime (never by drivers), on the event loop thread."""

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
        """The runtime found the job's lease gone while it held the job."""


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
