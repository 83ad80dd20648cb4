"""The one error hierarchy of the toolkit.

Every error a backend or the runtime raises is a :class:`QueueError`::

    QueueError
    ├── InvalidArgument (also a ValueError)   bad topic, priority, id, option...
    │   └── PayloadTooLarge                    payload over max_payload_bytes
    ├── LeaseLost                              stale lease token: the job moved on
    ├── Closed                                 the service or consumer is closed
    ├── Unsupported                            the driver lacks the capability
    ├── TimeLimitExceeded (also a TimeoutError) a handler ran past its time limit
    └── BackendUnavailable (retryable)         the backend cannot be reached now

Drivers translate their native errors at the boundary with ``raise ... from exc``
(see :func:`translate_errors`), so the native error stays reachable as
``__cause__``. Each error class carries ``retryable``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "BackendUnavailable",
    "Closed",
    "InvalidArgument",
    "LeaseLost",
    "PayloadTooLarge",
    "QueueError",
    "TimeLimitExceeded",
    "Unsupported",
    "translate_errors",
]


class QueueError(Exception):
    """Root of every error raised by queue_core, its runtime and its drivers."""

    retryable: bool = False


class InvalidArgument(QueueError, ValueError):
    """An argument was rejected before anything was written."""


class PayloadTooLarge(InvalidArgument):
    """The payload is larger than the driver's ``max_payload_bytes``."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"payload is {size} bytes; the limit is {limit} bytes")
        self.size = size
        self.limit = limit


class LeaseLost(QueueError):
    """The lease token no longer holds the job (expired and reaped, re-claimed,
    settled or released). Nothing was changed."""

    def __init__(self, topic: str, job_id: str, detail: str = "lease token is stale") -> None:
        super().__init__(f"{topic}/{job_id}: {detail}")
        self.topic = topic
        self.job_id = job_id


class Closed(QueueError):
    """The service, consumer or driver was closed; no more operations."""


class Unsupported(QueueError):
    """The driver does not have the capability this call needs (see
    :class:`~queue_core.Capabilities`). Nothing was changed."""


class TimeLimitExceeded(QueueError, TimeoutError):
    """A handler ran longer than its time limit; the attempt failed with this
    error (recorded as the job's ``last_error``) and is retried per policy."""


class BackendUnavailable(QueueError):
    """The backend could not be reached or did not answer; the operation may
    or may not have taken effect. Safe to retry: every driver operation the
    runtime retries is idempotent."""

    retryable = True


@contextmanager
def translate_errors(
    mapping: dict[type[BaseException], type[QueueError]], context: str = ""
) -> Iterator[None]:
    """Re-raise native errors as queue errors, keeping the cause.

    ``mapping`` is searched in order; the first matching native type wins.
    Queue errors pass through untouched.
    """
    try:
        yield
    except QueueError:
        raise
    except tuple(mapping) as exc:
        for native, ours in mapping.items():
            if isinstance(exc, native):
                message = f"{context}: {exc!r}" if context else repr(exc)
                raise ours(message) from exc
        raise  # pragma: no cover - unreachable, the tuple matched
