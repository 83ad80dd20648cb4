"""Tiny fake drivers for runtime tests; each does one thing.

:class:`ScriptedDriver` serves a scripted list of jobs and records every call;
the subclasses each add one misbehaviour (an ack that fails N times, a claim
that raises or blocks, an extend that finds the lease lost...). Driver
semantics themselves are certified by the conformance kit, not here: these
fakes only let a test see exactly what the runtime asked of its driver.

Tests are plain functions decorated with :func:`async_test`, which runs them
on a fresh event loop (no pytest plugin needed).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from queue_core import (
    BackendUnavailable,
    Capabilities,
    Closed,
    Counts,
    Driver,
    Hooks,
    Job,
    JobState,
    LeaseLost,
    NewJob,
    Outcome,
    Settled,
)

P = ParamSpec("P")
T = TypeVar("T")

T0 = 1_700_000_000.0
_ids = itertools.count(1)


def async_test(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """Run an ``async def`` test on a fresh event loop."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return asyncio.run(fn(*args, **kwargs))

    return run


def make_job(
    job_id: str | None = None,
    *,
    topic: str = "t",
    payload: bytes = b"x",
    attempt: int = 1,
    max_attempts: int = 5,
    priority: int = 0,
    lease: float = 30.0,
) -> Job:
    """A job as a driver's claim returns it (in flight, with a lease token)."""
    job_id = job_id or f"job-{next(_ids)}"
    return Job(
        id=job_id,
        topic=topic,
        payload=payload,
        priority=priority,
        attempt=attempt,
        max_attempts=max_attempts,
        enqueued_at=T0,
        run_at=T0,
        state=JobState.IN_FLIGHT,
        lease_token=f"tok-{job_id}-{attempt}",
        lease_deadline=T0 + lease,
        fencing_token=attempt,
    )


@dataclass(frozen=True, slots=True)
class Call:
    """One recorded driver call: the method name and its arguments."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0  # the event loop's time of the call


class ScriptedDriver(Driver):
    """Serves the jobs it was given (each once, in order) and records calls.

    ``claim`` hands out scripted jobs; every settling call succeeds. Await
    :meth:`called` to wait until the runtime made a call, instead of sleeping.
    """

    def __init__(self, jobs: Sequence[Job] = (), *, max_batch: int = 1000) -> None:
        self._capabilities = Capabilities(max_batch=max_batch, push_wakeup=True)
        self.script: list[Job] = list(jobs)
        self.calls: list[Call] = []
        self._waiters: list[tuple[str, int, asyncio.Future[None]]] = []
        self._more = asyncio.Event()
        self.closed = False

    # -- recording ------------------------------------------------------------

    def record(self, name: str, *args: Any, **kwargs: Any) -> None:
        if self.closed and name != "close":
            raise Closed("fake driver is closed")
        self.calls.append(Call(name, args, kwargs, asyncio.get_running_loop().time()))
        seen = self.count(name)
        for waiter in list(self._waiters):
            wanted, times, future = waiter
            if wanted == name and seen >= times and not future.done():
                future.set_result(None)
                self._waiters.remove(waiter)

    def of(self, name: str) -> list[Call]:
        return [call for call in self.calls if call.name == name]

    def count(self, name: str) -> int:
        return sum(1 for call in self.calls if call.name == name)

    async def called(self, name: str, times: int = 1) -> None:
        """Return once ``name`` was called at least ``times`` times."""
        if self.count(name) >= times:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((name, times, future))
        await future

    def feed(self, *jobs: Job) -> None:
        """Add jobs to the script and wake a waiting consumer."""
        self.script.extend(jobs)
        self._more.set()

    # -- the driver interface -------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        self.record("enqueue", topic, list(jobs))
        return [True] * len(jobs)

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        self.record("claim", topic, max_jobs=max_jobs, lease=lease)
        served, self.script = self.script[:max_jobs], self.script[max_jobs:]
        return served

    async def ack_many(self, topic: str, leases: Sequence[tuple[str, str]]) -> list[Settled]:
        self.record("ack_many", topic, list(leases))
        return [Settled.ACKED] * len(leases)

    async def extend(self, topic: str, job_id: str, token: str, lease: float) -> float:
        self.record("extend", topic, job_id, token, lease=lease)
        return T0 + lease

    async def retry(
        self, topic: str, job_id: str, token: str, *, delay: float, error: str | None
    ) -> None:
        self.record("retry", topic, job_id, token, delay=delay, error=error)

    async def release(self, topic: str, job_id: str, token: str) -> None:
        self.record("release", topic, job_id, token)

    async def dead_letter(self, topic: str, job_id: str, token: str, *, error: str | None) -> None:
        self.record("dead_letter", topic, job_id, token, error=error)

    async def reap(self, topic: str, *, limit: int = 1000) -> int:
        self.record("reap", topic, limit=limit)
        return 0

    async def wait(self, topic: str, timeout: float) -> None:
        if self.script:
            return
        self._more.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._more.wait(), timeout)

    async def counts(self, topic: str) -> Counts:
        self.record("counts", topic)
        return Counts(ready=len(self.script))

    async def get(self, topic: str, job_id: str) -> Job | None:
        self.record("get", topic, job_id)
        return None

    async def list_jobs(
        self, topic: str, state: JobState, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        self.record("list_jobs", topic, state, limit=limit, offset=offset)
        return []

    async def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int:
        self.record("redrive", topic, ids)
        return 0

    async def purge(self, topic: str, ids: Sequence[str] | None = None) -> int:
        self.record("purge", topic, ids)
        return 0

    async def close(self) -> None:
        self.record("close")
        self.closed = True


class FlakyAckDriver(ScriptedDriver):
    """``ack_many`` raises BackendUnavailable ``failures`` times, then works."""

    def __init__(self, jobs: Sequence[Job] = (), *, failures: int) -> None:
        super().__init__(jobs)
        self.failures = failures

    async def ack_many(self, topic: str, leases: Sequence[tuple[str, str]]) -> list[Settled]:
        if self.failures > 0:
            self.failures -= 1
            self.record("ack_many_failed", topic, list(leases))
            raise BackendUnavailable("ack: connection reset (fake)")
        return await super().ack_many(topic, leases)


class FailingClaimDriver(ScriptedDriver):
    """``claim`` raises ``error`` ``failures`` times, then serves the script."""

    def __init__(
        self,
        jobs: Sequence[Job] = (),
        *,
        failures: int,
        error: type[Exception] = BackendUnavailable,
    ) -> None:
        super().__init__(jobs)
        self.failures = failures
        self.error = error
        self.loop_times: list[float] = []

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        self.loop_times.append(asyncio.get_running_loop().time())
        if self.failures > 0:
            self.failures -= 1
            self.record("claim_failed", topic)
            raise self.error("claim: backend down (fake)")
        return await super().claim(topic, max_jobs=max_jobs, lease=lease)


class BlockingClaimDriver(ScriptedDriver):
    """``claim`` blocks until :attr:`unblock` is set, then serves the script."""

    def __init__(self, jobs: Sequence[Job] = ()) -> None:
        super().__init__(jobs)
        self.unblock = asyncio.Event()
        self.cancelled = 0

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        self.record("claim_blocked", topic)
        try:
            await self.unblock.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return await super().claim(topic, max_jobs=max_jobs, lease=lease)


class RenewalRacesAckDriver(ScriptedDriver):
    """``extend`` raises LeaseLost as if the job's ack, sent on another
    connection, had landed first; the ack itself succeeds."""

    async def extend(self, topic: str, job_id: str, token: str, lease: float) -> float:
        self.record("extend", topic, job_id, token, lease=lease)
        raise LeaseLost(topic, job_id, "no such job")


class LostOnSettleDriver(ScriptedDriver):
    """Every settling call finds the lease lost: ``ack_many`` answers
    LEASE_LOST and ``retry``/``dead_letter``/``release`` raise LeaseLost."""

    async def ack_many(self, topic: str, leases: Sequence[tuple[str, str]]) -> list[Settled]:
        self.record("ack_many", topic, list(leases))
        return [Settled.LEASE_LOST] * len(leases)

    async def retry(
        self, topic: str, job_id: str, token: str, *, delay: float, error: str | None
    ) -> None:
        self.record("retry", topic, job_id, token, delay=delay, error=error)
        raise LeaseLost(topic, job_id)

    async def dead_letter(self, topic: str, job_id: str, token: str, *, error: str | None) -> None:
        self.record("dead_letter", topic, job_id, token, error=error)
        raise LeaseLost(topic, job_id)

    async def release(self, topic: str, job_id: str, token: str) -> None:
        self.record("release", topic, job_id, token)
        raise LeaseLost(topic, job_id)


class ExpiredDriver(LostOnSettleDriver):
    """The lease really is gone: renewals and every settle find it lost."""

    async def extend(self, topic: str, job_id: str, token: str, lease: float) -> float:
        self.record("extend", topic, job_id, token, lease=lease)
        raise LeaseLost(topic, job_id)


class CancellingDriver(ScriptedDriver):
    """Declares ``cancellation``; ``cancel_requested`` reports the ids in
    :attr:`requests` (set them to request a cancel)."""

    def __init__(self, jobs: Sequence[Job] = (), **kwargs: Any) -> None:
        super().__init__(jobs, **kwargs)
        self._capabilities = Capabilities(push_wakeup=True, cancellation=True)
        self.requests: set[str] = set()

    async def cancel_requested(self, topic: str, ids: Sequence[str]) -> list[str]:
        self.record("cancel_requested", topic, list(ids))
        return [job_id for job_id in ids if job_id in self.requests]


class SlowAckDriver(ScriptedDriver):
    """``ack_many`` waits until :attr:`proceed` is set."""

    def __init__(self, jobs: Sequence[Job] = (), **kwargs: Any) -> None:
        super().__init__(jobs, **kwargs)
        self.proceed = asyncio.Event()

    async def ack_many(self, topic: str, leases: Sequence[tuple[str, str]]) -> list[Settled]:
        await self.proceed.wait()
        return await super().ack_many(topic, leases)


@dataclass(slots=True)
class Event:
    """One hook call seen by :class:`RecordingHooks`."""

    hook: str
    job_id: str
    outcome: Outcome | None = None
    error: BaseException | None = None
    delay: float | None = None


class RecordingHooks(Hooks):
    """Records every hook call, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._waiters: list[tuple[Callable[[list[Event]], bool], asyncio.Future[None]]] = []

    def _add(self, event: Event) -> None:
        self.events.append(event)
        for waiter in list(self._waiters):
            check, future = waiter
            if check(self.events) and not future.done():
                future.set_result(None)
                self._waiters.remove(waiter)

    async def until(self, check: Callable[[list[Event]], bool]) -> None:
        """Return once ``check(events)`` holds."""
        if check(self.events):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((check, future))
        await future

    async def finished(self, n: int) -> None:
        """Return once ``after_job`` was called ``n`` times."""
        await self.until(lambda events: sum(e.hook == "after_job" for e in events) >= n)

    def of(self, hook: str) -> list[Event]:
        return [event for event in self.events if event.hook == hook]

    def before_job(self, job: Job) -> None:
        self._add(Event("before_job", job.id))

    def after_job(
        self, job: Job, outcome: Outcome, error: BaseException | None, duration: float
    ) -> None:
        self._add(Event("after_job", job.id, outcome=outcome, error=error))

    def on_retry(self, job: Job, delay: float, error: BaseException | None) -> None:
        self._add(Event("on_retry", job.id, error=error, delay=delay))

    def on_dead_letter(self, job: Job, error: BaseException | None) -> None:
        self._add(Event("on_dead_letter", job.id, error=error))

    def on_lease_lost(self, job: Job) -> None:
        self._add(Event("on_lease_lost", job.id))

    def on_settle_unknown(self, job: Job, error: BaseException) -> None:
        self._add(Event("on_settle_unknown", job.id, error=error))


class RaisingHooks(Hooks):
    """Every hook raises; the runtime must log and ignore it."""

    def before_job(self, job: Job) -> None:
        raise RuntimeError("before_job hook broke")

    def after_job(
        self, job: Job, outcome: Outcome, error: BaseException | None, duration: float
    ) -> None:
        raise RuntimeError("after_job hook broke")

    def on_retry(self, job: Job, delay: float, error: BaseException | None) -> None:
        raise RuntimeError("on_retry hook broke")

    def on_dead_letter(self, job: Job, error: BaseException | None) -> None:
        raise RuntimeError("on_dead_letter hook broke")

    def on_lease_lost(self, job: Job) -> None:
        raise RuntimeError("on_lease_lost hook broke")

    def on_settle_unknown(self, job: Job, error: BaseException) -> None:
        raise RuntimeError("on_settle_unknown hook broke")

    def on_claimed(self, topic: str, jobs: Sequence[Job]) -> None:
        raise RuntimeError("on_claimed hook broke")

    def before_enqueue(self, topic: str, job: NewJob) -> NewJob:
        raise RuntimeError("before_enqueue hook broke")

    def after_enqueue(
        self,
        topic: str,
        jobs: Sequence[NewJob],
        created: Sequence[bool] | None,
        error: BaseException | None,
    ) -> None:
        raise RuntimeError("after_enqueue hook broke")


def log_messages(records: Sequence[logging.LogRecord], level: int = logging.WARNING) -> list[str]:
    """The messages of ``queue_core`` log records at ``level`` or above."""
    return [r.getMessage() for r in records if r.name == "queue_core" and r.levelno >= level]
