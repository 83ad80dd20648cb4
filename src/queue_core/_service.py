"""The portable service: validation, enqueue, inspection and subscriptions
over any driver."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Self

from ._coalesce import EnqueueCoalescer
from ._consumer import QueueConsumer
from ._driver import Driver
from ._errors import Closed, InvalidArgument
from ._handler import Handler
from ._hooks import Hooks, HookSet
from ._job import Counts, Job, JobState, NewJob
from ._options import EnqueueOptions, QueueOptions, SubscribeOptions
from ._protocols import EnqueueItem, Payload
from ._validate import DEAD_SUFFIX, validate_job_id, validate_payload, validate_topic

__all__ = ["QueueService", "new_job_id"]

_DEFAULT_ENQUEUE = EnqueueOptions()


def new_job_id() -> str:
    """A fresh random job id: 96 random bits, 16 URL-safe characters
    (short, because every id is stored several times by a backend)."""
    return secrets.token_urlsafe(12)


class QueueService:
    """The queue API applications use, over any :class:`Driver`.

    ``QueueService(MemoryDriver())`` in tests, ``QueueService(RedisDriver(client))``
    in production; nothing else changes. Every argument is validated before
    the driver is called, so bad input raises :class:`InvalidArgument` (a
    ``ValueError``) and writes nothing.
    """

    def __init__(
        self,
        driver: Driver,
        options: QueueOptions | None = None,
        *,
        hooks: Sequence[Hooks] = (),
    ) -> None:
        if not isinstance(driver, Driver):
            kind = type(driver).__name__
            raise InvalidArgument(f"driver must be a queue_core.Driver, not {kind}")
        self._driver = driver
        self._options = options or QueueOptions()
        self._hooks = HookSet(hooks)
        self._consumers: list[QueueConsumer] = []
        self._closed = False
        self._coalescer = EnqueueCoalescer(driver)
        self._limit = driver.capabilities.max_payload_bytes
        self._max_batch = driver.capabilities.max_batch

    @property
    def driver(self) -> Driver:
        return self._driver

    @property
    def options(self) -> QueueOptions:
        return self._options

    def add_hook(self, hook: Hooks) -> None:
        """Add an observability hook; it applies to running consumers too."""
        if not isinstance(hook, Hooks):
            raise InvalidArgument("hook must be a queue_core.Hooks")
        self._hooks.add(hook)

    def remove_hook(self, hook: Hooks) -> None:
        """Remove a hook added earlier (no-op if absent)."""
        self._hooks.remove(hook)

    def _check_open(self) -> None:
        if self._closed:
            raise Closed("the queue service is closed")

    def _new_job(self, payload: object, options: EnqueueOptions | None) -> NewJob:
        if options is None:
            options = _DEFAULT_ENQUEUE
        elif not isinstance(options, EnqueueOptions):
            raise InvalidArgument(f"options must be EnqueueOptions, not {type(options).__name__}")
        return NewJob(
            id=options.job_id or new_job_id(),
            payload=validate_payload(payload, self._limit),
            priority=options.priority,
            delay=options.delay,
            run_at=options.run_at,
            max_attempts=options.max_attempts or self._options.max_attempts,
        )

    # -- producing ------------------------------------------------------------

    async def enqueue(
        self, topic: str, payload: Payload, options: EnqueueOptions | None = None
    ) -> str:
        """Add one job; return its id (the existing id if ``options.job_id``
        names a job already in the topic).

        :raises InvalidArgument: bad topic, payload or options (nothing written).
        :raises PayloadTooLarge: payload over the driver's limit.
        :raises BackendUnavailable: the backend did not answer; retry with the
            same ``job_id`` to stay idempotent.

        Concurrent calls for one topic are sent to the driver together
        (one call per event-loop turn); each keeps its own result.
        """
        self._check_open()
        validate_topic(topic)
        job = self._new_job(payload, options)
        await self._coalescer.enqueue(topic, job)
        return job.id

    async def enqueue_many(self, topic: str, jobs: Iterable[EnqueueItem]) -> list[str]:
        """Add many jobs in as few driver calls as the driver's batch size
        allows; return their ids in order. Every job is validated before any
        is written."""
        self._check_open()
        validate_topic(topic)
        new_jobs: list[NewJob] = []
        for item in jobs:
            if isinstance(item, tuple):
                if len(item) != 2:
                    raise InvalidArgument("each job must be payload or (payload, EnqueueOptions)")
                new_jobs.append(self._new_job(item[0], item[1]))
            else:
                new_jobs.append(self._new_job(item, None))
        for start in range(0, len(new_jobs), self._max_batch):
            await self._driver.enqueue(topic, new_jobs[start : start + self._max_batch])
        return [job.id for job in new_jobs]

    # -- consuming ------------------------------------------------------------

    async def subscribe(
        self, topic: str, handler: Handler, options: SubscribeOptions | None = None
    ) -> QueueConsumer:
        """Start a consumer that runs ``handler`` for each job of ``topic``.

        ``handler`` may be ``async def`` (run on the loop) or a plain function
        (run in a thread pool of ``options.concurrency`` threads).
        """
        self._check_open()
        validate_topic(topic)
        if not callable(handler):
            raise InvalidArgument("handler must be callable")
        if options is not None and not isinstance(options, SubscribeOptions):
            raise InvalidArgument(f"options must be SubscribeOptions, not {type(options).__name__}")
        consumer = QueueConsumer(
            self._driver, topic, handler, options or SubscribeOptions(), self._options, self._hooks
        )
        consumer.start()
        self._consumers.append(consumer)
        return consumer

    # -- inspecting -----------------------------------------------------------

    async def counts(self, topic: str) -> Counts:
        """Jobs of ``topic`` per state (dead: its dead-letter topic's jobs)."""
        self._check_open()
        return await self._driver.counts(validate_topic(topic))

    async def get(self, topic: str, job_id: str) -> Job | None:
        self._check_open()
        return await self._driver.get(validate_topic(topic), validate_job_id(job_id))

    async def list_jobs(self, topic: str, state: JobState, *, limit: int = 100) -> list[Job]:
        self._check_open()
        if not isinstance(state, JobState):
            raise InvalidArgument("state must be a JobState")
        return await self._driver.list_jobs(validate_topic(topic), state, limit=_limit(limit))

    async def list_dead(self, topic: str, *, limit: int = 100) -> list[Job]:
        """Up to ``limit`` waiting dead letters of ``topic``, oldest first by
        priority then time of death (in-flight ones are being handled by a
        dead-letter consumer and are not listed)."""
        self._check_open()
        dead = validate_topic(topic) + DEAD_SUFFIX
        return await self._driver.list_jobs(dead, JobState.READY, limit=_limit(limit))

    async def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int:
        """Move dead letters back to ``topic`` with fresh attempts."""
        self._check_open()
        return await self._driver.redrive(validate_topic(topic), _ids(ids))

    async def purge(self, topic: str) -> int:
        """Delete every waiting job of ``topic`` (not those in flight)."""
        self._check_open()
        return await self._driver.purge(validate_topic(topic))

    async def purge_dead(self, topic: str, ids: Sequence[str] | None = None) -> int:
        """Delete dead letters of ``topic`` (all, or those among ``ids``)."""
        self._check_open()
        return await self._driver.purge(validate_topic(topic) + DEAD_SUFFIX, _ids(ids))

    # -- lifecycle ------------------------------------------------------------

    async def close(self, grace: float | None = None) -> None:
        """Close every consumer (see :meth:`QueueConsumer.close`), then the
        driver. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await asyncio.gather(*(consumer.close(grace) for consumer in self._consumers))
        await self._driver.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidArgument(f"limit must be an int >= 0, not {limit!r}")
    return limit


def _ids(ids: Sequence[str] | None) -> list[str] | None:
    if ids is None:
        return None
    if isinstance(ids, str):
        raise InvalidArgument("ids must be a sequence of job ids, not a single str")
    return [validate_job_id(job_id) for job_id in ids]
