"""The driver interface: what a backend implements, and nothing more.

Application code uses :class:`~queue_core.QueueService`; this module is for
driver authors. The runtime owns retries, backoff, the worker pool, lease
renewal, dead-letter decisions on handler failure and hooks; a driver only
stores jobs and moves them between states atomically. A driver never retries
a failed backend call and never calls hooks.

The contract, for every method:

* Arguments arrive validated (topic, ids, payload size, priority, durations).
* Time is the driver's own clock (for Redis, the server's), at millisecond
  resolution; with ``capabilities.clock_control`` an injected clock.
* Backend failures raise :class:`~queue_core.BackendUnavailable` (``raise ...
  from exc``); the call may or may not have taken effect, so every method
  must be safe to run twice with the same arguments (the runtime retries).
* Calls may run concurrently from many tasks; each state change is atomic.
* After :meth:`close`, every method raises :class:`~queue_core.Closed`.

Ready jobs are ordered by priority (higher first), then by the time each
became due, then by a per-topic enqueue sequence. The time a job became due
is its enqueue time, its ``run_at`` for a delayed or retried job, its lease
deadline after the lease expired, the release time after a release. A job is
never claimable before it is due. The dead letters of topic ``t`` are jobs of
the topic ``t:dead`` (see :func:`~queue_core.dead_letter_topic`); ``t``,
``t:dead``, ``t:dead:dead``... form the topic's *family*.

Fencing tokens come from one counter per family that only goes up: every
claim of a job gives it the next value(s), so a token is larger than every
token issued before in the family (whatever happened to the id meanwhile).
Other moves keep a job's fencing token.

A job *ends* when it is acked, purged, cancelled, or dead-lettered out of its
topic. With ``capabilities.idempotency_records``, its id is then remembered in
that topic for the job's ``idempotency_window`` (seconds), and an enqueue of
the same id there creates nothing until the window has passed. Headers and
payload travel with the job through every move, unchanged.

Optional capabilities (see :class:`~queue_core.Capabilities`): a method whose
capability is false raises :class:`~queue_core.Unsupported`.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence

from ._capabilities import Capabilities
from ._errors import LeaseLost, Unsupported
from ._job import CancelOutcome, Counts, Job, JobState, NewJob, Settled
from ._limits import TopicLimits

__all__ = ["Driver"]


class Driver(ABC):
    """Storage for jobs, per topic. See the module docstring for the rules
    every method keeps."""

    @property
    @abstractmethod
    def capabilities(self) -> Capabilities:
        """What this driver supports. Constant for the driver's lifetime."""

    @abstractmethod
    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        """Add jobs; return, per job, whether it was created.

        A job whose id already exists in ``topic`` (scheduled, ready or in
        flight), or is remembered there (an idempotency record: a job of
        that id ended less than its window ago), is not created (``False``),
        nor is a second job with the same id within one call. A job is ready
        at once unless ``delay``/``run_at`` puts its due time in the future,
        then it is scheduled. Each job gets the next value of the topic's
        enqueue sequence and fencing token 0. At most
        ``capabilities.max_batch`` jobs per call. Idempotent by job id.
        Blocks for one backend round trip at most.
        """

    @abstractmethod
    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        """Lease up to ``max_jobs`` due jobs, best first; never blocks waiting
        for work (return ``[]`` when none is due).

        First does what :meth:`reap` does, then makes due scheduled jobs
        ready, then claims. Each claimed job: ``attempt`` + 1, the family's
        next fencing token (in claim order), a new unique ``lease_token``,
        ``lease_deadline = now + lease``, state in flight. With limits set
        (:meth:`set_limits`), claims fewer so that the topic never holds
        more than ``max_in_flight`` jobs in flight and never makes more than
        ``rate`` claims within ``per`` seconds. A re-run of the call after an
        unknown outcome may leave the first run's jobs leased to nobody;
        they come back when the lease expires (never to two holders at once).
        """

    @abstractmethod
    async def ack_many(self, topic: str, leases: Sequence[tuple[str, str]]) -> list[Settled]:
        """Settle ``(job_id, lease_token)`` pairs: delete each job whose token
        still holds it (``ACKED``; the job ends); ``GONE`` when no such job
        exists (a repeated ack is a no-op); ``LEASE_LOST`` when the job
        exists but the token does not hold it (nothing changes). A token
        holds its job from the claim until the job is settled, released, or
        reaped after its deadline: an ack after the deadline but before a
        reap succeeds. An ack that frees a slot under ``max_in_flight``
        wakes waiters.
        """

    async def ack(self, topic: str, job_id: str, token: str) -> bool:
        """Ack one job: ``True`` if acked now, ``False`` if it was already gone.

        :raises LeaseLost: the job exists but ``token`` does not hold it.
        """
        (outcome,) = await self.ack_many(topic, [(job_id, token)])
        if outcome is Settled.LEASE_LOST:
            raise LeaseLost(topic, job_id)
        return outcome is Settled.ACKED

    async def ack_and_claim(
        self,
        topic: str,
        leases: Sequence[tuple[str, str]],
        *,
        max_jobs: int,
        lease: float,
    ) -> tuple[list[Settled], list[Job]]:
        """:meth:`ack_many` then :meth:`claim`, in one backend round trip
        where the backend allows it (the runtime settles finished jobs and
        fetches their successors with this call). Same results as the two
        calls in sequence; ``max_jobs`` may be 0 (ack only). If it raises
        :class:`~queue_core.BackendUnavailable`, the acks may or may not have
        applied (re-acking is safe) and any jobs it claimed come back after
        their lease. Override it only to save the round trip.
        """
        outcomes = await self.ack_many(topic, leases)
        jobs = await self.claim(topic, max_jobs=max_jobs, lease=lease) if max_jobs > 0 else []
        return outcomes, jobs

    @abstractmethod
    async def extend(self, topic: str, job_id: str, token: str, lease: float) -> float:
        """Set the lease deadline to ``now + lease`` and return it.

        :raises LeaseLost: ``token`` does not hold the job (or it is gone).
        """

    @abstractmethod
    async def retry(
        self, topic: str, job_id: str, token: str, *, delay: float, error: str | None
    ) -> None:
        """End this attempt and make the job due again at ``now + delay``
        (scheduled if that is in the future), recording ``error`` as
        ``last_error`` (``None`` clears it). The attempt stays counted;
        priority and sequence stay. A job with a pending cancel request is
        deleted instead (it ends, cancelled).

        :raises LeaseLost: ``token`` does not hold the job (nothing changes).
        """

    @abstractmethod
    async def release(self, topic: str, job_id: str, token: str) -> None:
        """Give the job back at once (due now) without using up an attempt:
        ``attempt`` goes back by one; the fencing token does not. A job with
        a pending cancel request is deleted instead (it ends, cancelled).

        :raises LeaseLost: ``token`` does not hold the job (nothing changes).
        """

    @abstractmethod
    async def dead_letter(self, topic: str, job_id: str, token: str, *, error: str | None) -> None:
        """Move the job to ``<topic>:dead`` as a ready job (due now, a new
        sequence there), keeping id, payload, priority, attempt, max attempts,
        enqueue time, fencing token, headers and idempotency window, with
        ``error`` as ``last_error``. If the dead-letter topic already holds
        that id, the job is only removed from ``topic`` (a dead letter is
        never duplicated). Either way the job ends in ``topic``. A job with a
        pending cancel request is deleted instead (it ends, cancelled).

        :raises LeaseLost: ``token`` does not hold the job (nothing changes).
        """

    @abstractmethod
    async def reap(self, topic: str, *, limit: int = 1000) -> int:
        """Return up to ``limit`` expired leases (deadline <= now) to ready,
        due at their deadline, tokens voided, ``last_error`` ``"lease
        expired"``; a job whose ``attempt`` has reached ``max_attempts`` goes
        to the dead-letter topic instead (as :meth:`dead_letter` with error
        ``"lease expired"``), and a job with a pending cancel request is
        deleted (cancelled). Returns how many jobs moved. Expired leases are
        taken in deadline order (then sequence).
        """

    @abstractmethod
    async def wait(self, topic: str, timeout: float) -> None:
        """Block until work may be claimable in ``topic`` (an enqueue, a
        retry or release, a redrive, a scheduled job coming due, a lease
        expiring, a slot opening under the topic's limits, the clock moving,
        :meth:`close`) or ``timeout`` seconds pass. Returns at once when a
        job is claimable now. A hint only: returning early now and then is
        allowed (the caller claims afterwards), but an idle topic must not
        make it return at once again and again (no busy polling), and a
        claimable job must not leave it blocked. Must return within
        ``timeout`` plus about a second even if the backend hangs, and must
        be cancellable.
        """

    async def wait_and_claim(
        self,
        topic: str,
        timeout: float,
        *,
        max_jobs: int,
        lease: float,
        interrupt: asyncio.Future[None] | None = None,
    ) -> list[Job]:
        """:meth:`wait`, then :meth:`claim`: what an idle consumer does, in
        one backend round trip where the backend allows it (the claim
        travels with the blocking wait and runs as soon as the wait ends,
        so a wake-up carries its work). Same results as the two calls in
        sequence. ``interrupt``, once done, ends the wait at once (the claim
        still runs): the runtime uses it instead of cancelling, so that no
        job is ever leased to nobody. Override it only to save the round
        trip.
        """
        if interrupt is None:
            await self.wait(topic, timeout)
        elif not interrupt.done():
            waiting = asyncio.ensure_future(self.wait(topic, timeout))
            try:
                await asyncio.wait({waiting, interrupt}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
                await asyncio.wait({waiting})
            if not waiting.cancelled() and waiting.exception() is not None:
                raise waiting.exception()  # type: ignore[misc]
        return await self.claim(topic, max_jobs=max_jobs, lease=lease)

    @abstractmethod
    async def counts(self, topic: str) -> Counts:
        """Jobs of ``topic`` per state; ``dead`` is every job of
        ``<topic>:dead``; ``oldest_due_at`` the earliest due time among jobs
        that are due now (ready, or scheduled and past their due time), from
        the backend's indexes (never a scan of job data). Changes nothing."""

    @abstractmethod
    async def get(self, topic: str, job_id: str) -> Job | None:
        """The job as it is now, or ``None``. Changes nothing."""

    @abstractmethod
    async def list_jobs(
        self, topic: str, state: JobState, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        """Up to ``limit`` jobs in ``state``, skipping the first ``offset``:
        ready ones in claim order, scheduled ones by due time then sequence,
        in-flight ones by deadline then sequence. Changes nothing."""

    @abstractmethod
    async def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int:
        """Move dead letters that are not in flight from ``<topic>:dead``
        back to ``topic`` (all of them, or those among ``ids``): ready now,
        ``attempt`` 0, a new enqueue time and sequence; id, payload,
        headers, priority, max attempts, idempotency window, last error and
        fencing token kept. Moved in the dead-letter topic's order: ready
        ones in claim order, then scheduled ones by due time then sequence.
        A dead letter whose id exists in ``topic`` stays where it is. Returns
        how many moved; repeating is a no-op.
        """

    @abstractmethod
    async def purge(self, topic: str, ids: Sequence[str] | None = None) -> int:
        """Delete waiting (scheduled or ready) jobs of ``topic``: all, or
        those among ``ids`` (they end). In-flight jobs are untouched. Returns
        how many."""

    @abstractmethod
    async def close(self) -> None:
        """Release the driver's own resources (not a client the caller owns).
        Wakes every :meth:`wait`. Idempotent."""

    # -- optional capabilities ----------------------------------------------

    def enqueue_blocking(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        """(``capabilities.blocking_enqueue``) :meth:`enqueue`, called from a
        thread that runs no event loop and blocked for one backend round
        trip; safe to call from many threads at once, and concurrently with
        the driver's async calls. Same semantics and results as
        :meth:`enqueue`. Used by :class:`~queue_core.SyncQueueService` to
        enqueue without a hop to its event loop thread.
        """
        raise Unsupported(f"{type(self).__name__} cannot enqueue from a thread")

    async def topics(self) -> list[str]:
        """(``capabilities.list_topics``) Every topic that has ever had a job,
        without ``:dead`` suffixes (a topic's dead letters are in its
        :meth:`counts`), sorted. Changes nothing; bounded work per backend
        call (never a blocking scan of the whole keyspace).
        """
        raise Unsupported(f"{type(self).__name__} cannot list topics")

    async def cancel(self, topic: str, ids: Sequence[str]) -> list[CancelOutcome]:
        """(``capabilities.cancellation``) Cancel jobs by id, one outcome per
        id: a waiting (scheduled or ready) job is deleted (``CANCELLED``; it
        ends); an in-flight job gets a cancel request (``REQUESTED``): it
        stays in flight under its lease (extend still works),
        :meth:`cancel_requested` reports it, and whatever settles it next
        deletes it (ack, retry, release, dead_letter, or the reaper after its
        lease expires): it is never retried, released or dead-lettered; an
        unknown id is ``NOT_FOUND``. Repeating is harmless.
        """
        raise Unsupported(f"{type(self).__name__} cannot cancel jobs")

    async def cancel_requested(self, topic: str, ids: Sequence[str]) -> list[str]:
        """(``capabilities.cancellation``) The ids among ``ids`` of in-flight
        jobs with a pending cancel request. Changes nothing; one round trip."""
        raise Unsupported(f"{type(self).__name__} cannot cancel jobs")

    async def set_limits(self, topic: str, limits: TopicLimits) -> None:
        """(``capabilities.limits``) Store ``topic``'s limits in the backend
        (``TopicLimits()`` removes them); every claim from then on honours
        them. A slot that opens wakes waiters."""
        raise Unsupported(f"{type(self).__name__} cannot enforce limits")

    async def get_limits(self, topic: str) -> TopicLimits:
        """The limits stored for ``topic`` (``TopicLimits()`` when none)."""
        return TopicLimits()
