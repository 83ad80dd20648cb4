"""The portable service: validation, enqueue, inspection and subscriptions
over any driver."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
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
from ._job import CancelOutcome, Counts, EnqueueResult, Job, JobState, NewJob
from ._limits import TopicLimits
from ._options import EnqueueOptions, QueueOptions, SubscribeOptions
from ._protocols import EnqueueItem, Payload
from ._validate import (
    DEAD_SUFFIX,
    EMPTY_HEADERS,
    validate_count,
    validate_duration,
    validate_headers,
    validate_job_id,
    validate_payload,
    validate_topic,
)

__all__ = ["QueueService", "new_job_id"]

logger = logging.getLogger("queue_core")
_DEFAULT_ENQUEUE = EnqueueOptions()
MAX_LIST_LIMIT = 10_000
MAX_IDS = 100_000


def new_job_id() -> str:
    """A fresh random job id: 96 random bits, 16 URL-safe characters
    (short, because every id is stored several times by a backend)."""
    return secrets.token_urlsafe(12)


def check_service_args(options: object, hooks: object) -> None:
    """The options and hooks a :class:`QueueService` takes, checked."""
    if options is not None and not isinstance(options, QueueOptions):
        raise InvalidArgument(f"options must be QueueOptions, not {type(options).__name__}")
    if isinstance(hooks, Hooks) or not isinstance(hooks, Sequence):
        raise InvalidArgument("hooks must be a sequence of queue_core.Hooks")
    for hook in hooks:
        if not isinstance(hook, Hooks):
            raise InvalidArgument(f"hooks must be queue_core.Hooks, not {type(hook).__name__}")


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
        check_service_args(options, hooks)
        self._driver = driver
        self._options = options or QueueOptions()
        self._hooks = HookSet(hooks)
        self._consumers: list[QueueConsumer] = []
        self._closed = False
        self._coalescer = EnqueueCoalescer(driver)
        self._limit = driver.capabilities.max_payload_bytes
        self._max_batch = driver.capabilities.max_batch
        self._warn_no_records = not driver.capabilities.idempotency_records
        self._valid_topics: set[str] = set()

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

    def _new_job(self, topic: str, payload: object, options: EnqueueOptions | None) -> NewJob:
        """One job, validated, as the ``before_enqueue`` hooks leave it."""
        job = self._build_job(payload, options)
        return self._hooked(topic, job) if self._hooks.active else job

    def _new_jobs(self, topic: str, jobs: Iterable[EnqueueItem]) -> list[NewJob]:
        """``enqueue_many``'s items, every one validated before the hooks
        see any."""
        if isinstance(jobs, bytes | bytearray | memoryview | str):
            raise InvalidArgument("jobs must be an iterable of payloads, not a single payload")
        try:
            items = iter(jobs)
        except TypeError:
            raise InvalidArgument(f"jobs must be iterable, not {type(jobs).__name__}") from None
        built: list[NewJob] = []
        for item in items:
            if isinstance(item, tuple):
                if len(item) != 2:
                    raise InvalidArgument("each job must be payload or (payload, EnqueueOptions)")
                built.append(self._build_job(item[0], item[1]))
            else:
                built.append(self._build_job(item, None))
        if not self._hooks.active:
            return built
        hooked: list[NewJob] = []
        try:
            for job in built:
                hooked.append(self._hooked(topic, job))
        except BaseException as exc:  # a hook's headers are invalid: end what began
            if hooked:
                self._hooks.after_enqueue(topic, hooked, None, exc)
            raise
        return hooked

    def _build_job(self, payload: object, options: EnqueueOptions | None) -> NewJob:
        if options is None:
            options = _DEFAULT_ENQUEUE
        elif not isinstance(options, EnqueueOptions):
            raise InvalidArgument(f"options must be EnqueueOptions, not {type(options).__name__}")
        window = 0.0
        if options.job_id is not None:
            window = (
                self._options.idempotency_window
                if options.idempotency_window is None
                else options.idempotency_window
            )
            if window > 0 and self._warn_no_records:
                self._warn_no_records = False
                logger.warning(
                    "%s keeps no idempotency records: an explicit job_id is forgotten as "
                    "soon as its job ends, so an enqueue retried after that creates it again",
                    type(self._driver).__name__,
                )
        job = NewJob(
            id=options.job_id or new_job_id(),
            payload=validate_payload(payload, self._limit),
            priority=options.priority,
            delay=options.delay,
            run_at=options.run_at,
            max_attempts=options.max_attempts or self._options.max_attempts,
            headers=options.headers or EMPTY_HEADERS,
            idempotency_window=window,
        )
        return job

    def _hooked(self, topic: str, job: NewJob) -> NewJob:
        """``job`` after the ``before_enqueue`` hooks, which may change its
        headers only (validated again)."""
        changed = self._hooks.before_enqueue(topic, job)
        if changed is job:
            return job
        if dataclasses.replace(changed, headers=job.headers) != job:
            logger.error("a before_enqueue hook changed more than a job's headers; ignored")
        return dataclasses.replace(job, headers=validate_headers(changed.headers))

    # -- producing ------------------------------------------------------------

    async def enqueue(
        self, topic: str, payload: Payload, options: EnqueueOptions | None = None
    ) -> str:
        """Add one job; return its id (also when ``options.job_id`` names a
        job that exists in the topic or ended within the idempotency window,
        and nothing was created: :meth:`enqueue_result` tells which).

        :raises InvalidArgument: bad topic, payload or options (nothing written).
        :raises PayloadTooLarge: payload over the driver's limit.
        :raises BackendUnavailable: the backend did not answer; the job may or
            may not exist. Retry with the same ``job_id``: within the
            idempotency window the retry never creates a second job, even if
            the first one already ran.

        Concurrent calls for one topic are sent to the driver together
        (one call per event-loop turn); each keeps its own result.
        """
        name = self._topic(topic)
        job = self._new_job(name, payload, options)
        await self._send(name, job)
        return job.id

    async def enqueue_result(
        self, topic: str, payload: Payload, options: EnqueueOptions | None = None
    ) -> EnqueueResult:
        """:meth:`enqueue`, telling whether this call created the job."""
        name = self._topic(topic)
        job = self._new_job(name, payload, options)
        return EnqueueResult(id=job.id, created=await self._send(name, job))

    def _topic(self, topic: str) -> str:
        """``topic``, validated (remembered: the hot path validates a topic
        once), on an open service."""
        self._check_open()
        if topic.__class__ is str and topic in self._valid_topics:
            return topic
        name = validate_topic(topic)
        if len(self._valid_topics) < 10_000:
            self._valid_topics.add(name)
        return name

    async def _send(self, topic: str, job: NewJob) -> bool:
        """One job to the driver (through the coalescer); whether created."""
        if not self._hooks.active:
            return await self._coalescer.enqueue(topic, job)
        try:
            created = await self._coalescer.enqueue(topic, job)
        except BaseException as exc:
            self._hooks.after_enqueue(topic, (job,), None, exc)
            raise
        self._hooks.after_enqueue(topic, (job,), (created,), None)
        return created

    async def enqueue_many(self, topic: str, jobs: Iterable[EnqueueItem]) -> list[str]:
        """Add many jobs in as few driver calls as the driver's batch size
        allows; return their ids in order. Every job is validated before any
        is written."""
        return [result.id for result in await self.enqueue_many_results(topic, jobs)]

    async def enqueue_many_results(
        self, topic: str, jobs: Iterable[EnqueueItem]
    ) -> list[EnqueueResult]:
        """:meth:`enqueue_many`, telling per job whether it was created."""
        name = self._topic(topic)
        results: list[EnqueueResult] = []
        for batch in self._batches(self._new_jobs(name, jobs)):
            try:
                created = await self._driver.enqueue(name, batch)
            except BaseException as exc:
                self._enqueued(name, batch, None, exc)
                raise
            results += self._enqueued(name, batch, created, None)
        return results

    def _batches(self, jobs: list[NewJob]) -> list[list[NewJob]]:
        return [jobs[i : i + self._max_batch] for i in range(0, len(jobs), self._max_batch)]

    def _enqueued(
        self,
        topic: str,
        batch: list[NewJob],
        created: list[bool] | None,
        error: BaseException | None,
    ) -> list[EnqueueResult]:
        """Report a driver call's outcome to the hooks; its results."""
        if self._hooks.active:
            self._hooks.after_enqueue(topic, batch, created, error)
        if created is None:
            return []
        return [
            EnqueueResult(id=job.id, created=flag) for job, flag in zip(batch, created, strict=True)
        ]

    def _enqueue_blocking(self, topic: str, jobs: Iterable[EnqueueItem]) -> list[EnqueueResult]:
        """:meth:`enqueue_many_results` from a thread without an event loop,
        through the driver's ``enqueue_blocking`` (for
        :class:`SyncQueueService`; the enqueue hooks run in the calling
        thread)."""
        name = self._topic(topic)
        results: list[EnqueueResult] = []
        for batch in self._batches(self._new_jobs(name, jobs)):
            try:
                created = self._driver.enqueue_blocking(name, batch)
            except BaseException as exc:
                self._enqueued(name, batch, None, exc)
                raise
            results += self._enqueued(name, batch, created, None)
        return results

    # -- consuming ------------------------------------------------------------

    async def subscribe(
        self, topic: str, handler: Handler, options: SubscribeOptions | None = None
    ) -> QueueConsumer:
        """Start a consumer that runs ``handler`` for each job of ``topic``.

        ``handler`` may be ``async def`` (run on the loop) or a plain function
        (run in a thread pool of ``options.concurrency`` threads).
        """
        name = self._topic(topic)
        if not callable(handler):
            raise InvalidArgument("handler must be callable")
        if options is not None and not isinstance(options, SubscribeOptions):
            raise InvalidArgument(f"options must be SubscribeOptions, not {type(options).__name__}")
        consumer = QueueConsumer(
            self._driver, name, handler, options or SubscribeOptions(), self._options, self._hooks
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

    async def list_jobs(
        self, topic: str, state: JobState, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        """Up to ``limit`` (at most 10,000) jobs of ``topic`` in ``state``,
        after the first ``offset``: ready ones in claim order, scheduled ones
        by due time, in-flight ones by lease deadline."""
        self._check_open()
        if not isinstance(state, JobState):
            raise InvalidArgument("state must be a JobState")
        return await self._driver.list_jobs(
            validate_topic(topic), state, limit=_limit(limit), offset=_offset(offset)
        )

    async def topics(self) -> list[str]:
        """Every topic that has had a job (without ``:dead`` suffixes), sorted.

        :raises Unsupported: the driver cannot list topics.
        """
        self._check_open()
        return await self._driver.topics()

    async def cancel(self, topic: str, ids: Sequence[str]) -> list[CancelOutcome]:
        """Cancel jobs of ``topic`` by id, one outcome per id: a waiting job
        is deleted (``CANCELLED``); a running one is told to stop
        (``REQUESTED``: an async handler is cancelled at its next ``await``,
        a sync one sees ``job.cancel_requested``; the job then ends as
        cancelled, neither retried nor dead-lettered); ``NOT_FOUND``
        otherwise.

        :raises Unsupported: the driver cannot cancel jobs.
        """
        self._check_open()
        if ids is None:
            raise InvalidArgument("ids must be a sequence of job ids, not None")
        job_ids = _ids(ids) or []
        return await self._driver.cancel(validate_topic(topic), job_ids) if job_ids else []

    async def cancel_requested(self, topic: str, ids: Sequence[str]) -> list[str]:
        """The ids among ``ids`` of running jobs of ``topic`` with a pending
        cancel request (``[]`` when the driver cannot cancel jobs)."""
        self._check_open()
        job_ids = _ids(ids) or []
        if not job_ids or not self._driver.capabilities.cancellation:
            return []
        return await self._driver.cancel_requested(validate_topic(topic), job_ids)

    async def set_limits(self, topic: str, limits: TopicLimits) -> None:
        """Store global limits for ``topic`` in the backend (in-flight jobs
        and claims per period, across every consumer); ``TopicLimits()``
        removes them.

        :raises Unsupported: the driver cannot enforce limits.
        """
        self._check_open()
        if not isinstance(limits, TopicLimits):
            raise InvalidArgument(f"limits must be TopicLimits, not {type(limits).__name__}")
        await self._driver.set_limits(validate_topic(topic), limits)

    async def get_limits(self, topic: str) -> TopicLimits:
        """The limits stored for ``topic`` (``TopicLimits()`` when none)."""
        self._check_open()
        return await self._driver.get_limits(validate_topic(topic))

    async def wait_empty(self, topic: str, *, timeout: float | None = None) -> None:
        """Return once ``topic`` has no scheduled, ready or in-flight job
        (its dead letters do not count): every job enqueued so far has
        ended. Unlike :meth:`Consumer.wait_idle`, it waits for scheduled
        retries too (on a fake clock, someone must move it).

        :raises TimeoutError: ``timeout`` seconds passed first.
        """
        topic = self._topic(topic)
        seconds = None if timeout is None else validate_duration("timeout", timeout)
        pause = 0.005
        async with asyncio.timeout(seconds):
            while True:
                counts = await self._driver.counts(topic)
                if counts.scheduled + counts.ready + counts.in_flight == 0:
                    return
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.25)

    async def list_dead(self, topic: str, *, limit: int = 100, offset: int = 0) -> list[Job]:
        """Up to ``limit`` waiting dead letters of ``topic`` after the first
        ``offset``, by priority then time of death (in-flight ones are being
        handled by a dead-letter consumer and are not listed)."""
        self._check_open()
        dead = validate_topic(topic) + DEAD_SUFFIX
        return await self._driver.list_jobs(
            dead, JobState.READY, limit=_limit(limit), offset=_offset(offset)
        )

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

    async def close(self, grace: float | None = None, *, abandon: bool = False) -> None:
        """Close every consumer (see :meth:`QueueConsumer.close`), then the
        driver. Idempotent; a second call with ``abandon`` stops waiting for
        sync handlers that are still running."""
        if self._closed:
            if abandon:
                await asyncio.gather(*(c.close(grace, abandon=True) for c in self._consumers))
            return
        self._closed = True
        await asyncio.gather(
            *(consumer.close(grace, abandon=abandon) for consumer in self._consumers)
        )
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
    return validate_count("limit", limit, minimum=0, maximum=MAX_LIST_LIMIT)


def _offset(offset: object) -> int:
    return validate_count("offset", offset, minimum=0, maximum=2**31 - 1)


def _ids(ids: Sequence[str] | None) -> list[str] | None:
    if ids is None:
        return None
    if isinstance(ids, str | bytes):
        raise InvalidArgument("ids must be a sequence of job ids, not a single str")
    try:
        items = list(ids)
    except TypeError:
        kind = type(ids).__name__
        raise InvalidArgument(f"ids must be a sequence of job ids, not {kind}") from None
    if len(items) > MAX_IDS:
        raise InvalidArgument(f"at most {MAX_IDS} ids per call, not {len(items)}")
    return [validate_job_id(job_id) for job_id in items]
