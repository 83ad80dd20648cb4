"""``qtk worker``: run the handlers of a registry (or one handler) until a
signal, or until what is due is done (``--burst``).

The command builds a :class:`WorkerPlan` (what runs: the subscriptions,
the registry's startup and shutdown hooks, and *companions*: async context
managers that run beside the consumers, the place for a scheduler) and
runs it with :func:`run_worker`, or supervises ``--processes N`` copies of
itself (see ``_supervisor.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

import click

from .._consumer import QueueConsumer
from .._errors import InvalidArgument
from .._handler import Handler
from .._options import SubscribeOptions
from .._service import QueueService
from .._tasks import Task, Tasks
from .._url import URL_ENV, redact_url
from .._validate import validate_topic
from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    HEARTBEAT_INTERVAL,
    StartupError,
    app_dir_option,
    health_file_option,
    log_options,
    one_line,
    open_checked,
    probe,
    url_option,
)
from ._load import load_target

if TYPE_CHECKING:
    from ..schedules import Schedule

__all__ = [
    "Companion",
    "Subscription",
    "WorkerPlan",
    "WorkerSettings",
    "build_plan",
    "run_worker",
    "scheduler_companion",
    "worker",
]

logger = logging.getLogger("queue_core.cli")

SECOND_SIGNAL_WAIT: Final = 1.0  # most seconds a second signal waits for releases
PARENT_CHECK_INTERVAL: Final = 1.0
SUPERVISOR_ENV: Final = "QTK_SUPERVISOR_PID"
EXIT_NOW_SIGNAL: Final = signal.SIGUSR1  # supervisor -> worker: the second signal

Companion = Callable[[QueueService], AbstractAsyncContextManager[object]]
"""Something that runs beside the consumers for the worker's lifetime: entered
once they run, exited (in reverse order) before they close."""


@dataclass(kw_only=True, slots=True)
class Subscription:
    topic: str
    handler: Handler
    options: SubscribeOptions


@dataclass(kw_only=True, slots=True)
class WorkerPlan:
    """What one worker process runs: the subscriptions, the registry (its
    startup and shutdown hooks run around them), companions (the
    scheduler of ``schedules``, when there are any)."""

    target: str
    subscriptions: list[Subscription]
    tasks: Tasks | None = None
    companions: list[Companion] = field(default_factory=list)
    schedules: tuple[Schedule, ...] = ()

    @property
    def topics(self) -> list[str]:
        return [s.topic for s in self.subscriptions]


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkerSettings:
    """How it runs (the command-line options of one worker process)."""

    url: str | None
    burst: bool = False
    grace: float | None = None
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    health_file: Path | None = None


def _subscribe_options(base: SubscribeOptions | None, concurrency: int | None) -> SubscribeOptions:
    options = base or SubscribeOptions()
    if concurrency is None:
        return options
    try:
        return dataclasses.replace(options, concurrency=concurrency)
    except InvalidArgument as exc:
        raise StartupError(f"--concurrency: {exc}") from None


def scheduler_companion(schedules: Sequence[Schedule]) -> Companion:
    """A companion that runs a :class:`~queue_core.schedules.Scheduler` of
    ``schedules`` on the worker's service."""
    chosen = tuple(schedules)

    def make(service: QueueService) -> AbstractAsyncContextManager[object]:
        from ..schedules import Scheduler

        return Scheduler(service, chosen)

    return make


def build_plan(
    target: str,
    value: object,
    *,
    topics: Sequence[str] = (),
    concurrency: int | None = None,
    scheduler: bool = True,
) -> WorkerPlan:
    """The plan for ``value``, the object ``target`` names: a
    :class:`~queue_core.Tasks` registry (its topics, or those of
    ``topics``), a :class:`~queue_core.Task` (its topic), or a handler
    (for each of ``topics``, at least one). With ``scheduler``, a registry's
    schedules (all of them, whatever ``topics``) run beside the consumers.

    :raises StartupError: anything else, or topics that do not fit.
    """
    try:
        chosen = [validate_topic(topic) for topic in topics]
    except InvalidArgument as exc:
        raise StartupError(f"--topic: {exc}") from None
    if len(set(chosen)) != len(chosen):
        raise StartupError("--topic: a topic is given twice")
    if isinstance(value, Task):
        if chosen and chosen != [value.topic]:
            raise StartupError(f"task {value.name!r} runs on topic {value.topic!r} only")
        chosen = [value.topic]
        value = value.registry
    if isinstance(value, Tasks):
        known = value.topics()
        if not known:
            raise StartupError(f"{target}: the registry declares no task")
        unknown = [topic for topic in chosen if topic not in known]
        if unknown:
            raise StartupError(f"{target} has no task on topic(s) {unknown}; its topics: {known}")
        subscriptions = [
            Subscription(
                topic=topic,
                handler=value.handler(topic),
                options=_subscribe_options(value.subscribe_options(topic), concurrency),
            )
            for topic in (chosen or known)
        ]
        plan = WorkerPlan(target=target, subscriptions=subscriptions, tasks=value)
        if scheduler and value.schedules:
            plan.schedules = value.schedules
            plan.companions.append(scheduler_companion(value.schedules))
        return plan
    if inspect.isclass(value) or inspect.ismodule(value) or not callable(value):
        raise StartupError(
            f"{target} is a {type(value).__name__}: give a Tasks registry, a task, or a "
            "handler function (with --topic)"
        )
    if not chosen:
        raise StartupError(f"{target} is a handler: name its topic with --topic")
    handler: Handler = value
    options = _subscribe_options(None, concurrency)
    subscriptions = [Subscription(topic=t, handler=handler, options=options) for t in chosen]
    return WorkerPlan(target=target, subscriptions=subscriptions)


# -- running one worker process ----------------------------------------------------------


def _exit_now(code: int) -> NoReturn:
    """Leave the process at once (a second signal): flush the logs first."""
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


class _Signals:
    """SIGTERM and SIGINT: the first asks for a graceful stop, the second
    calls ``on_second``.

    A worker under a supervisor (``supervised``) counts none but the first:
    the supervisor forwards the signals it gets, and a service manager may
    signal every process of the group too (systemd does), so two SIGTERMs
    may mean one stop; there, :data:`EXIT_NOW_SIGNAL` (which only the
    supervisor sends, on its own second signal) calls ``on_second``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, supervised: bool = False) -> None:
        self.loop = loop
        self.supervised = supervised
        self.stop = asyncio.Event()
        self.received = 0
        self.last = 0
        self.reason = ""
        self.on_second: Callable[[int], None] = lambda signum: None
        self.installed: list[signal.Signals] = []

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self._received, sig)
            self.installed.append(sig)
        if self.supervised:
            self.loop.add_signal_handler(EXIT_NOW_SIGNAL, self.on_second, EXIT_NOW_SIGNAL.value)
            self.installed.append(EXIT_NOW_SIGNAL)

    def uninstall(self) -> None:
        for sig in self.installed:
            self.loop.remove_signal_handler(sig)
            if self.supervised and sig != EXIT_NOW_SIGNAL:
                # the stop is done: a copy of the signal that arrives late (sent
                # both by a service manager and by the supervisor) must not
                # turn a clean exit into death by signal
                signal.signal(sig, signal.SIG_IGN)
        self.installed.clear()

    def _received(self, sig: signal.Signals) -> None:
        self.received += 1
        self.last = sig.value
        if self.received == 1:
            self.request_stop(f"{sig.name} received")
        elif not self.supervised:
            self.on_second(sig.value)

    def request_stop(self, reason: str) -> None:
        if not self.stop.is_set():
            self.reason = reason
            self.stop.set()


async def _call_hooks(hooks: Sequence[Callable[[], Awaitable[None] | None]], when: str) -> None:
    for hook in hooks:
        name = getattr(hook, "__qualname__", repr(hook))
        try:
            result = hook()
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            logger.debug("%s hook %s failed", when, name, exc_info=True)
            raise StartupError(
                f"{when} hook {name} failed: {one_line(exc)} (--log-level debug shows the "
                "traceback)"
            ) from None


async def _drained(consumers: Sequence[QueueConsumer]) -> None:
    """Return once every consumer is idle at the same time: a round in
    which each found nothing due and no counter of any of them moved (so
    no handler ran that could have enqueued more work)."""

    def snapshot() -> tuple[tuple[int, ...], ...]:
        return tuple(dataclasses.astuple(c.statistics()) for c in consumers)

    while True:
        before = snapshot()
        await asyncio.gather(*(c.wait_idle() for c in consumers))
        if snapshot() == before:
            return


async def _heartbeat(path: Path) -> None:
    while True:
        try:
            os.utime(path)
        except FileNotFoundError:
            await asyncio.to_thread(path.touch)
        except OSError as exc:
            logger.warning("cannot touch the health file %s (%s)", path, exc)
        await asyncio.sleep(HEARTBEAT_INTERVAL)


async def _watch_parent(parent: int, signals: _Signals) -> None:
    while os.getppid() == parent:  # noqa: ASYNC110 - nothing to await: polling the parent
        await asyncio.sleep(PARENT_CHECK_INTERVAL)
    logger.warning("the supervisor (pid %d) is gone; stopping", parent)
    signals.request_stop("the supervisor is gone")


def _summary(consumers: Sequence[QueueConsumer]) -> str:
    totals: dict[str, int] = {}
    for consumer in consumers:
        for name, value in dataclasses.asdict(consumer.statistics()).items():
            totals[name] = totals.get(name, 0) + value
    shown = [
        f"{totals.get(name, 0)} {label}"
        for name, label in (
            ("acked", "acked"),
            ("retried", "retried"),
            ("dead_lettered", "dead-lettered"),
            ("dropped", "dropped"),
            ("cancelled", "cancelled"),
            ("released", "released"),
            ("lease_lost", "leases lost"),
            ("unknown", "unknown"),
        )
        if totals.get(name) or name in ("acked", "retried", "dead_lettered")
    ]
    return ", ".join(shown)


def metrics_starter() -> Callable[..., Any]:
    """``queue_core.metrics.start_metrics_server``, or a startup error that
    names the extra to install."""
    try:
        from queue_core.metrics import start_metrics_server
    except ImportError as exc:
        raise StartupError(
            f"--metrics-port needs the metrics extra: pip install 'queue-toolkit[metrics]' ({exc})"
        ) from None
    return start_metrics_server


async def run_worker(
    plan: WorkerPlan,
    settings: WorkerSettings,
    *,
    exit_now: Callable[[int], None] = _exit_now,
) -> int:
    """Run ``plan`` until a signal (or, with ``settings.burst``, until what
    is due is done); return the exit code. A first SIGTERM or SIGINT closes
    gracefully (running handlers get the grace, then their jobs are
    released without using up an attempt); a second one releases what can
    be released at once and calls ``exit_now(128 + signal)``.

    :raises StartupError: the URL, the backend, the metrics port, the
        health file or a startup hook failed (nothing ran).
    """
    loop = asyncio.get_running_loop()
    start_metrics = metrics_starter() if settings.metrics_port is not None else None
    service = open_checked(settings.url)
    parent = os.environ.get(SUPERVISOR_ENV, "")
    supervised = parent.isdigit() and int(parent) == os.getppid()
    signals = _Signals(loop, supervised=supervised)

    def second_signal(signum: int) -> None:
        if signum == EXIT_NOW_SIGNAL:  # from the supervisor, on its second signal
            signum = signals.last or signal.SIGTERM
        code = 128 + signum
        logger.warning(
            "second signal (%s): releasing what can be released and exiting now",
            signal.Signals(signum).name,
        )
        closing = loop.create_task(service.close(0.0, abandon=True))
        closing.add_done_callback(lambda _: exit_now(code))
        loop.call_later(SECOND_SIGNAL_WAIT, exit_now, code)

    signals.on_second = second_signal
    signals.install()
    metrics: Any = None
    helpers: list[asyncio.Task[None]] = []
    consumers: list[QueueConsumer] = []
    companions = AsyncExitStack()
    try:
        await probe(service, settings.url, plan.topics[0] if plan.topics else None)
        if settings.health_file is not None:
            try:
                settings.health_file.touch()
            except OSError as exc:
                message = f"--health-file: cannot write {settings.health_file}: {exc}"
                raise StartupError(message) from None
        if start_metrics is not None:
            try:
                metrics = start_metrics(
                    settings.metrics_port, service, plan.topics, host=settings.metrics_host
                )
            except (OSError, InvalidArgument) as exc:
                where = f"{settings.metrics_host}:{settings.metrics_port}"
                raise StartupError(f"cannot serve metrics on {where}: {exc}") from None
        if plan.tasks is not None:
            plan.tasks.bind(service)
            await _call_hooks(plan.tasks.startup_hooks, "startup")
        if not signals.stop.is_set():
            for sub in plan.subscriptions:
                consumers.append(await service.subscribe(sub.topic, sub.handler, sub.options))
            for companion in plan.companions:
                await companions.enter_async_context(companion(service))
            if settings.health_file is not None:
                helpers.append(asyncio.create_task(_heartbeat(settings.health_file)))
            if supervised:
                helpers.append(asyncio.create_task(_watch_parent(int(parent), signals)))
            where = redact_url(settings.url) if settings.url else f"${URL_ENV}"
            scheduling = ", ".join(s.name for s in plan.schedules)
            if plan.subscriptions:
                logger.info(
                    "worker %s on %s: topics %s, concurrency %s%s%s (pid %d)",
                    plan.target,
                    where,
                    ", ".join(plan.topics),
                    "/".join(str(s.options.concurrency) for s in plan.subscriptions),
                    f", schedules {scheduling}" if scheduling else "",
                    ", burst" if settings.burst else "",
                    os.getpid(),
                )
            else:
                logger.info(
                    "scheduler %s on %s: schedules %s (pid %d)",
                    plan.target,
                    where,
                    scheduling or "-",
                    os.getpid(),
                )
            if settings.burst:
                drained = asyncio.ensure_future(_drained(consumers))
                stopped = asyncio.ensure_future(signals.stop.wait())
                await asyncio.wait([drained, stopped], return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                if drained.done():
                    drained.result()
                    signals.request_stop("burst: nothing left that is due")
                else:
                    drained.cancel()
            else:
                await signals.stop.wait()
        logger.info(
            "stopping (%s): running jobs get %s; a second signal exits at once",
            signals.reason or "startup interrupted",
            "their shutdown_grace" if settings.grace is None else f"{settings.grace:g} s",
        )
        await companions.aclose()
        await service.close(settings.grace)
        code = EXIT_OK
        if plan.tasks is not None:
            try:
                await _call_hooks(plan.tasks.shutdown_hooks, "shutdown")
            except StartupError as exc:
                logger.error("%s", exc.message)
                code = EXIT_FAILURE
        if plan.subscriptions:
            logger.info("stopped: %s", _summary(consumers))
        return code
    finally:
        for helper in helpers:
            helper.cancel()
        if helpers:
            await asyncio.wait(helpers)
        if settings.health_file is not None:
            with contextlib.suppress(OSError):
                settings.health_file.unlink()
        if metrics is not None:
            metrics.close()
        signals.uninstall()
        with contextlib.suppress(Exception):
            await companions.aclose()
            await service.close(0.0)


# -- the command ---------------------------------------------------------------------------


def _child_args(
    *,
    target: str,
    topics: Sequence[str],
    concurrency: int | None,
    burst: bool,
    grace: float | None,
    app_dir: str,
    metrics_host: str,
    log_level: str,
    log_format: str,
    no_scheduler: bool = False,
) -> list[str]:
    """The command line of one supervised worker (``--metrics-port`` is
    added per child; the URL travels in the environment, not in ``ps``)."""
    args = [target, "--processes", "1", "--app-dir", os.path.abspath(app_dir)]
    for topic in topics:
        args += ["--topic", topic]
    if concurrency is not None:
        args += ["--concurrency", str(concurrency)]
    if burst:
        args.append("--burst")
    if no_scheduler:
        args.append("--no-scheduler")
    if grace is not None:
        args += ["--grace", repr(grace)]
    args += ["--metrics-host", metrics_host, "--log-level", log_level, "--log-format", log_format]
    return args


@click.command(short_help="Run the tasks of TARGET until SIGTERM (or --burst).")
@click.argument("target")
@url_option
@click.option(
    "--topic",
    "-t",
    "topics",
    multiple=True,
    metavar="TOPIC",
    help="Run only this topic (repeatable); required for a handler function.",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1, 10_000),
    metavar="N",
    help="Handlers running at once per topic (default: the task's subscribe options, or 10).",
)
@click.option(
    "--processes",
    "-p",
    type=click.IntRange(1, 512),
    metavar="N",
    default=1,
    show_default=True,
    help="Worker processes; more than 1 starts a supervisor that restarts one that dies.",
)
@click.option("--burst", is_flag=True, help="Run what is due now, then exit 0.")
@click.option(
    "--no-scheduler",
    is_flag=True,
    help="Do not run the registry's schedules here (run them with `qtk scheduler`, or in "
    "other workers; any number of schedulers enqueue each tick once).",
)
@click.option(
    "--grace",
    type=click.FloatRange(0.0, 86_400.0),
    metavar="SECONDS",
    help="Seconds running jobs get on SIGTERM before they are released (default: the "
    "subscribe options' shutdown_grace, 10).",
)
@app_dir_option()
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="Serve Prometheus metrics on this port (the metrics extra); with --processes N, "
    "worker i serves PORT+i.",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    metavar="HOST",
    help="The interface the metrics server binds.",
)
@health_file_option("worker")
@log_options("info")
def worker(
    target: str,
    url: str | None,
    topics: tuple[str, ...],
    concurrency: int | None,
    processes: int,
    burst: bool,
    no_scheduler: bool,
    grace: float | None,
    app_dir: str,
    metrics_port: int | None,
    metrics_host: str,
    health_file: Path | None,
    log_level: str,
    log_format: str,
) -> None:
    """Run the tasks of TARGET until SIGTERM or SIGINT.

    TARGET is module:attribute: a Tasks registry (myapp.tasks:tasks), one
    task, or a handler function `def handle(job)` (with --topic). The
    registry's schedules run too (unless --no-scheduler). The first
    signal stops gracefully within the grace; a second one exits at once.
    Exit codes: 0 stopped cleanly, 1 runtime failure, 2 usage or startup
    error, 128+N after a second signal N (130 for SIGINT, 143 for SIGTERM).
    """
    settings = WorkerSettings(
        url=url,
        burst=burst,
        grace=grace,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        health_file=health_file,
    )
    if metrics_port is not None:
        metrics_starter()
    plan = build_plan(
        target,
        load_target(target, app_dir),
        topics=topics,
        concurrency=concurrency,
        scheduler=not no_scheduler,
    )
    if processes > 1:
        from ._supervisor import supervise

        asyncio.run(_check_start(plan, settings))
        args = _child_args(
            target=target,
            topics=topics,
            concurrency=concurrency,
            burst=burst,
            grace=grace,
            app_dir=app_dir,
            metrics_host=metrics_host,
            log_level=log_level,
            log_format=log_format,
            no_scheduler=no_scheduler,
        )
        code = supervise(
            processes,
            args,
            url=url,
            burst=burst,
            metrics_port=metrics_port,
            health_file=health_file,
        )
    else:
        try:
            code = asyncio.run(run_worker(plan, settings))
        except click.ClickException:
            raise
        except Exception:
            logger.exception("the worker failed")
            code = EXIT_FAILURE
    sys.exit(code)


async def _check_start(plan: WorkerPlan, settings: WorkerSettings) -> None:
    """The startup checks of a worker, done once by the supervisor, so that
    a bad URL or a backend that is down fails at once with one line."""
    service = open_checked(settings.url)
    try:
        await probe(service, settings.url, plan.topics[0] if plan.topics else None)
    finally:
        await service.close(0.0)
