"""A blocking facade over :class:`QueueService` for sync code (Flask, Django,
scripts): one background event loop thread per instance."""

from __future__ import annotations

import _thread
import asyncio
import concurrent.futures
import contextlib
import contextvars
import os
import threading
import weakref
from collections.abc import Callable, Coroutine, Iterable, Sequence
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, cast

from ._clock import Clock
from ._driver import Driver
from ._errors import BackendUnavailable, Closed, InvalidArgument
from ._hooks import Hooks
from ._job import CancelOutcome, Counts, EnqueueResult, Job, JobState
from ._limits import TopicLimits
from ._options import EnqueueOptions, QueueOptions
from ._protocols import EnqueueItem, Payload
from ._service import QueueService
from ._url import open_service
from ._validate import validate_duration

__all__ = ["SyncQueueService"]

P = ParamSpec("P")
T = TypeVar("T")

CLOSE_TIMEOUT = 60.0  # most seconds close() waits for the service beyond its grace


class _Loop:
    """The background loop, its thread and the service living on it. Kept
    apart from :class:`SyncQueueService` so that a finalizer can shut it
    down without a reference to the facade."""

    def __init__(self, service: QueueService) -> None:
        self.service = service
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.pending: set[_Call[Any]] = set()  # calls handed to the loop, not answered yet
        self.stopped = False
        self.lock = threading.Lock()
        started = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(started,), name="queue-sync-loop", daemon=True
        )
        self.thread.start()
        started.wait()

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(started.set)
        self.loop.run_forever()

    def submit(self, call: _Call[T]) -> None:
        """Hand ``call`` to the loop (from any other thread)."""
        self.pending.add(call)
        try:
            self.loop.call_soon_threadsafe(call.start)
        except RuntimeError:  # the loop is closed
            call.fail(Closed("the SyncQueueService is closed"))

    def shutdown(self, grace: float | None) -> None:
        """Close the service on its loop, then stop the loop and its thread;
        a call that never got an answer fails with :class:`Closed`.
        Idempotent; in a forked child it only forgets the parent's loop."""
        with self.lock:
            if self.stopped:
                return
            self.stopped = True
        if os.getpid() != self.pid or not self.thread.is_alive():
            return
        if threading.get_ident() == self.thread.ident:  # from the loop itself: no waiting
            task = self.loop.create_task(self.service.close(grace))
            task.add_done_callback(lambda _: self.loop.stop())
            return
        future = asyncio.run_coroutine_threadsafe(self.service.close(grace), self.loop)
        try:
            future.result((grace or 0.0) + CLOSE_TIMEOUT)
        except BaseException:
            future.cancel()
            raise
        finally:
            # calls still running (on a backend that does not answer) end now
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(_cancel_the_rest(), self.loop).result(5.0)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(CLOSE_TIMEOUT)
            if not self.thread.is_alive():
                self.loop.close()
                for call in list(self.pending):
                    call.fail(Closed("the SyncQueueService was closed before it answered"))


async def _cancel_the_rest() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=1.0)


class _Call(Generic[T]):
    """One call handed to the loop: its coroutine runs as a task there;
    the caller waits on a plain lock (cheaper than a concurrent future), or
    on ``future`` (for callers on another event loop)."""

    __slots__ = (
        "context",
        "coro",
        "done",
        "error",
        "future",
        "owner",
        "result",
        "settled",
        "task",
    )

    def __init__(
        self,
        coro: Coroutine[Any, Any, T],
        owner: set[_Call[Any]],
        future: concurrent.futures.Future[T] | None = None,
    ) -> None:
        self.coro = coro
        self.owner = owner
        self.future = future
        # the caller's context (a trace span, say) is the task's: hooks see it
        self.context = contextvars.copy_context()
        self.done = _thread.allocate_lock()
        self.done.acquire()
        self.task: asyncio.Task[T] | None = None
        self.result: T | None = None
        self.error: BaseException | None = None
        self.settled = False

    def start(self) -> None:  # on the loop
        if self.future is not None and not self.future.set_running_or_notify_cancel():
            self.coro.close()
            self._settle(None, asyncio.CancelledError())
            return
        self.task = asyncio.get_running_loop().create_task(self.coro, context=self.context)
        self.task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[T]) -> None:
        if task.cancelled():  # by close(), or after the caller stopped waiting
            self._settle(None, Closed("the SyncQueueService was closed before it answered"))
        elif (error := task.exception()) is not None:
            self._settle(None, error)
        else:
            self._settle(task.result(), None)

    def fail(self, error: BaseException) -> None:
        """Answer with ``error`` (the loop is gone: the task never ran)."""
        if self.task is None:
            self.coro.close()
        self._settle(None, error)

    def _settle(self, result: T | None, error: BaseException | None) -> None:
        if self.settled:
            return
        self.settled = True
        self.owner.discard(self)
        self.result, self.error = result, error
        if self.future is not None and not self.future.done():
            if error is None:
                self.future.set_result(cast(T, result))
            else:
                self.future.set_exception(error)
        self.done.release()

    def cancel(self) -> None:  # on the loop, after the caller gave up waiting
        if self.task is not None:
            self.task.cancel()

    def outcome(self) -> T:
        error = self.error
        if error is not None:
            self.error = None  # no reference cycle through the traceback
            raise error
        return cast(T, self.result)


def _shutdown_at_exit(state: _Loop) -> None:
    with contextlib.suppress(Exception):  # interpreter exit: nothing left to tell
        state.shutdown(None)


class SyncQueueService:
    """The producer and admin calls of :class:`QueueService` as plain
    blocking methods, for code that does not run an event loop::

        queue = SyncQueueService("redis://localhost:6379/0")   # once, at startup
        queue.enqueue("emails", b'{"to": "ada@example.com"}')  # from any thread
        queue.close()

    One instance runs one background thread with an event loop, on which a
    :class:`QueueService` does the work; every method hands its call to
    that loop and waits for the answer. It is safe to share between
    threads (one per process is the intended use: concurrent enqueues to
    one topic are sent to the backend together).

    * ``url`` (default: ``$QUEUE_URL``) opens the service with
      :func:`open_service`; or pass ``driver`` (then ``clock`` is unused:
      give the clock to the driver).
    * ``timeout``: the longest a method waits for its answer (seconds;
      ``None``: no limit; :meth:`wait_empty` and :meth:`run` have none).
      Past it, the method raises :class:`BackendUnavailable`: the call may
      or may not have taken effect, as with any backend failure.

    Do not call it from code running on its own loop (a hook); in async
    code, use :attr:`service` (or a :class:`QueueService` of your own).
    After ``os.fork()`` (gunicorn ``--preload``), an instance opened from
    a URL reopens itself in the child on first use; one built on a
    ``driver`` raises :class:`Closed` there (make one per process).
    Closed at interpreter exit if you do not :meth:`close` it.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        driver: Driver | None = None,
        options: QueueOptions | None = None,
        hooks: Sequence[Hooks] = (),
        clock: Clock | None = None,
        timeout: float | None = 30.0,
    ) -> None:
        if url is not None and driver is not None:
            raise InvalidArgument("give a url or a driver, not both")
        self._timeout = None if timeout is None else validate_duration("timeout", timeout)
        self._reopen: Callable[[], QueueService] | None
        if driver is not None:
            service = QueueService(driver, options, hooks=tuple(hooks))
            self._reopen = None
        else:
            hook_list = tuple(hooks)
            service = open_service(url, options=options, hooks=hook_list, clock=clock)
            resolved = url

            def reopen() -> QueueService:
                return open_service(resolved, options=options, hooks=hook_list, clock=clock)

            self._reopen = reopen
        self._closed = False
        self._lock = threading.Lock()
        self._start(service)

    def _start(self, service: QueueService) -> None:
        self._state = _Loop(service)
        self._finalizer = weakref.finalize(self, _shutdown_at_exit, self._state)

    # -- plumbing -------------------------------------------------------------

    @property
    def service(self) -> QueueService:
        """The :class:`QueueService` on the background loop (use it only
        from that loop: inside :meth:`run`, or in hooks)."""
        return self._current().service

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The background event loop."""
        return self._current().loop

    @property
    def closed(self) -> bool:
        return self._closed

    def _current(self) -> _Loop:
        state = self._state
        if self._closed:
            raise Closed("the SyncQueueService is closed")
        if state.pid == os.getpid():
            return state
        with self._lock:  # forked: the parent's loop thread does not exist here
            state = self._state
            if state.pid != os.getpid():
                if self._reopen is None:
                    raise Closed(
                        "this SyncQueueService was made in another process (before a fork) "
                        "on a driver object; make one in each process"
                    )
                self._finalizer.detach()
                self._start(self._reopen())
                state = self._state
        return state

    def _check_thread(self, state: _Loop) -> None:
        if threading.get_ident() == state.thread.ident:
            raise RuntimeError(
                "SyncQueueService called from its own event loop (a hook?): "
                "use the async QueueService (.service) there"
            )

    def _submit(
        self, make: Callable[[QueueService], Coroutine[Any, Any, T]]
    ) -> concurrent.futures.Future[T]:
        """Run ``make(service)`` on the loop; its concurrent future (for a
        caller on another event loop: ``asyncio.wrap_future``)."""
        state = self._current()
        self._check_thread(state)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        state.submit(_Call(make(state.service), state.pending, future))
        return future

    def _call(
        self, make: Callable[[QueueService], Coroutine[Any, Any, T]], *, limit: bool = True
    ) -> T:
        state = self._current()
        self._check_thread(state)
        call = _Call(make(state.service), state.pending)
        state.submit(call)
        timeout = self._timeout if limit else None
        if not call.done.acquire(timeout=-1 if timeout is None else timeout):
            with contextlib.suppress(RuntimeError):  # a closed loop: nothing to cancel
                state.loop.call_soon_threadsafe(call.cancel)
            raise BackendUnavailable(
                f"no answer within {timeout:g} s; the call may or may not have taken effect"
            )
        return call.outcome()

    def run(
        self,
        fn: Callable[Concatenate[QueueService, P], Coroutine[Any, Any, T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``await fn(service, *args, **kwargs)`` on the background loop
        and return its result (no timeout), for anything the methods below
        do not cover::

            report = queue.run(run_until_idle, "emails", handler)
        """
        return self._call(lambda service: fn(service, *args, **kwargs), limit=False)

    # -- producing ------------------------------------------------------------

    def _direct(self) -> QueueService | None:
        """The service, when its driver enqueues from this thread directly
        (``capabilities.blocking_enqueue``: no hop to the loop thread)."""
        state = self._current()
        if not state.service.driver.capabilities.blocking_enqueue:
            return None
        self._check_thread(state)
        return state.service

    def enqueue(self, topic: str, payload: Payload, options: EnqueueOptions | None = None) -> str:
        """See :meth:`QueueService.enqueue`."""
        return self.enqueue_result(topic, payload, options).id

    def enqueue_result(
        self, topic: str, payload: Payload, options: EnqueueOptions | None = None
    ) -> EnqueueResult:
        """See :meth:`QueueService.enqueue_result`."""
        service = self._direct()
        if service is not None:
            item = cast(EnqueueItem, (payload, options))  # options may be None
            return service._enqueue_blocking(topic, [item])[0]
        return self._call(lambda service: service.enqueue_result(topic, payload, options))

    def enqueue_many(self, topic: str, jobs: Iterable[EnqueueItem]) -> list[str]:
        """See :meth:`QueueService.enqueue_many`."""
        return [result.id for result in self.enqueue_many_results(topic, jobs)]

    def enqueue_many_results(self, topic: str, jobs: Iterable[EnqueueItem]) -> list[EnqueueResult]:
        """See :meth:`QueueService.enqueue_many_results`."""
        service = self._direct()
        if service is not None:
            return service._enqueue_blocking(topic, jobs)
        return self._call(lambda service: service.enqueue_many_results(topic, jobs))

    # -- inspecting and managing ----------------------------------------------

    def counts(self, topic: str) -> Counts:
        return self._call(lambda service: service.counts(topic))

    def get(self, topic: str, job_id: str) -> Job | None:
        return self._call(lambda service: service.get(topic, job_id))

    def list_jobs(
        self, topic: str, state: JobState, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        return self._call(
            lambda service: service.list_jobs(topic, state, limit=limit, offset=offset)
        )

    def list_dead(self, topic: str, *, limit: int = 100, offset: int = 0) -> list[Job]:
        return self._call(lambda service: service.list_dead(topic, limit=limit, offset=offset))

    def topics(self) -> list[str]:
        return self._call(lambda service: service.topics())

    def cancel(self, topic: str, ids: Sequence[str]) -> list[CancelOutcome]:
        return self._call(lambda service: service.cancel(topic, ids))

    def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int:
        return self._call(lambda service: service.redrive(topic, ids))

    def purge(self, topic: str) -> int:
        return self._call(lambda service: service.purge(topic))

    def purge_dead(self, topic: str, ids: Sequence[str] | None = None) -> int:
        return self._call(lambda service: service.purge_dead(topic, ids))

    def set_limits(self, topic: str, limits: TopicLimits) -> None:
        self._call(lambda service: service.set_limits(topic, limits))

    def get_limits(self, topic: str) -> TopicLimits:
        return self._call(lambda service: service.get_limits(topic))

    def wait_empty(self, topic: str, *, timeout: float | None = None) -> None:
        """See :meth:`QueueService.wait_empty` (``timeout`` is its own)."""
        self._call(lambda service: service.wait_empty(topic, timeout=timeout), limit=False)

    # -- lifecycle ------------------------------------------------------------

    def close(self, grace: float | None = None) -> None:
        """Close the service (and the driver and client it owns), then stop
        the background thread. Idempotent; the methods raise
        :class:`Closed` afterwards."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._finalizer.detach()
        self._state.shutdown(grace)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
