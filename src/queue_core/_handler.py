"""What a handler is, and how it steers the runtime."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from ._errors import InvalidArgument
from ._job import Job
from ._validate import validate_duration

__all__ = ["AsyncHandler", "DeadLetter", "Handler", "JobCancelled", "Retry", "SyncHandler"]


class AsyncHandler(Protocol):
    """``async def handler(job: Job) -> None``: runs on the event loop."""

    def __call__(self, job: Job, /) -> Awaitable[None]: ...


class SyncHandler(Protocol):
    """``def handler(job: Job) -> None``: runs in the consumer's thread pool."""

    def __call__(self, job: Job, /) -> None: ...


Handler = AsyncHandler | SyncHandler
"""A handler returns normally to ack the job, raises :class:`Retry` or
:class:`DeadLetter` to steer it, and raises anything else to fail the attempt
(retried with backoff until ``max_attempts``, then dead-lettered)."""


class Retry(Exception):
    """Raise from a handler to retry the job after ``delay`` seconds.

    The attempt counts; a job out of attempts is dead-lettered instead.
    """

    def __init__(self, delay: float = 0.0, reason: str | None = None) -> None:
        seconds = validate_duration("delay", delay)
        if reason is not None and not isinstance(reason, str):
            raise InvalidArgument(f"reason must be a str, not {type(reason).__name__}")
        super().__init__(reason or f"retry requested in {seconds:g}s")
        self.delay = seconds
        self.reason = reason


class DeadLetter(Exception):
    """Raise from a handler to send the job straight to its dead-letter topic."""

    def __init__(self, reason: str = "dead-lettered by the handler") -> None:
        if not isinstance(reason, str):
            raise InvalidArgument(f"reason must be a str, not {type(reason).__name__}")
        super().__init__(reason)
        self.reason = reason


class JobCancelled(Exception):
    """Raised by :meth:`Job.raise_if_cancelled` (or by a handler itself) to
    end the job as cancelled: it is deleted, neither retried nor
    dead-lettered, and reported with ``Outcome.CANCELLED``."""
