"""The protocols applications code against. :class:`QueueService` and its
consumers implement them; a test double may too."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from ._handler import Handler
from ._job import CancelOutcome, Counts, EnqueueResult, Job, JobState
from ._options import EnqueueOptions, SubscribeOptions

__all__ = ["Consumer", "ConsumerStats", "EnqueueItem", "Payload", "Service"]

Payload = bytes | bytearray | memoryview
"""A job's payload: any bytes-like object (stored and delivered as ``bytes``)."""

EnqueueItem = Payload | tuple[Payload, EnqueueOptions]
"""One job for :meth:`Service.enqueue_many`: a payload, or (payload, options)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsumerStats:
    """Counters of one consumer since it started, and what it holds now:
    ``running`` handlers, and ``settling`` jobs whose handler returned and
    whose ack (or other settle) is on its way to the backend. ``unknown``
    counts settles given up without an answer from the backend;
    ``timed_out`` attempts that ran past the time limit."""

    claimed: int = 0
    acked: int = 0
    retried: int = 0
    dead_lettered: int = 0
    dropped: int = 0
    released: int = 0
    cancelled: int = 0
    lease_lost: int = 0
    unknown: int = 0
    timed_out: int = 0
    running: int = 0
    settling: int = 0


class Consumer(Protocol):
    """A running subscription: claims jobs of one topic and runs a handler."""

    @property
    def topic(self) -> str: ...

    @property
    def closed(self) -> bool: ...

    def statistics(self) -> ConsumerStats: ...

    async def wait_idle(self) -> None:
        """Return once the consumer holds no job and a claim it started after
        this call found nothing due. Jobs scheduled for later (delayed jobs,
        retries waiting out their backoff) do not count: to wait until a
        topic has nothing left, use :meth:`QueueService.wait_empty`."""
        ...

    async def close(self, grace: float | None = None, *, abandon: bool = False) -> None:
        """Stop claiming; let running handlers finish for ``grace`` seconds
        (default: the subscription's ``shutdown_grace``); release what is
        still held without using up an attempt. A sync handler still running
        keeps its job until its thread returns (unless ``abandon``).
        Idempotent."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Service(Protocol):
    """The portable queue API."""

    async def enqueue(
        self, topic: str, payload: Payload, options: EnqueueOptions | None = None
    ) -> str: ...

    async def enqueue_result(
        self, topic: str, payload: Payload, options: EnqueueOptions | None = None
    ) -> EnqueueResult: ...

    async def enqueue_many(self, topic: str, jobs: Iterable[EnqueueItem]) -> list[str]: ...

    async def subscribe(
        self, topic: str, handler: Handler, options: SubscribeOptions | None = None
    ) -> Consumer: ...

    async def counts(self, topic: str) -> Counts: ...

    async def get(self, topic: str, job_id: str) -> Job | None: ...

    async def list_jobs(
        self, topic: str, state: JobState, *, limit: int = 100, offset: int = 0
    ) -> list[Job]: ...

    async def list_dead(self, topic: str, *, limit: int = 100, offset: int = 0) -> list[Job]: ...

    async def cancel(self, topic: str, ids: Sequence[str]) -> list[CancelOutcome]: ...

    async def wait_empty(self, topic: str, *, timeout: float | None = None) -> None: ...

    async def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int: ...

    async def purge(self, topic: str) -> int: ...

    async def purge_dead(self, topic: str, ids: Sequence[str] | None = None) -> int: ...

    async def close(self, grace: float | None = None, *, abandon: bool = False) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
