"""Tasks: typed functions over the bytes API.

A :class:`Tasks` registry declares handlers that take named, typed
arguments; a :class:`Task` encodes a call's arguments into a job's payload
with the registry's :class:`~queue_core.Codec` (JSON by default) and the
worker decodes them and calls the function. The job carries the task's
name in the ``qtk-task`` header, so that several tasks may share a topic.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dataclasses
import inspect
import threading
import typing
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from ._codec import Codec, JsonCodec
from ._consumer import QueueConsumer, is_async_handler
from ._errors import InvalidArgument
from ._handler import DeadLetter, Handler, Retry
from ._job import EnqueueResult, Job
from ._options import EnqueueOptions, SubscribeOptions
from ._service import QueueService
from ._sync import SyncQueueService
from ._validate import validate_headers, validate_max_attempts, validate_priority, validate_topic

if TYPE_CHECKING:  # queue_core.schedules is imported when a schedule is declared
    from .schedules import Schedule, Trigger

__all__ = ["TASK_HEADER", "Task", "TaskCall", "Tasks", "current_job"]

P = ParamSpec("P")
T = TypeVar("T")

TASK_HEADER = "qtk-task"
"""The job header that names the task a job is for."""

UNKNOWN_TASK_RETRY = 60.0  # seconds before a job for a task this worker lacks is retried

_current_job: contextvars.ContextVar[Job] = contextvars.ContextVar("queue_core_current_job")


def current_job() -> Job:
    """The job the calling task handler is running for (also inside
    functions it calls, and in a sync handler's thread).

    :raises LookupError: no task handler is running in this context.
    """
    try:
        return _current_job.get()
    except LookupError:
        raise LookupError("current_job() is only available while a task handler runs") from None


# -- binding: where enqueues go ----------------------------------------------------


class _Binding:
    """A service tasks enqueue on, and how to reach it from any thread."""

    def __init__(
        self,
        service: QueueService | None,
        loop: asyncio.AbstractEventLoop | None,
        sync: SyncQueueService | None,
    ) -> None:
        self.service = service
        self.loop = loop
        self.sync = sync

    async def run(self, make: Callable[[QueueService], Coroutine[Any, Any, T]]) -> T:
        if self.sync is not None:
            if self.sync.loop is asyncio.get_running_loop():  # a handler on its loop
                return await make(self.sync.service)
            return await asyncio.wrap_future(self.sync._submit(make))
        assert self.service is not None
        if self.loop is None or self.loop is asyncio.get_running_loop():
            return await make(self.service)
        future = asyncio.run_coroutine_threadsafe(make(self.service), self.loop)
        return await asyncio.wrap_future(future)

    def run_sync(self, make: Callable[[QueueService], Coroutine[Any, Any, T]]) -> T:
        if self.sync is not None:
            return self.sync._call(make)
        assert self.service is not None
        if self.loop is None:
            raise InvalidArgument(
                "the tasks are bound to a QueueService outside of its event loop: "
                "bind a SyncQueueService to enqueue from sync code"
            )
        if _running_loop() is self.loop:
            raise InvalidArgument(
                "enqueue_sync() called on the event loop the tasks are bound to: "
                "use 'await task.enqueue(...)' in async code"
            )
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            make(self.service), self.loop
        )
        return future.result()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


# -- calls and tasks ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskCall(Generic[P]):
    """One call of a task, made by :meth:`Task.call`, for
    :meth:`Task.enqueue_many`: the task, its arguments by parameter name,
    and the enqueue options of the task view that made it (with the
    ``qtk-task`` header)."""

    task: Task[P]
    arguments: Mapping[str, Any]
    options: EnqueueOptions


class Task(Generic[P]):
    """A function declared with :meth:`Tasks.task`. Enqueue a call with
    ``await send_email.enqueue(to="ada@example.com")`` (type-checked against
    the function's parameters), or ``send_email.enqueue_sync(...)`` from sync
    code; ``send_email.with_options(delay=60).enqueue(...)`` sets per-call
    options. The function itself is :attr:`fn`."""

    __slots__ = ("_meta", "_options", "_sent")

    def __init__(self, meta: _TaskMeta, options: EnqueueOptions) -> None:
        self._meta = meta
        self._options = options
        # what enqueues send: the options plus the task's header (made once)
        self._sent = dataclasses.replace(
            options, headers={**(options.headers or {}), TASK_HEADER: meta.name}
        )

    @property
    def name(self) -> str:
        return self._meta.name

    @property
    def topic(self) -> str:
        return self._meta.topic

    @property
    def fn(self) -> Callable[..., Any]:
        """The declared function (call it directly in unit tests)."""
        return self._meta.fn

    @property
    def registry(self) -> Tasks:
        return self._meta.registry

    @property
    def options(self) -> EnqueueOptions:
        """The enqueue options this task (or view of it) uses."""
        return self._options

    @property
    def subscribe_options(self) -> SubscribeOptions | None:
        return self._meta.subscribe

    def __repr__(self) -> str:
        return f"<Task {self.name!r} on topic {self.topic!r}>"

    def with_options(
        self,
        *,
        priority: int | None = None,
        delay: float | None = None,
        run_at: float | None = None,
        job_id: str | None = None,
        max_attempts: int | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_window: float | None = None,
    ) -> Task[P]:
        """A view of this task whose enqueues use these options (see
        :class:`EnqueueOptions`) over the task's own; the registry still
        knows one task."""
        base = self._options
        headers = {**(base.headers or {}), **validate_headers(headers)} if headers else None
        if run_at is not None:  # the one given replaces the other
            delay = 0.0
        elif delay is not None:
            run_at = None
        else:
            delay, run_at = base.delay, base.run_at
        options = EnqueueOptions(
            priority=base.priority if priority is None else priority,
            delay=delay,
            run_at=run_at,
            job_id=base.job_id if job_id is None else job_id,
            max_attempts=base.max_attempts if max_attempts is None else max_attempts,
            headers=base.headers if headers is None else headers,
            idempotency_window=(
                base.idempotency_window if idempotency_window is None else idempotency_window
            ),
        )
        return Task(self._meta, options)

    # -- producing ----------------------------------------------------------------

    def call(self, *args: P.args, **kwargs: P.kwargs) -> TaskCall[P]:
        """Check the arguments against the function's parameters and return
        the call, for :meth:`enqueue_many`.

        :raises InvalidArgument: the arguments do not fit the parameters.
        """
        return TaskCall(self, self._meta.bind(args, kwargs), self._sent)

    def _job(self, call: TaskCall[P]) -> tuple[bytes, EnqueueOptions]:
        if call.task._meta is not self._meta:
            raise InvalidArgument(f"a call of task {call.task.name!r} given to {self.name!r}")
        payload = self._meta.registry.codec.encode(call.arguments, self._meta.types)
        return payload, call.options

    async def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """Enqueue one call on the service the registry is bound to
        (:meth:`Tasks.bind`); return the job id.

        :raises InvalidArgument: bad arguments (nothing written), or no
            service is bound.
        """
        return (await self.enqueue_result(*args, **kwargs)).id

    async def enqueue_result(self, *args: P.args, **kwargs: P.kwargs) -> EnqueueResult:
        """:meth:`enqueue`, telling whether the job was created (see
        :meth:`QueueService.enqueue_result`)."""
        payload, options = self._job(self.call(*args, **kwargs))
        topic = self._meta.topic
        binding = self._meta.registry._binding()
        return await binding.run(lambda service: service.enqueue_result(topic, payload, options))

    async def enqueue_many(self, calls: Iterable[TaskCall[P]]) -> list[str]:
        """Enqueue many calls (made with :meth:`call`) in as few backend
        calls as the driver allows; return their job ids in order. Every
        call is encoded before any is sent."""
        items = self._items(calls)
        topic = self._meta.topic
        binding = self._meta.registry._binding()
        return await binding.run(lambda service: service.enqueue_many(topic, items))

    def enqueue_sync(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """:meth:`enqueue` for sync code (the registry bound to a
        :class:`SyncQueueService`, or to a :class:`QueueService` whose loop
        runs in another thread, as in a sync handler of ``qtk worker``)."""
        return self.enqueue_result_sync(*args, **kwargs).id

    def enqueue_result_sync(self, *args: P.args, **kwargs: P.kwargs) -> EnqueueResult:
        """:meth:`enqueue_result` for sync code."""
        payload, options = self._job(self.call(*args, **kwargs))
        topic = self._meta.topic
        binding = self._meta.registry._binding()
        return binding.run_sync(lambda service: service.enqueue_result(topic, payload, options))

    def enqueue_many_sync(self, calls: Iterable[TaskCall[P]]) -> list[str]:
        """:meth:`enqueue_many` for sync code."""
        items = self._items(calls)
        topic = self._meta.topic
        binding = self._meta.registry._binding()
        return binding.run_sync(lambda service: service.enqueue_many(topic, items))

    def _items(self, calls: Iterable[TaskCall[P]]) -> list[tuple[bytes, EnqueueOptions]]:
        if isinstance(calls, TaskCall):
            raise InvalidArgument("enqueue_many takes an iterable of calls, not one call")
        items = []
        for call in calls:
            if not isinstance(call, TaskCall):
                kind = type(call).__name__
                raise InvalidArgument(f"enqueue_many takes calls made by task.call(), not {kind}")
            items.append(self._job(call))
        return items


class _TaskMeta:
    """What a registry knows about one declared function."""

    def __init__(
        self,
        registry: Tasks,
        fn: Callable[..., Any],
        *,
        name: str,
        topic: str,
        subscribe: SubscribeOptions | None,
    ) -> None:
        self.registry = registry
        self.fn = fn
        self.name = name
        self.topic = topic
        self.subscribe = subscribe
        self.is_async = is_async_handler(fn)
        signature = inspect.signature(fn)
        try:
            hints = typing.get_type_hints(fn)
        except Exception:  # unresolvable forward references: keep the raw annotations
            hints = {
                p.name: p.annotation
                for p in signature.parameters.values()
                if p.annotation is not inspect.Parameter.empty
            }
        params = list(signature.parameters.values())
        self.wants_job = bool(params) and _is_job(hints.get(params[0].name))
        if self.wants_job:
            params = params[1:]
        for param in params:
            if _is_job(hints.get(param.name)):
                raise InvalidArgument(
                    f"task {name!r}: the Job parameter {param.name!r} must be the first one"
                )
            if param.kind is inspect.Parameter.VAR_POSITIONAL:
                raise InvalidArgument(
                    f"task {name!r}: *{param.name} is not supported (arguments travel by name)"
                )
            if param.kind is inspect.Parameter.POSITIONAL_ONLY:
                raise InvalidArgument(
                    f"task {name!r}: positional-only parameter {param.name!r} is not supported "
                    "(arguments travel by name)"
                )
        self.signature = signature.replace(parameters=params)
        self.types = {p.name: hints.get(p.name, Any) for p in params}
        self.var_keyword = next(
            (p.name for p in params if p.kind is inspect.Parameter.VAR_KEYWORD), None
        )

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The call's arguments by parameter name (defaults not filled in)."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidArgument(f"{self.name}(): {exc}") from None
        arguments = dict(bound.arguments)
        if self.var_keyword is not None and self.var_keyword in arguments:
            arguments.update(arguments.pop(self.var_keyword))
        return arguments

    def decode(self, job: Job) -> inspect.BoundArguments:
        try:
            arguments = self.registry.codec.decode(job.payload, self.types)
        except Exception as exc:
            raise DeadLetter(f"task {self.name!r}: cannot decode the payload ({exc})") from exc
        try:
            return self.signature.bind(**arguments)
        except TypeError as exc:
            raise DeadLetter(
                f"task {self.name!r}: the payload's arguments do not fit "
                f"{self.name}{self.signature} ({exc})"
            ) from None

    async def run_async(self, job: Job) -> None:
        bound = self.decode(job)
        token = _current_job.set(job)
        try:
            if self.wants_job:
                await self.fn(job, *bound.args, **bound.kwargs)
            else:
                await self.fn(*bound.args, **bound.kwargs)
        finally:
            _current_job.reset(token)

    def run_sync(self, job: Job) -> None:
        bound = self.decode(job)
        token = _current_job.set(job)
        try:
            if self.wants_job:
                self.fn(job, *bound.args, **bound.kwargs)
            else:
                self.fn(*bound.args, **bound.kwargs)
        finally:
            _current_job.reset(token)


def _is_job(annotation: object) -> bool:
    if annotation is Job:
        return True
    return isinstance(annotation, str) and annotation in ("Job", "queue_core.Job")


# -- the registry -----------------------------------------------------------------------


class _TaskDecorator:
    """What ``tasks.task(...)`` returns: applied to a function, declares it."""

    def __init__(self, declare: Callable[[Callable[..., Any]], Task[Any]]) -> None:
        self._declare = declare

    @overload
    def __call__(self, fn: Callable[Concatenate[Job, P], object], /) -> Task[P]: ...

    @overload
    def __call__(self, fn: Callable[P, object], /) -> Task[P]: ...

    def __call__(self, fn: Callable[..., object], /) -> Task[Any]:
        return self._declare(fn)


_Hook = Callable[[], Awaitable[None] | None]
H = TypeVar("H", bound=_Hook)


class Tasks:
    """A registry of tasks: the application declares them, producers
    enqueue them, and ``qtk worker module:tasks`` runs them::

        tasks = Tasks()

        @tasks.task(topic="emails", max_attempts=10)
        async def send_email(to: str, subject: str = "Welcome") -> None:
            ...

        tasks.bind(service)                       # a QueueService or SyncQueueService
        await send_email.enqueue(to="ada@example.com")

    A handler may be ``async def`` or a plain function (run in the worker's
    thread pool); it raises :class:`Retry`, :class:`DeadLetter` or
    :class:`JobCancelled` as any handler does, and gets the :class:`Job`
    by declaring a first parameter annotated ``Job`` (or calling
    :func:`current_job`). A payload that cannot be decoded, or whose
    arguments do not fit the function, goes to the dead-letter topic.

    ``codec``: how arguments become payloads (default :class:`JsonCodec`).
    """

    def __init__(self, *, codec: Codec | None = None) -> None:
        if codec is not None and not isinstance(codec, Codec):
            raise InvalidArgument("codec must have encode() and decode() (see queue_core.Codec)")
        self._codec: Codec = codec or JsonCodec()
        self._tasks: dict[str, _TaskMeta] = {}
        self._public: dict[str, Task[Any]] = {}
        self._bound: _Binding | None = None
        self._lock = threading.Lock()
        self._startup: list[_Hook] = []
        self._shutdown: list[_Hook] = []
        self._schedules: dict[str, Schedule] = {}

    @property
    def codec(self) -> Codec:
        return self._codec

    # -- declaring ------------------------------------------------------------------

    @overload
    def task(self, fn: Callable[Concatenate[Job, P], object], /) -> Task[P]: ...

    @overload
    def task(self, fn: Callable[P, object], /) -> Task[P]: ...

    @overload
    def task(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        topic: str | None = None,
        priority: int = 0,
        max_attempts: int | None = None,
        subscribe: SubscribeOptions | None = None,
        schedule: Trigger | None = None,
    ) -> _TaskDecorator: ...

    def task(
        self,
        fn: Callable[..., object] | None = None,
        /,
        *,
        name: str | None = None,
        topic: str | None = None,
        priority: int = 0,
        max_attempts: int | None = None,
        subscribe: SubscribeOptions | None = None,
        schedule: Trigger | None = None,
    ) -> Task[Any] | _TaskDecorator:
        """Declare a task (as ``@tasks.task`` or ``@tasks.task(...)``).

        * ``name``: unique in the registry (default: the function's name).
        * ``topic``: where its jobs go (default: the name). Several tasks
          may share a topic if they are all async or all sync.
        * ``priority``, ``max_attempts``: defaults for its jobs.
        * ``subscribe``: how a worker runs the topic (concurrency, lease,
          time limit...); tasks sharing a topic must agree.
        * ``schedule``: run it on a schedule, without arguments:
          ``schedule=every(600)`` or ``schedule=cron("0 3 * * *")`` (from
          :mod:`queue_core.schedules`); the schedule is named after the
          task. For arguments, or several schedules, use :meth:`schedule`.
        """

        def declare(function: Callable[..., Any]) -> Task[Any]:
            return self._declare(
                function,
                name=name,
                topic=topic,
                priority=priority,
                max_attempts=max_attempts,
                subscribe=subscribe,
                schedule=schedule,
            )

        if fn is not None:
            return declare(fn)
        return _TaskDecorator(declare)

    def _declare(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None,
        topic: str | None,
        priority: int,
        max_attempts: int | None,
        subscribe: SubscribeOptions | None,
        schedule: Trigger | None = None,
    ) -> Task[Any]:
        if not callable(fn):
            raise InvalidArgument(f"a task must be a function, not {type(fn).__name__}")
        if name is None:
            name = getattr(fn, "__name__", None)
            if not isinstance(name, str):
                raise InvalidArgument("this callable has no __name__: give the task a name=")
        if not isinstance(name, str) or not name or len(name) > 200 or not name.isprintable():
            raise InvalidArgument(f"invalid task name {name!r}")
        topic = validate_topic(name if topic is None else topic)
        priority = validate_priority(priority)
        if max_attempts is not None:
            max_attempts = validate_max_attempts(max_attempts)
        if subscribe is not None and not isinstance(subscribe, SubscribeOptions):
            raise InvalidArgument(f"subscribe must be SubscribeOptions, not {type(subscribe)}")
        meta = _TaskMeta(self, fn, name=name, topic=topic, subscribe=subscribe)
        options = EnqueueOptions(priority=priority, max_attempts=max_attempts)
        scheduled = None
        if schedule is not None:
            try:
                arguments = meta.bind((), {})
            except InvalidArgument as exc:
                raise InvalidArgument(
                    f"task {name!r} has schedule= but needs arguments ({exc}): use "
                    f"tasks.schedule(name, trigger, {name}.call(...))"
                ) from None
            headers = {TASK_HEADER: name}
            scheduled = self._make_schedule(name, schedule, meta, arguments, options, headers)
        with self._lock:
            if name in self._tasks:
                raise InvalidArgument(f"a task named {name!r} is already declared")
            if scheduled is not None and scheduled.name in self._schedules:
                raise InvalidArgument(f"a schedule named {name!r} is already declared")
            for other in self._tasks.values():
                if other.topic != topic:
                    continue
                if other.is_async != meta.is_async:
                    kinds = ("async", "sync") if other.is_async else ("sync", "async")
                    raise InvalidArgument(
                        f"topic {topic!r}: task {other.name!r} is {kinds[0]} and {name!r} is "
                        f"{kinds[1]}; give sync and async tasks different topics"
                    )
                if subscribe is not None and other.subscribe not in (None, subscribe):
                    raise InvalidArgument(
                        f"topic {topic!r}: tasks {other.name!r} and {name!r} give different "
                        "subscribe options"
                    )
            self._tasks[name] = meta
            task: Task[Any] = Task(meta, options)
            self._public[name] = task
            if scheduled is not None:
                self._schedules[scheduled.name] = scheduled
        return task

    def schedule(
        self,
        name: str,
        trigger: Trigger,
        target: Task[Any] | TaskCall[Any] | str,
        /,
        *,
        payload: bytes | None = None,
    ) -> Schedule:
        """Declare a schedule: every tick of ``trigger``
        (:func:`~queue_core.schedules.every` or
        :func:`~queue_core.schedules.cron`) enqueues one job, exactly once
        however many schedulers run (``qtk worker`` runs them)::

            tasks.schedule("nightly-report", cron("0 3 * * *", tz="Europe/Paris"),
                           send_report.call(to="ops@example.com"))
            tasks.schedule("cleanup", every(600), cleanup)          # no arguments
            tasks.schedule("ping", every(60), "pings", payload=b"{}")  # a raw topic

        ``target``: a call of a task (:meth:`Task.call`, type-checked; its
        view's ``priority``, ``max_attempts`` and ``headers`` apply; its
        ``delay``, ``run_at``, ``job_id`` and ``idempotency_window`` must
        not be set: the scheduler chooses them), a task taking no
        arguments, or a topic name with ``payload`` (bytes, default empty).
        ``name``: 1-64 characters of ``A-Z a-z 0-9 _ . -``, unique among
        this registry's schedules; it is part of each tick's job id.

        :raises InvalidArgument: a bad name or trigger, a name declared
            already, arguments that do not fit (nothing is declared).
        """
        if isinstance(target, Task):
            task = target
            if task.registry is not self:
                raise InvalidArgument(f"task {task.name!r} belongs to another registry")
            try:
                target = task.call()
            except InvalidArgument as exc:
                raise InvalidArgument(
                    f"schedule {name!r}: task {task.name!r} needs arguments ({exc}): "
                    f"pass {task.name}.call(...)"
                ) from None
        if isinstance(target, TaskCall):
            if payload is not None:
                raise InvalidArgument("payload is for a topic; a task call has its arguments")
            meta = target.task._meta
            if meta.registry is not self:
                raise InvalidArgument(f"task {meta.name!r} belongs to another registry")
            options = target.options
            given = [
                option
                for option, value in (
                    ("delay", options.delay),
                    ("run_at", options.run_at),
                    ("job_id", options.job_id),
                    ("idempotency_window", options.idempotency_window),
                )
                if value
            ]
            if given:
                raise InvalidArgument(
                    f"schedule {name!r}: the scheduler sets each tick's {', '.join(given)}; "
                    "leave them out of with_options()"
                )
            headers = dict(options.headers or {})
            made = self._make_schedule(name, trigger, meta, target.arguments, options, headers)
        elif isinstance(target, str):
            from .schedules._schedule import Schedule

            made = Schedule(
                name=name,
                trigger=trigger,
                topic=validate_topic(target),
                payload=b"" if payload is None else payload,
            )
        else:
            kind = type(target).__name__
            raise InvalidArgument(
                f"schedule {name!r}: schedule a task, a task.call(...) or a topic, not {kind}"
            )
        with self._lock:
            if made.name in self._schedules:
                raise InvalidArgument(f"a schedule named {made.name!r} is already declared")
            self._schedules[made.name] = made
        return made

    def _make_schedule(
        self,
        name: str,
        trigger: Trigger,
        meta: _TaskMeta,
        arguments: Mapping[str, Any],
        options: EnqueueOptions,
        headers: Mapping[str, str],
    ) -> Schedule:
        from .schedules._schedule import Schedule

        return Schedule(
            name=name,
            trigger=trigger,
            topic=meta.topic,
            payload=self._codec.encode(arguments, meta.types),
            priority=options.priority,
            max_attempts=options.max_attempts,
            headers=headers,
            task=meta.name,
        )

    @property
    def schedules(self) -> tuple[Schedule, ...]:
        """The declared schedules, in declaration order (for
        :class:`~queue_core.schedules.Scheduler`)."""
        return tuple(self._schedules.values())

    def on_startup(self, fn: H) -> H:
        """Decorator: ``qtk worker`` calls ``fn()`` (sync or async) after it
        connects and before it takes jobs (open pools, load models); a
        failure stops the worker before any job runs."""
        if not callable(fn):
            raise InvalidArgument("on_startup takes a function")
        self._startup.append(fn)
        return fn

    def on_shutdown(self, fn: H) -> H:
        """Decorator: ``qtk worker`` calls ``fn()`` (sync or async) after its
        consumers have closed."""
        if not callable(fn):
            raise InvalidArgument("on_shutdown takes a function")
        self._shutdown.append(fn)
        return fn

    @property
    def startup_hooks(self) -> Sequence[_Hook]:
        return tuple(self._startup)

    @property
    def shutdown_hooks(self) -> Sequence[_Hook]:
        return tuple(self._shutdown)

    # -- looking up -----------------------------------------------------------------

    def __iter__(self) -> Iterator[Task[Any]]:
        return iter(list(self._public.values()))

    def __len__(self) -> int:
        return len(self._public)

    def __contains__(self, name: object) -> bool:
        return name in self._public

    def __getitem__(self, name: str) -> Task[Any]:
        try:
            return self._public[name]
        except KeyError:
            raise KeyError(f"no task named {name!r}") from None

    def topics(self) -> list[str]:
        """The topics of the declared tasks, sorted."""
        return sorted({meta.topic for meta in self._tasks.values()})

    def subscribe_options(self, topic: str) -> SubscribeOptions | None:
        """The subscribe options declared for ``topic`` (``None``: defaults)."""
        for meta in self._tasks.values():
            if meta.topic == topic and meta.subscribe is not None:
                return meta.subscribe
        return None

    # -- producing --------------------------------------------------------------------

    def bind(self, service: QueueService | SyncQueueService | None) -> None:
        """Send this registry's enqueues to ``service`` (``None`` unbinds).

        A :class:`SyncQueueService` serves both ``await task.enqueue()``
        and ``task.enqueue_sync()``. A :class:`QueueService` bound inside
        its running event loop also serves ``enqueue_sync()`` from other
        threads (sync handlers of a worker); bound outside a loop, only
        ``await task.enqueue()`` on the loop that uses it.
        """
        if service is None:
            binding = None
        elif isinstance(service, SyncQueueService):
            binding = _Binding(None, None, service)
        elif isinstance(service, QueueService):
            binding = _Binding(service, _running_loop(), None)
        else:
            kind = type(service).__name__
            raise InvalidArgument(f"bind takes a QueueService or a SyncQueueService, not {kind}")
        self._bound = binding

    @property
    def bound(self) -> bool:
        return self._bound is not None

    def _binding(self) -> _Binding:
        binding = self._bound
        if binding is None:
            raise InvalidArgument(
                "no queue service bound to these tasks: call tasks.bind(service) first "
                "(qtk worker binds its own)"
            )
        return binding

    # -- consuming --------------------------------------------------------------------

    def handler(self, topic: str) -> Handler:
        """The handler that runs this registry's tasks of ``topic`` (for
        :meth:`QueueService.subscribe` or ``queue_memory.run_until_idle``):
        it picks the task by the job's ``qtk-task`` header (a job without
        one runs the topic's only task), decodes the arguments and calls
        the function.

        :raises InvalidArgument: no task of this registry uses ``topic``.
        """
        metas = {meta.name: meta for meta in self._tasks.values() if meta.topic == topic}
        if not metas:
            raise InvalidArgument(f"no task uses topic {topic!r}; topics: {self.topics()}")
        only = next(iter(metas.values())) if len(metas) == 1 else None

        def pick(job: Job) -> _TaskMeta:
            name = job.headers.get(TASK_HEADER)
            if name is None:
                if only is not None:
                    return only
                raise DeadLetter(
                    f"the job has no {TASK_HEADER} header and topic {topic!r} carries "
                    f"several tasks: {sorted(metas)}"
                )
            meta = metas.get(name)
            if meta is None:
                raise Retry(
                    UNKNOWN_TASK_RETRY,
                    f"no task {name!r} on topic {topic!r} in this worker (an older version?)",
                )
            return meta

        if next(iter(metas.values())).is_async:

            async def run_task(job: Job) -> None:
                await pick(job).run_async(job)

            handler: Handler = run_task
        else:

            def run_task_sync(job: Job) -> None:
                pick(job).run_sync(job)

            handler = run_task_sync
        return handler

    async def subscribe(
        self,
        service: QueueService,
        *,
        topics: Sequence[str] | None = None,
        options: SubscribeOptions | None = None,
    ) -> list[QueueConsumer]:
        """Subscribe ``service`` to ``topics`` (default: all of them), each
        with its declared subscribe options (or ``options``, which wins),
        and bind this registry to ``service``; return the consumers."""
        chosen = self.topics() if topics is None else list(topics)
        for topic in chosen:
            if topic not in self.topics():
                raise InvalidArgument(f"no task uses topic {topic!r}; topics: {self.topics()}")
        self.bind(service)
        consumers = []
        for topic in chosen:
            chosen_options = options or self.subscribe_options(topic)
            consumers.append(await service.subscribe(topic, self.handler(topic), chosen_options))
        return consumers
