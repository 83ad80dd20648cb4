"""The :class:`Scheduler`: enqueues each tick of its schedules once.

It keeps no store of its own. Each tick's job has a deterministic id and an
idempotency window (see :meth:`Schedule.windows`), so the backend is the
memory: any number of schedulers may run, and a scheduler that restarts
simply enqueues the ticks its catch-up policy covers again; those already
enqueued create nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self

from .._clock import Clock, SystemClock
from .._errors import Closed, InvalidArgument, QueueError
from .._options import EnqueueOptions
from .._retry import RetryPolicy
from .._service import QueueService
from .._validate import validate_duration
from ._schedule import Schedule
from ._triggers import catch_up_count

__all__ = ["Scheduler", "SchedulerStats", "TickResult"]

logger = logging.getLogger("queue_core.schedules")

MAX_TICKS_PER_PASS: Final = 1000  # per schedule; the rest follows in the next pass
MAX_SKIPPED_COUNTED: Final = 10_000
MAX_SLEEP: Final = 15.0  # real seconds: a wall clock that jumps is noticed this soon
MAX_LOOKAHEAD: Final = 3600.0
DEFAULT_RETRY: Final = RetryPolicy(initial_delay=0.5, max_delay=30.0, jitter=0.2)


@dataclass(frozen=True, kw_only=True, slots=True)
class SchedulerStats:
    """What a scheduler did since it was made.

    * ``enqueued``: ticks whose job this scheduler created.
    * ``duplicates``: ticks whose job existed already (another scheduler
      enqueued it, or this one before a restart): nothing was created.
    * ``skipped``: missed ticks its schedules' ``catch_up`` policy left out
      (counted while it runs; ticks missed before it started are not).
    * ``failures``: enqueue calls that failed (retried with backoff).
    """

    enqueued: int = 0
    duplicates: int = 0
    skipped: int = 0
    failures: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class TickResult:
    """One tick a pass handled: its schedule, instant, job id, and whether
    this call created the job."""

    schedule: str
    tick: float
    job_id: str
    created: bool


class _State:
    """A schedule's progress in this scheduler."""

    __slots__ = ("attempts", "cursor", "retry_at", "schedule")

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.cursor: float | None = None  # every tick at or before it is handled
        self.attempts = 0  # failed enqueues in a row
        self.retry_at = 0.0  # time.monotonic() before which it waits out a failure


def _when(instant: float | None) -> str:
    if instant is None:
        return "never"
    moment = dt.datetime.fromtimestamp(instant, dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


class Scheduler:
    """Enqueues one job per tick of each schedule, on ``service``::

        async with Scheduler(service, tasks.schedules):
            ...  # runs in the background until the block ends

    ``qtk worker`` runs one for its registry's schedules (``qtk scheduler``
    runs one alone). Any number of schedulers may run, in any number of
    processes: each tick is one job, because its id is deterministic
    (``sched:<name>:<tick>``) and the backend remembers it for an
    idempotency window after the job ends (drivers with
    ``capabilities.idempotency_records``; clocks in sync within a minute).

    Ticks are computed on ``clock`` (default: the system clock; a
    :class:`~queue_core.FakeClock` in tests, whose moves wake the
    scheduler). Each job is due at its tick (``run_at``); with
    ``lookahead`` seconds, a tick is enqueued that much before it. A tick
    enqueued more than its trigger's ``grace`` late was *missed*: its
    trigger's ``catch_up`` says which missed ticks still get a job. On
    start, the ticks the policy covers are enqueued again (those done
    before are no-ops), so a restart neither loses nor repeats a tick.

    An enqueue that fails (the backend is down) is retried with ``retry``
    backoff (0.5 s doubling to 30 s) without stopping the scheduler or the
    other schedules; ticks that became missed meanwhile follow the policy.
    """

    def __init__(
        self,
        service: QueueService,
        schedules: Iterable[Schedule] | Schedule,
        *,
        clock: Clock | None = None,
        lookahead: float = 0.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not isinstance(service, QueueService):
            raise InvalidArgument("service must be a queue_core.QueueService")
        if isinstance(schedules, Schedule):
            schedules = [schedules]
        chosen = list(schedules)
        seen: set[str] = set()
        for schedule in chosen:
            if not isinstance(schedule, Schedule):
                kind = type(schedule).__name__
                raise InvalidArgument(f"schedules must be Schedule objects, not {kind}")
            if schedule.name in seen:
                raise InvalidArgument(f"two schedules are named {schedule.name!r}")
            seen.add(schedule.name)
        if clock is not None and not isinstance(clock, Clock):
            raise InvalidArgument("clock must have a now() method (a queue_core.Clock)")
        seconds = validate_duration("lookahead", lookahead)
        if seconds > MAX_LOOKAHEAD:
            raise InvalidArgument(f"lookahead must be at most {MAX_LOOKAHEAD:g} seconds")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidArgument("retry must be a RetryPolicy")
        self._service = service
        self._schedules = tuple(chosen)
        self._states = [_State(schedule) for schedule in chosen]
        self._clock: Clock = clock or SystemClock()
        self._lookahead = seconds
        self._retry = retry or DEFAULT_RETRY
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._changed: asyncio.Condition | None = None
        self._handled_at = float("-inf")  # the clock instant of the last finished pass
        self._listening = False
        self._stopped = False
        self._ended = False
        self._enqueued = 0
        self._duplicates = 0
        self._skipped = 0
        self._failures = 0

    # -- looking ------------------------------------------------------------------------

    @property
    def schedules(self) -> tuple[Schedule, ...]:
        return self._schedules

    @property
    def clock(self) -> Clock:
        return self._clock

    def statistics(self) -> SchedulerStats:
        return SchedulerStats(
            enqueued=self._enqueued,
            duplicates=self._duplicates,
            skipped=self._skipped,
            failures=self._failures,
        )

    def next_runs(self, now: float | None = None) -> list[tuple[Schedule, float | None]]:
        """Each schedule with its next tick after ``now`` (default: the
        clock's time); ``None``: it never fires again."""
        at = self._clock.now() if now is None else now
        return [(s, s.trigger.next_after(at)) for s in self._schedules]

    # -- one pass -------------------------------------------------------------------------

    async def run_due(self) -> list[TickResult]:
        """Enqueue every tick due now (at the clock's time, plus the
        lookahead) that this scheduler has not handled yet, per the
        schedules' catch-up policies; return what each tick did.

        :raises Exception: the first enqueue that failed (the other
            schedules were still handled; the failed one is tried again by
            the next call).
        """
        results: list[TickResult] = []
        errors: list[BaseException] = []
        now = self._clock.now()
        for state in self._states:
            try:
                results.extend(await self._handle(state, now))
            except Closed:
                raise
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
        return results

    def _due(self, state: _State, now: float) -> tuple[list[float], int, float]:
        """The ticks to enqueue now, how many missed ticks the policy skips,
        and the cursor once they are enqueued."""
        trigger = state.schedule.trigger
        cursor = state.cursor
        upto = now + self._lookahead
        late = (
            now - trigger.effective_grace - 0.0005
        )  # missed: more than grace late (ticks are whole ms)
        keep = catch_up_count(trigger.catch_up)
        missed: list[float] = []
        skipped = 0
        if cursor is None or cursor < late:
            for tick in trigger.ticks_back_from(late):
                if cursor is not None and tick <= cursor:
                    break
                if len(missed) < keep:
                    missed.append(tick)
                    continue
                if cursor is None or skipped >= MAX_SKIPPED_COUNTED:
                    break  # before the start nothing is known, so nothing is counted
                skipped += 1
        missed.reverse()
        on_time: list[float] = []
        start = late if cursor is None else max(cursor, late)
        for tick in trigger.ticks_after(start):
            if tick > upto:
                break
            if len(missed) + len(on_time) >= MAX_TICKS_PER_PASS:
                return missed + on_time, skipped, on_time[-1] if on_time else missed[-1]
            on_time.append(tick)
        return missed + on_time, skipped, upto

    async def _handle(self, state: _State, now: float) -> list[TickResult]:
        schedule = state.schedule
        ticks: list[float] = []
        try:
            ticks, skipped, cursor = self._due(state, now)
            if skipped:
                self._skipped += skipped
                more = "+" if skipped >= MAX_SKIPPED_COUNTED else ""
                logger.warning(
                    "schedule %s: %d%s missed tick(s) before %s skipped (catch_up=%r)",
                    schedule.name,
                    skipped,
                    more,
                    _when(ticks[0] if ticks else now - schedule.trigger.effective_grace),
                    schedule.trigger.catch_up,
                )
            if not ticks:
                state.cursor = cursor
                return []
            try:
                windows = schedule.windows(ticks)
                items: list[tuple[bytes, EnqueueOptions]] = [
                    (schedule.payload, schedule.job_options(tick, window))
                    for tick, window in zip(ticks, windows, strict=True)
                ]
                found = await self._service.enqueue_many_results(schedule.topic, items)
            except InvalidArgument as exc:  # retrying cannot help: report and move on
                self._failures += 1
                state.cursor = cursor
                logger.error(
                    "schedule %s: the tick(s) from %s cannot be enqueued and are skipped: %s",
                    schedule.name,
                    _when(ticks[0]),
                    exc,
                )
                return []
        except Closed:
            raise
        except Exception as exc:  # the backend is down (or a bug): retry after a backoff
            self._failures += 1
            state.attempts += 1
            delay = self._retry.delay(state.attempts)
            state.retry_at = time.monotonic() + delay
            log = logger.warning if state.attempts == 1 else logger.debug
            log(
                "schedule %s: enqueueing the tick of %s failed (%s: %s); retrying in %.1f s",
                schedule.name,
                _when(ticks[0] if ticks else now),
                type(exc).__name__,
                exc,
                delay,
                exc_info=not isinstance(exc, QueueError),
            )
            raise
        if state.attempts:
            logger.info(
                "schedule %s: enqueued again after %d failure(s)", schedule.name, state.attempts
            )
        state.attempts = 0
        state.retry_at = 0.0
        state.cursor = cursor
        results = []
        for tick, result in zip(ticks, found, strict=True):
            results.append(
                TickResult(
                    schedule=schedule.name, tick=tick, job_id=result.id, created=result.created
                )
            )
            if result.created:
                self._enqueued += 1
                logger.info(
                    "schedule %s: enqueued %s on %s for %s",
                    schedule.name,
                    result.id,
                    schedule.topic,
                    _when(tick),
                )
            else:
                self._duplicates += 1
                logger.debug("schedule %s: %s was enqueued already", schedule.name, result.id)
        return results

    # -- running in the background ----------------------------------------------------------

    async def start(self) -> None:
        """Enqueue what is due now (failures are logged and retried), then
        keep running in a background task until :meth:`stop`."""
        if self._task is not None and not self._task.done():
            raise InvalidArgument("this scheduler is running already")
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._stopped = False
        self._ended = False
        if not self._listening:
            on_advance = getattr(self._clock, "on_advance", None)
            if callable(on_advance):
                on_advance(self._clock_moved)
                self._listening = True
        if self._schedules and not self._service.driver.capabilities.idempotency_records:
            logger.warning(
                "%s keeps no idempotency records: with several schedulers (or after a "
                "restart) a tick's job may be created twice",
                type(self._service.driver).__name__,
            )
        for schedule, upcoming in self.next_runs():
            logger.info(
                "schedule %s: %s -> %s; next tick %s",
                schedule.name,
                schedule.describe(),
                schedule.topic,
                _when(upcoming),
            )
        stop = await self._pass()
        self._task = asyncio.create_task(self._run(stop), name="qtk-scheduler")

    async def stop(self) -> None:
        """Stop the background task (a tick being enqueued may or may not
        be; its id makes the next try harmless)."""
        self._stopped = True
        if self._listening:
            remove = getattr(self._clock, "remove_listener", None)
            if callable(remove):
                remove(self._clock_moved)
                self._listening = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            stats = self.statistics()
            logger.info(
                "scheduler stopped: %d tick(s) enqueued, %d enqueued already, %d skipped, "
                "%d failed enqueue(s)",
                stats.enqueued,
                stats.duplicates,
                stats.skipped,
                stats.failures,
            )
        await self._notify()

    async def run(self) -> None:
        """:meth:`start`, then run until cancelled."""
        await self.start()
        task = self._task
        try:
            if task is not None:
                await task
        finally:
            await self.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_idle(self) -> None:
        """Return once the background task has handled every tick due at
        the clock's current time (enqueued it, or is waiting out a failure
        to retry it), or has stopped. For tests on a fake clock."""
        target = self._clock.now()
        changed = self._changed
        if changed is None:
            raise InvalidArgument("the scheduler is not started")
        async with changed:
            await changed.wait_for(
                lambda: (
                    self._stopped or self._ended or self._task is None or self._handled_at >= target
                )
            )

    def _clock_moved(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or self._stopped or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(wake.set)

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    async def _pass(self) -> bool:
        """One pass over the schedules; ``True`` if the service is closed."""
        now = self._clock.now()
        if self._wake is not None:
            self._wake.clear()
        closed = False
        for state in self._states:
            if state.retry_at and time.monotonic() < state.retry_at:
                continue
            try:
                await self._handle(state, now)
            except Closed:
                closed = True
                break
            except Exception:  # logged in _handle; retried after the backoff
                continue
        self._handled_at = now
        await self._notify()
        return closed

    def _wake_in(self) -> tuple[float | None, float | None]:
        """When to wake: (an instant on the clock, real seconds from now)."""
        at: float | None = None
        real: float | None = None
        now_real = time.monotonic()
        for state in self._states:
            if state.retry_at:
                wait = max(0.0, state.retry_at - now_real)
                real = wait if real is None else min(real, wait)
                continue
            if state.cursor is None:
                continue
            upcoming = state.schedule.trigger.next_after(state.cursor)
            if upcoming is not None:
                due = upcoming - self._lookahead
                at = due if at is None else min(at, due)
        return at, real

    async def _run(self, closed: bool) -> None:
        try:
            while not closed:
                try:
                    closed = await self._step()
                except Exception:  # a bug: never busy-loop, never die
                    logger.exception("the scheduler failed; trying again in %g s", MAX_SLEEP)
                    await asyncio.sleep(MAX_SLEEP)
            logger.info("the queue service closed: the scheduler stops")
        finally:
            self._ended = True
            await self._notify()

    async def _step(self) -> bool:
        """Enqueue what is due, or sleep until something may be; ``True``
        once the service is closed."""
        wake = self._wake
        assert wake is not None
        at, real = self._wake_in()
        now = self._clock.now()
        if (at is not None and at <= now) or self._retry_due():
            return await self._pass()
        if self._handled_at < now:  # nothing is due: every tick up to now is handled
            self._handled_at = now
            await self._notify()
        timeout = real
        if not self._listening:  # a real clock: sleep until the next tick (a fake one wakes us)
            until = MAX_SLEEP if at is None else min(MAX_SLEEP, at - now)
            timeout = until if timeout is None else min(timeout, until)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await wake.wait()
        wake.clear()
        return False

    def _retry_due(self) -> bool:
        now = time.monotonic()
        return any(state.retry_at and now >= state.retry_at for state in self._states)
