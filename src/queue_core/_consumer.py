"""The worker runtime: one consumer = one fetch loop, a pool of workers, a
lease keeper and a batching acker, over any :class:`~queue_core.Driver`."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar, cast

from ._driver import Driver
from ._errors import BackendUnavailable, Closed, LeaseLost, TimeLimitExceeded
from ._handler import DeadLetter, Handler, JobCancelled, Retry
from ._hooks import HookSet, Outcome
from ._job import Job, Settled
from ._options import QueueOptions, SubscribeOptions
from ._protocols import ConsumerStats

__all__ = ["QueueConsumer"]

logger = logging.getLogger("queue_core")
T = TypeVar("T")
_STOP = object()
MAX_ERROR_LENGTH = 4096


def is_async_handler(handler: object) -> bool:
    """True for ``async def`` functions and objects with an async ``__call__``."""
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(handler, "__call__", None)  # noqa: B004 - callable objects
    return call is not None and inspect.iscoroutinefunction(call)


class _Abandoned(Exception):
    """The wait for a sync handler's thread was given up (close(abandon=True))."""


def _ignore_result(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: no "exception was never retrieved" warning


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:MAX_ERROR_LENGTH]


@dataclass(slots=True)
class _Held:
    job: Job
    token: str
    renewed_at: float
    expires_at: float
    lost: bool = False  # a renewal found the lease gone: stop renewing
    started: bool = False
    started_at: float = 0.0
    finished: bool = False  # the handler returned: waiting for its settle
    cancel: bool = False  # a cancel request reached this job
    timed_out: bool = False  # the handler ran past its time limit
    task: asyncio.Task[None] | None = None  # the worker task running an async handler
    cancels: int = 0  # task.cancel() calls of the runtime's own (time limit, cancel request)
    thread: asyncio.Future[object] | None = None  # a sync handler's running call


class QueueConsumer:
    """A subscription's runtime. Made by :meth:`QueueService.subscribe`."""

    def __init__(
        self,
        driver: Driver,
        topic: str,
        handler: Handler,
        options: SubscribeOptions,
        queue_options: QueueOptions,
        hooks: HookSet,
    ) -> None:
        self._driver = driver
        self._topic = topic
        self._handler = handler
        self._options = options
        self._queue_options = queue_options
        self._retry_policy = options.retry or queue_options.retry
        self._hooks = hooks
        self._is_async = is_async_handler(handler)
        self._executor = (
            None
            if self._is_async
            else ThreadPoolExecutor(options.concurrency, thread_name_prefix=f"queue-{topic}")
        )
        self._max_batch = max(1, driver.capabilities.max_batch)
        self._claim_limit = min(options.effective_batch_size, self._max_batch)
        self._reserved = 0  # slots an in-flight ack_and_claim may fill
        self._parked = False  # the fetcher waits for room
        self._held: dict[str, _Held] = {}
        self._buffer: asyncio.Queue[Any] = asyncio.Queue()
        self._room = asyncio.Event()
        self._wait_task: asyncio.Future[None] | None = None
        self._interrupt: asyncio.Future[None] | None = None  # set while waiting for work
        self._closing = False
        self._close_task: asyncio.Task[None] | None = None
        self._claim_gen = 0
        self._idle_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._ack_pending: list[_Held] = []
        self._ack_task: asyncio.Task[None] | None = None
        self._counters = dict.fromkeys(
            (
                "claimed",
                "acked",
                "retried",
                "dead_lettered",
                "dropped",
                "released",
                "cancelled",
                "lease_lost",
                "unknown",
                "timed_out",
            ),
            0,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._fetcher: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._canceller: asyncio.Task[None] | None = None
        self._time_limit = options.time_limit
        self._abandon = False  # close(abandon=True): do not wait for sync threads
        self._cut = asyncio.Event()  # a later close(0) or close(abandon=True) ends the grace

    # -- public ---------------------------------------------------------------

    @property
    def topic(self) -> str:
        return self._topic

    @property
    def closed(self) -> bool:
        return self._closing

    def statistics(self) -> ConsumerStats:
        running = settling = 0
        for held in self._held.values():
            if held.finished:
                settling += 1
            elif held.started:
                running += 1
        return ConsumerStats(running=running, settling=settling, **self._counters)

    def start(self) -> None:
        """Start the tasks (called by the service, inside the event loop)."""
        self._fetcher = asyncio.create_task(self._fetch_loop(), name=f"queue-fetch-{self._topic}")
        self._keeper = asyncio.create_task(self._keep_leases(), name=f"queue-lease-{self._topic}")
        if self._driver.capabilities.cancellation:
            self._canceller = asyncio.create_task(
                self._watch_cancels(), name=f"queue-cancel-{self._topic}"
            )
        self._tasks = [
            asyncio.create_task(self._work_loop(), name=f"queue-worker-{self._topic}-{i}")
            for i in range(self._options.concurrency)
        ]

    async def wait_idle(self) -> None:
        if self._closing:
            raise Closed(f"consumer of {self._topic!r} is closed")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle_waiters.append((self._claim_gen, future))
        self._nudge(backoff_too=False)
        await future

    async def close(self, grace: float | None = None, *, abandon: bool = False) -> None:
        """Stop claiming; let running handlers finish for ``grace`` seconds
        (default: ``shutdown_grace``); then cancel async handlers and release
        their jobs and every prefetched job, without using up an attempt.

        A sync handler cannot be stopped: one still running after the grace
        keeps its job (and the lease renewals) until its thread returns, and
        its job is then settled with the handler's result, so no other
        worker ever runs the job at the same time. With ``abandon``, close
        does not wait for such threads: their jobs are neither settled nor
        released (that would hand them to another worker while the thread
        still runs) and come back when their lease expires, with the
        attempt counted. Idempotent; a later call with ``abandon`` stops
        waiting for threads.
        """
        if abandon:
            self._abandon = True
            for held in self._held.values():
                if held.thread is not None and not held.thread.done():
                    held.thread.cancel()  # stops the wait; the thread itself runs on
        if self._close_task is None:
            self._close_task = asyncio.create_task(self._close(grace))
        elif abandon or grace == 0:
            self._cut.set()  # a close already running: end its grace now
        await asyncio.shield(self._close_task)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- fetching -------------------------------------------------------------

    def _nudge(self, *, backoff_too: bool = True) -> None:
        """Wake the fetcher: from a wait for room or for work (interrupted,
        never cancelled: its claim still runs and its jobs are taken), and
        (unless ``backoff_too`` is false) from a backoff sleep."""
        self._room.set()
        if self._interrupt is not None and not self._interrupt.done():
            self._interrupt.set_result(None)
        elif backoff_too and self._wait_task is not None:
            self._wait_task.cancel()

    async def _fetch_loop(self) -> None:
        failures = 0
        options = self._options
        limit = self._claim_limit
        while not self._closing:
            room = options.max_held - len(self._held) - self._reserved
            if room <= 0:
                self._parked = True
                try:
                    await self._wait_room(
                        lambda: len(self._held) + self._reserved < options.max_held
                    )
                finally:
                    self._parked = False
                continue
            self._claim_gen += 1
            gen = self._claim_gen
            try:
                jobs = await self._driver.claim(
                    self._topic, max_jobs=min(room, limit), lease=options.lease
                )
            except Closed as exc:
                logger.error("the driver of %r was closed; the consumer stops", self._topic)
                self._closing = True
                self._fail_idle_waiters(exc)
                break
            except Exception as exc:
                failures += 1
                delay = self._queue_options.backend_retry.delay(failures)
                log = logger.warning if isinstance(exc, BackendUnavailable) else logger.error
                log(
                    "claim from %r failed (%s); retrying in %.2fs",
                    self._topic,
                    exc,
                    delay,
                    exc_info=not isinstance(exc, BackendUnavailable),
                )
                await self._pause(delay)
                continue
            failures = 0
            if jobs:
                self._take(jobs)
                continue
            if not self._held:
                self._resolve_idle(gen)
            elif self._idle_waiters:
                # an idle check is pending: claim again once a held job settles
                await self._wait_room(lambda: not self._held)
                continue
            # block until work may be there; the claim rides on the wake-up
            self._take(await self._wait_for_work(min(room, limit)))

    def _take(self, jobs: list[Job]) -> None:
        """Hold freshly claimed jobs and queue them for the workers."""
        if not jobs:
            return
        self._counters["claimed"] += len(jobs)
        now = asyncio.get_running_loop().time()
        lease = self._options.lease
        for job in jobs:
            self._held[job.id] = _Held(job, job.lease_token or "", now, now + lease)
            self._buffer.put_nowait(job)
        if self._hooks.active:
            self._hooks.on_claimed(self._topic, jobs)

    async def _wait_room(self, ready: Callable[[], bool]) -> None:
        self._room.clear()
        if ready() or self._closing:
            return
        await self._room.wait()

    async def _pause(self, seconds: float) -> None:
        """A backoff sleep, in a task close() can cancel."""
        if not self._closing:
            await self._cancellable(asyncio.sleep(seconds))

    async def _wait_for_work(self, max_jobs: int) -> list[Job]:
        """The driver's wait-then-claim, in a task :meth:`_nudge` may cancel;
        the jobs it claimed (none when cancelled, timed out or failed)."""
        if self._closing or self._idle_waiters:
            return []  # closing, or someone waits for an idle check: claim again at once
        self._interrupt = asyncio.get_running_loop().create_future()
        try:
            return await self._driver.wait_and_claim(
                self._topic,
                self._options.poll_interval,
                max_jobs=max_jobs,
                lease=self._options.lease,
                interrupt=self._interrupt,
            )
        except Closed:
            return []  # the next claim finds it and stops the consumer
        except Exception as failed:
            logger.warning("waiting on %r failed (%s)", self._topic, failed)
        finally:
            self._interrupt = None
        await self._cancellable(asyncio.sleep(min(1.0, self._options.poll_interval)))
        return []

    async def _cancellable(self, coro: Awaitable[None]) -> None:
        """Await ``coro`` (a sleep) as the task :meth:`_nudge` may cancel."""
        self._wait_task = asyncio.ensure_future(coro)
        try:
            await asyncio.wait([self._wait_task])
        finally:
            self._wait_task = None

    def _resolve_idle(self, gen: int) -> None:
        keep = []
        for start_gen, future in self._idle_waiters:
            if start_gen < gen:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((start_gen, future))
        self._idle_waiters = keep

    # -- running handlers -----------------------------------------------------

    async def _work_loop(self) -> None:
        while True:
            item = await self._buffer.get()
            if item is _STOP:
                return
            job = cast(Job, item)
            if self._closing:
                await self._release(job)
                continue
            try:
                await self._run(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug of ours: never lose the worker over it
                logger.exception("%s/%s: the runtime failed handling the job", self._topic, job.id)

    async def _run(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        held = self._held[job.id]
        held.started = True
        held.started_at = start
        if held.cancel:  # the request came while the job waited its turn
            held.finished = True
            await self._cancelled(job, start)
            return
        timer = None
        if self._time_limit is not None:
            timer = loop.call_later(self._time_limit, self._time_up, held)
        if self._hooks.active:
            self._hooks.before_job(job)
        try:
            if self._is_async:
                held.task = asyncio.current_task()
                await cast(Callable[[Job], Awaitable[None]], self._handler)(job)
            else:
                await self._run_sync(job, held)
        except asyncio.CancelledError as exc:
            held.task = None
            # undo the runtime's own cancellations: whatever remains is close()'s
            closing = self._drop_own_cancels(held)
            if closing:  # close() cancelled this worker
                await self._release(job, start)
                raise
            if held.timed_out or held.cancel:
                await self._ended_by_runtime(job, held, start)
                return
            # the handler raised it without being cancelled: a failed attempt
            held.finished = True
            await self._fail(job, exc, self._retry_policy.delay(job.attempt), start)
        except _Abandoned:
            self._abandoned(job, start)
        except (KeyboardInterrupt, SystemExit):
            await self._release(job, start)
            raise
        except BaseException as exc:
            held.finished = True
            await self._handler_raised(job, held, exc, start)
        else:
            held.task = None
            self._drop_own_cancels(held)  # a handler may swallow its cancellation
            if held.timed_out:
                await self._ended_by_runtime(job, held, start)
                return
            held.finished = True
            self._ack_pending.append(held)
            if self._ack_task is None:
                self._ack_task = asyncio.create_task(self._ack_loop())
        finally:
            held.task = None
            self._drop_own_cancels(held)
            if timer is not None:
                timer.cancel()

    @staticmethod
    def _drop_own_cancels(held: _Held) -> bool:
        """Undo the runtime's own ``task.cancel()`` calls on the worker that
        runs ``held`` (a handler may swallow one, or get two); True when
        a cancellation remains: close() cancelled the worker."""
        task = asyncio.current_task()
        if task is None:
            return True
        for _ in range(held.cancels):
            task.uncancel()
        held.cancels = 0
        return task.cancelling() > 0

    async def _run_sync(self, job: Job, held: _Held) -> None:
        """Run a plain function in the thread pool. The wait for it can end
        early (its time limit; ``close(abandon=True)``), the thread cannot:
        it runs on, abandoned, and later jobs get a fresh pool. close()
        past its grace does not end the wait: the job stays held (its lease
        renewed) until the thread returns, then it is settled."""
        loop = asyncio.get_running_loop()
        sync = cast(Callable[[Job], object], self._handler)
        # the handler sees this task's context (a trace span, for example)
        context = contextvars.copy_context()
        future = loop.run_in_executor(self._executor, context.run, sync, job)
        held.thread = future
        warned = False
        try:
            while True:
                try:
                    result = await asyncio.shield(future)
                    break
                except asyncio.CancelledError:
                    if held.timed_out:
                        self._abandon_thread(future)
                        raise TimeLimitExceeded(self._limit_text(job)) from None
                    if self._abandon or future.cancelled():
                        self._abandon_thread(future)
                        raise _Abandoned from None
                    task = asyncio.current_task()
                    if task is not None:
                        while task.uncancel() > 0:
                            pass
                    if not warned:
                        warned = True
                        logger.warning(
                            "%s/%s: the sync handler is still running after the shutdown "
                            "grace; waiting for it to return (a thread cannot be stopped; "
                            "the lease is kept so that no one else runs the job meanwhile)",
                            self._topic,
                            job.id,
                        )
        finally:
            held.thread = None
        if inspect.isawaitable(result):  # e.g. lambda job: async_fn(job)
            await result

    def _abandon_thread(self, future: asyncio.Future[object]) -> None:
        """A sync handler's thread runs on unobserved: give later jobs a new
        pool (the old one winds down when its threads return)."""
        future.add_done_callback(_ignore_result)
        old = self._executor
        if old is not None and not self._closing:
            self._executor = ThreadPoolExecutor(
                self._options.concurrency, thread_name_prefix=f"queue-{self._topic}"
            )
            old.shutdown(wait=False)

    def _time_up(self, held: _Held) -> None:
        """The handler of ``held`` reached its time limit."""
        if held.finished or self._held.get(held.job.id) is not held:
            return
        held.timed_out = True
        self._counters["timed_out"] += 1
        if held.thread is not None:
            held.thread.cancel()  # not the thread: the wait for it
        elif held.task is not None:
            held.cancels += 1
            held.task.cancel()

    def _limit_text(self, job: Job) -> str:
        return f"{self._topic}/{job.id} ran longer than its time limit of {self._time_limit:g}s"

    async def _ended_by_runtime(self, job: Job, held: _Held, start: float) -> None:
        """The runtime stopped the handler: its time limit, or a cancel."""
        held.finished = True
        if held.cancel:
            await self._cancelled(job, start)
            return
        exc = TimeLimitExceeded(self._limit_text(job))
        logger.warning("%s", exc)
        await self._fail(job, exc, self._retry_policy.delay(job.attempt), start)

    async def _handler_raised(
        self, job: Job, held: _Held, exc: BaseException, start: float
    ) -> None:
        if held.cancel or isinstance(exc, JobCancelled):
            await self._cancelled(job, start)
        elif isinstance(exc, Retry):
            await self._fail(job, exc, exc.delay, start)
        elif isinstance(exc, DeadLetter):
            await self._bury(job, exc, start)
        else:
            if not isinstance(exc, Exception):
                logger.error(
                    "%s/%s: the handler raised %s (not an Exception); the attempt failed",
                    self._topic,
                    job.id,
                    type(exc).__name__,
                    exc_info=exc,
                )
            await self._fail(job, exc, self._retry_policy.delay(job.attempt), start)

    async def _fail(self, job: Job, exc: BaseException, delay: float, start: float) -> None:
        if job.attempt >= job.max_attempts:
            await self._bury(job, exc, start)
            return
        error = describe(exc)
        failed = await self._settle(
            job,
            lambda: self._driver.retry(
                self._topic, job.id, job.lease_token or "", delay=delay, error=error
            ),
        )
        if failed is None:
            self._counters["retried"] += 1
            logger.info(
                "%s/%s attempt %d failed (%s); retry in %.2fs",
                self._topic,
                job.id,
                job.attempt,
                error,
                delay,
            )
            if self._hooks.active:
                self._hooks.on_retry(job, delay, exc)
        self._finish(job, failed or Outcome.RETRIED, exc, start)

    async def _bury(self, job: Job, exc: BaseException, start: float) -> None:
        error = describe(exc)
        if self._options.on_exhausted == "drop" and not isinstance(exc, DeadLetter):
            failed = await self._settle(
                job, lambda: self._driver.ack(self._topic, job.id, job.lease_token or "")
            )
            outcome, counter = Outcome.DROPPED, "dropped"
        else:
            failed = await self._settle(
                job,
                lambda: self._driver.dead_letter(
                    self._topic, job.id, job.lease_token or "", error=error
                ),
            )
            outcome, counter = Outcome.DEAD_LETTERED, "dead_lettered"
        if failed is None:
            self._counters[counter] += 1
            logger.warning(
                "%s/%s %s after %d attempt(s): %s",
                self._topic,
                job.id,
                outcome.value,
                job.attempt,
                error,
            )
            if self._hooks.active:
                self._hooks.on_dead_letter(job, exc)
        self._finish(job, failed or outcome, exc, start)

    async def _release(self, job: Job, start: float | None = None) -> None:
        failed = await self._settle(
            job, lambda: self._driver.release(self._topic, job.id, job.lease_token or "")
        )
        if failed is None:
            self._counters["released"] += 1
        if start is None:
            start = asyncio.get_running_loop().time()
        self._finish(job, failed or Outcome.RELEASED, None, start)

    async def _cancelled(self, job: Job, start: float) -> None:
        """End a job whose cancellation was requested (or that raised
        JobCancelled): deleted, neither retried nor dead-lettered."""
        failed = await self._settle(
            job, lambda: self._driver.ack(self._topic, job.id, job.lease_token or "")
        )
        if failed is None:
            self._counters["cancelled"] += 1
            logger.info("%s/%s cancelled", self._topic, job.id)
        self._finish(job, failed or Outcome.CANCELLED, None, start)

    def _abandoned(self, job: Job, start: float) -> None:
        """close(abandon=True) stopped waiting for the job's sync handler:
        neither settled nor released; it comes back after its lease."""
        logger.warning(
            "%s/%s: abandoned with its sync handler still running; the job comes back "
            "when its lease expires (the attempt counts)",
            self._topic,
            job.id,
        )
        self._finish(job, Outcome.UNKNOWN, None, start)

    async def _settle(self, job: Job, call: Callable[[], Awaitable[object]]) -> Outcome | None:
        """Run a settling driver call, retrying BackendUnavailable until the
        lease would have expired anyway. ``None`` when it applied;
        ``LEASE_LOST`` when the backend refused it (the lease had moved on);
        ``UNKNOWN`` when the runtime gave up without an answer."""
        failed, _ = await self._with_backend_retry((job.id,), call)
        return failed

    async def _with_backend_retry(
        self, job_ids: Sequence[str], call: Callable[[], Awaitable[T]]
    ) -> tuple[Outcome | None, T | None]:
        """(None, result) on success; (LEASE_LOST or UNKNOWN, None) once
        retrying is pointless, counted and reported for every job of
        ``job_ids`` (the jobs the call settles)."""
        failures = 0
        # fixed at the first failure, so that renewals cannot postpone it forever
        give_up_at: float | None = None
        while True:
            try:
                return None, await call()
            except LeaseLost:
                for job_id in job_ids:
                    self._lease_lost(job_id)
                return Outcome.LEASE_LOST, None
            except BackendUnavailable as exc:
                failures += 1
                loop = asyncio.get_running_loop()
                delay = self._queue_options.backend_retry.delay(failures)
                if give_up_at is None:
                    held = [self._held[i] for i in job_ids if i in self._held]
                    give_up_at = min((h.expires_at for h in held), default=loop.time())
                if loop.time() + delay >= give_up_at:
                    self._settle_unknown(job_ids, exc)
                    return Outcome.UNKNOWN, None
                await asyncio.sleep(delay)
            except Closed as exc:
                self._settle_unknown(job_ids, exc)
                return Outcome.UNKNOWN, None
            except Exception as exc:
                logger.exception(
                    "%s/%s: settling raised an unexpected error", self._topic, ",".join(job_ids)
                )
                self._settle_unknown(job_ids, exc)
                return Outcome.UNKNOWN, None

    def _settle_unknown(self, job_ids: Sequence[str], exc: BaseException) -> None:
        for job_id in job_ids:
            self._counters["unknown"] += 1
            logger.error(
                "%s/%s: gave up settling (%s); the outcome is unknown: if the call did not "
                "apply, the job comes back when its lease expires",
                self._topic,
                job_id,
                exc,
            )
            held = self._held.get(job_id)
            if held is not None and self._hooks.active:
                self._hooks.on_settle_unknown(held.job, exc)

    def _lease_lost(self, job_id: str) -> None:
        """The backend refused to settle the job: its lease had moved on."""
        held = self._held.get(job_id)
        if held is None:
            return
        held.lost = True
        self._counters["lease_lost"] += 1
        logger.warning(
            "%s/%s: lease lost (it expired and moved on); result discarded", self._topic, job_id
        )
        if self._hooks.active:
            self._hooks.on_lease_lost(held.job)

    def _finish(
        self, job: Job, outcome: Outcome, error: BaseException | None, start: float
    ) -> None:
        self._held.pop(job.id, None)
        self._room.set()
        if self._hooks.active:
            duration = asyncio.get_running_loop().time() - start
            self._hooks.after_job(job, outcome, error, duration)

    async def _ack_loop(self) -> None:
        try:
            await asyncio.sleep(0)  # let concurrent finishers join this batch
            while self._ack_pending:
                batch = self._ack_pending[: self._max_batch]
                del self._ack_pending[: self._max_batch]
                leases = [(held.job.id, held.token) for held in batch]
                # the fetcher waits for room: fetch the successors in this call
                want = 0
                if self._parked and not self._closing:
                    free = self._options.max_held - (len(self._held) - len(batch))
                    want = max(0, min(free - self._reserved, self._claim_limit))
                self._reserved += want
                ids = [job_id for job_id, _ in leases]
                try:
                    if want:
                        call = functools.partial(
                            self._driver.ack_and_claim,
                            self._topic,
                            leases,
                            max_jobs=want,
                            lease=self._options.lease,
                        )
                        failed, both = await self._with_backend_retry(ids, call)
                        outcomes, jobs = both if both is not None else (None, [])
                    else:
                        ack = functools.partial(self._driver.ack_many, self._topic, leases)
                        failed, outcomes = await self._with_backend_retry(ids, ack)
                        jobs = []
                finally:
                    self._reserved -= want
                results: list[Settled | None] = (
                    list(outcomes) if outcomes is not None else [None] * len(batch)
                )
                for held, outcome in zip(batch, results, strict=True):
                    if failed is not None:  # counted and reported for each job already
                        result = failed
                    elif outcome is Settled.LEASE_LOST:
                        self._lease_lost(held.job.id)
                        result = Outcome.LEASE_LOST
                    elif held.cancel:
                        self._counters["cancelled"] += 1
                        result = Outcome.CANCELLED
                    else:
                        self._counters["acked"] += 1
                        result = Outcome.ACKED
                    self._finish(held.job, result, None, held.started_at)
                self._take(jobs)
        finally:
            self._ack_task = None

    # -- leases and cancel requests -------------------------------------------

    async def _keep_leases(self) -> None:
        lease = self._options.lease
        interval = lease / 3.0
        limit = self._time_limit
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval / 2.0)
            now = loop.time()
            for held in list(self._held.values()):
                if held.lost or now - held.renewed_at < interval:
                    continue
                if limit is not None and held.started and now - held.started_at >= limit:
                    continue  # never renewed past the time limit
                if self._held.get(held.job.id) is not held:
                    continue
                try:
                    await self._driver.extend(self._topic, held.job.id, held.token, lease)
                except LeaseLost:
                    # stop renewing; if the lease is really gone, the settle
                    # finds out and reports it (a renewal racing the job's
                    # ack on another connection is not a lost lease)
                    held.lost = True
                    logger.debug("%s/%s: renewal found the lease gone", self._topic, held.job.id)
                    continue
                except Exception as exc:
                    logger.warning(
                        "%s/%s: lease renewal failed (%s); will retry",
                        self._topic,
                        held.job.id,
                        exc,
                    )
                    continue
                held.renewed_at = now
                held.expires_at = now + lease

    async def _watch_cancels(self) -> None:
        """Ask the driver, while jobs are held, which have a cancel request."""
        interval = self._options.cancel_poll_interval
        while True:
            await asyncio.sleep(interval)
            ids = [held.job.id for held in self._held.values() if not held.cancel]
            if not ids:
                continue
            try:
                found = await self._driver.cancel_requested(self._topic, ids)
            except Exception as exc:
                logger.warning("%s: polling for cancel requests failed (%s)", self._topic, exc)
                continue
            for job_id in found:
                held = self._held.get(job_id)
                if held is not None and not held.cancel:
                    self._cancel_held(held)

    def _cancel_held(self, held: _Held) -> None:
        """A cancel request reached a held job: flag it for the handler, and
        stop an async handler at its next await."""
        held.cancel = True
        object.__setattr__(held.job, "_cancelled", True)
        logger.info("%s/%s: cancel requested", self._topic, held.job.id)
        if held.task is not None and not held.finished:
            held.cancels += 1
            held.task.cancel()

    # -- closing --------------------------------------------------------------

    async def _close(self, grace: float | None) -> None:
        grace = self._options.shutdown_grace if grace is None else grace
        self._closing = True
        self._nudge()
        if self._fetcher is not None:
            # a claim stuck on an unresponsive backend must not hold close up
            # forever; cancelled, its jobs come back when their lease expires
            await asyncio.wait([self._fetcher], timeout=max(grace, 1.0))
            if not self._fetcher.done():
                self._fetcher.cancel()
                await asyncio.wait([self._fetcher])
        for _ in self._tasks:
            self._buffer.put_nowait(_STOP)
        if self._tasks:
            pending = await self._within_grace(self._tasks, grace)
            for task in pending:
                task.cancel()
            if pending:
                # async handlers stop now; a sync handler's worker waits for
                # its thread (the keeper still renews its lease)
                await asyncio.wait(pending)
        while self._ack_task is not None:
            await asyncio.wait([self._ack_task])
        # anything still held (a worker cancelled mid-settle) goes back now
        for held in list(self._held.values()):
            await self._release(held.job)
        for helper in (self._keeper, self._canceller):
            if helper is not None:
                helper.cancel()
                await asyncio.wait([helper])
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._fail_idle_waiters(Closed(f"consumer of {self._topic!r} closed"))

    async def _within_grace(
        self, tasks: list[asyncio.Task[None]], grace: float
    ) -> list[asyncio.Task[None]]:
        """Wait for ``tasks`` for ``grace`` seconds, or until a later close
        call cuts the grace short; the tasks still running."""
        if grace > 0 and not self._cut.is_set():
            finished = asyncio.ensure_future(asyncio.wait(tasks))
            cut = asyncio.ensure_future(self._cut.wait())
            await asyncio.wait({finished, cut}, timeout=grace, return_when=asyncio.FIRST_COMPLETED)
            for waiter in (finished, cut):
                waiter.cancel()  # the waiters only: the tasks run on
            await asyncio.wait({finished, cut})
        return [task for task in tasks if not task.done()]

    def _fail_idle_waiters(self, exc: BaseException) -> None:
        for _, future in self._idle_waiters:
            if not future.done():
                future.set_exception(exc)
        self._idle_waiters.clear()
