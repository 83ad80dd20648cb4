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
the topic ``t:dead`` (see :func:`~queue_core.dead_letter_topic`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from ._capabilities import Capabilities
from ._errors import LeaseLost
from ._job import Counts, Job, JobState, NewJob, Settled

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
        flight) is not created (``False``), nor is a second job with the same
        id within one call. A job is ready at once unless ``delay``/``run_at``
        puts its due time in the future, then it is scheduled. Each job gets
        the next value of the topic's enqueue sequence. At most
        ``capabilities.max_batch`` jobs per call. Idempotent by job id.
        Blocks for one backend round trip at most.
        """

    @abstractmethod
    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        """Lease up to ``max_jobs`` due jobs, best first; never blocks waiting
        for work (return ``[]`` when none is due).

        First does what :meth:`reap` does, then makes due scheduled jobs
        ready, then claims. Each claimed job: ``attempt`` + 1, ``fencing_token``
        + 1, a new unique ``lease_token``, ``lease_deadline = now + lease``,
        state in flight. A re-run of the call after an unknown outcome may
        leave the first run's jobs leased to nobody; they come back when the
        lease expires (never to two holders at once).
        """

    @abstractmethod
    async def ack_many(self, topic: str, leases: Sequence[tuple[str, str]]) -> list[Settled]:
        """Settle ``(job_id, lease_token)`` pairs: delete each job whose token
        still holds it (``ACKED``); ``GONE`` when no such job exists (a
        repeated ack is a no-op); ``LEASE_LOST`` when the job exists but the
        token does not hold it (nothing changes). A token holds its job from
        the claim until the job is settled, released, or reaped after its
        deadline: an ack after the deadline but before a reap succeeds.
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
        ``last_error``. The attempt stays counted; priority and sequence stay.

        :raises LeaseLost: ``token`` does not hold the job (nothing changes).
        """

    @abstractmethod
    async def release(self, topic: str, job_id: str, token: str) -> None:
        """Give the job back at once (due now) without using up an attempt:
        ``attempt`` goes back by one; the fencing token does not.

        :raises LeaseLost: ``token`` does not hold the job (nothing changes).
        """

    @abstractmethod
    async def dead_letter(self, topic: str, job_id: str, token: str, *, error: str | None) -> None:
        """Move the job to ``<topic>:dead`` as a ready job (due now, a new
        sequence there), keeping id, payload, priority, attempt, max attempts,
        enqueue time and fencing token, with ``error`` as ``last_error``.
        If the dead-letter topic already holds that id, the job is only
        removed from ``topic`` (a dead letter is never duplicated).

        :raises LeaseLost: ``token`` does not hold the job (nothing changes).
        """

    @abstractmethod
    async def reap(self, topic: str, *, limit: int = 1000) -> int:
        """Return up to ``limit`` expired leases (deadline <= now) to ready,
        due at their deadline, tokens voided; a job whose ``attempt`` has
        reached ``max_attempts`` goes to the dead-letter topic instead (as
        :meth:`dead_letter` with error ``"lease expired"``). Returns how many
        jobs moved. Expired leases are taken in deadline order.
        """

    @abstractmethod
    async def wait(self, topic: str, timeout: float) -> None:
        """Block until work may be claimable in ``topic`` (an enqueue, a
        retry or release, a scheduled job coming due) or ``timeout`` seconds
        pass. A hint only: returning early or spuriously is allowed, and the
        caller always claims afterwards. Must return within ``timeout`` plus
        about a second even if the backend hangs, and must be cancellable.
        """

    @abstractmethod
    async def counts(self, topic: str) -> Counts:
        """Jobs of ``topic`` per state; ``dead`` is every job of ``<topic>:dead``."""

    @abstractmethod
    async def get(self, topic: str, job_id: str) -> Job | None:
        """The job as it is now, or ``None``. Changes nothing."""

    @abstractmethod
    async def list_jobs(self, topic: str, state: JobState, *, limit: int = 100) -> list[Job]:
        """Up to ``limit`` jobs in ``state``: ready ones in claim order,
        scheduled ones by due time then sequence, in-flight ones by deadline
        then sequence. Changes nothing."""

    @abstractmethod
    async def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int:
        """Move dead letters that are not in flight from ``<topic>:dead``
        back to ``topic`` (all of them, or those among ``ids``): ready now,
        ``attempt`` 0, a new enqueue time and sequence; id, payload,
        priority, max attempts, last error and fencing token kept. A dead
        letter whose id exists in ``topic`` stays where it is. Returns how
        many moved; repeating is a no-op.
        """

    @abstractmethod
    async def purge(self, topic: str, ids: Sequence[str] | None = None) -> int:
        """Delete waiting (scheduled or ready) jobs of ``topic``: all, or
        those among ``ids``. In-flight jobs are untouched. Returns how many."""

    @abstractmethod
    async def close(self) -> None:
        """Release the driver's own resources (not a client the caller owns).
        Idempotent."""
