"""The Redis driver: every state change is one Lua script on the topic's
keys (see ``lua/``), time is the server's (``TIME``) unless a clock is
injected."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import time
from collections.abc import Coroutine, Sequence
from typing import Any, Final

from redis.asyncio import Redis, RedisCluster

from queue_core import (
    BackendUnavailable,
    CancelOutcome,
    Capabilities,
    Clock,
    Closed,
    Counts,
    Driver,
    FakeClock,
    InvalidArgument,
    Job,
    JobState,
    LeaseLost,
    NewJob,
    Settled,
    TopicLimits,
    to_ms,
    validate_number,
    validate_payload,
)

from ._blocking import Blocker, Then, ThenFailed
from ._codec import (
    STATE_CODES,
    claim_order,
    clamp_ms,
    encode_error,
    encode_headers,
    jobs_from_reply,
)
from ._diagnostics import Diagnostics, diagnose
from ._errors import translated
from ._keys import TopicKeys, seq_pattern, topic_keys, topic_of_seq_key, validate_prefix
from ._scripts import ScriptRunner
from ._threaded import ThreadedScripts, threaded_pool_options

__all__ = ["RedisDriver"]

REAP_LIMIT: Final = 1000
PROMOTE_LIMIT: Final = 1000  # scheduled jobs made ready per claim, earliest first
PAGE: Final = 1000  # most ids, jobs or scan steps per script call
IDLE_HINT_AGE: Final = 0.05  # seconds a claim's idle hint stands in for a peek
CUT_GRACE: Final = 0.02  # seconds a wait cut short lets its pop finish (see _pop_unless)
_SETTLED: Final = {1: Settled.ACKED, 0: Settled.GONE, -1: Settled.LEASE_LOST}
_CANCELLED: Final = {
    1: CancelOutcome.CANCELLED,
    2: CancelOutcome.REQUESTED,
    0: CancelOutcome.NOT_FOUND,
}


def _request_id() -> str:
    return secrets.token_hex(8)


class RedisDriver(Driver):
    """Jobs in Redis (standalone, Sentinel or Cluster; Valkey too).

    The caller owns ``client`` (a ``redis.asyncio.Redis`` or ``RedisCluster``
    made with ``decode_responses=False``): its address, TLS, ACL user and
    pool are the caller's, and :meth:`close` leaves it open. The driver only
    makes the dedicated connections its blocking :meth:`wait` needs.

    * ``clock``: read time from this clock instead of the server's ``TIME``
      (tests; every script gets the time as an argument).
    * ``prefix``: the first part of every key (see ``_keys.py``).
    * ``block_timeout``: the longest one blocking wait lasts (seconds).
    * ``command_timeout``: the longest one script call may take before it
      fails with :class:`~queue_core.BackendUnavailable` (``None``: the
      client's own timeouts only).
    * ``claim_cache_ttl``: how long a call's answer is kept, so that a
      call re-sent after a lost reply (claim, enqueue, retry, release,
      dead letter) is answered as the first one was.
    * ``owns_client``: :meth:`close` also closes ``client`` (set by
      :func:`~queue_redis.driver_from_url`, which makes the client).
    """

    def __init__(
        self,
        client: Redis | RedisCluster,
        *,
        clock: Clock | None = None,
        prefix: str = "queue",
        max_payload_bytes: int = 1024 * 1024,
        max_batch: int = 1000,
        block_timeout: float = 5.0,
        command_timeout: float | None = 10.0,
        claim_cache_ttl: float = 30.0,
        owns_client: bool = False,
    ) -> None:
        if client.get_connection_kwargs().get("decode_responses"):
            raise InvalidArgument("the Redis client must use decode_responses=False")
        block_timeout = validate_number("block_timeout", block_timeout, minimum=0.001, maximum=60)
        if command_timeout is not None:
            command_timeout = validate_number(
                "command_timeout", command_timeout, minimum=0.001, maximum=3600
            )
        claim_cache_ttl = validate_number(
            "claim_cache_ttl", claim_cache_ttl, minimum=0.001, maximum=86_400
        )
        self._client = client
        self._clock = clock
        self._prefix = validate_prefix(prefix)
        self._capabilities = Capabilities(
            max_payload_bytes=max_payload_bytes,
            max_batch=max_batch,
            clock_control=True,
            persistent=True,
            push_wakeup=True,
            idempotency_records=True,
            list_topics=True,
            cancellation=True,
            limits=True,
        )
        self._owns_client = owns_client
        self._command_timeout = command_timeout
        self._block_timeout = block_timeout
        self._claim_cache_ms = max(1, clamp_ms(claim_cache_ttl))
        self._run = ScriptRunner(client, command_timeout)
        threaded = threaded_pool_options(client, command_timeout)
        self._threaded = (
            None
            if threaded is None
            else ThreadedScripts(self._run.scripts, *threaded, where=self._run.where)
        )
        self._capabilities = dataclasses.replace(
            self._capabilities, blocking_enqueue=self._threaded is not None
        )
        self._blocker = Blocker(client)
        self._keys: dict[str, TopicKeys] = {}
        self._idle: dict[str, tuple[float, int, int, int, int]] = {}  # see _note_idle
        self._closed = False
        self._wake = asyncio.Event()  # set on close and when a FakeClock moves
        self._woken: set[asyncio.Future[None]] = set()  # wait_and_claim's wake-up futures
        self._wait_failures = 0
        if isinstance(clock, FakeClock):
            clock.on_advance(self._wake_waiters)

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def client(self) -> Redis | RedisCluster:
        """The caller's client."""
        return self._client

    async def diagnostics(self) -> Diagnostics:
        """The server's version, eviction policy and persistence settings;
        logs a warning for each risky one (see :class:`Diagnostics`)."""
        self._check_open()
        return await diagnose(self._client, command_timeout=self._command_timeout)

    # -- helpers --------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise Closed("the Redis driver is closed")

    def _topic(self, topic: str) -> TopicKeys:
        self._check_open()
        keys = self._keys.get(topic)
        if keys is None:
            keys = topic_keys(self._prefix, topic)
            if len(self._keys) < 10_000:
                self._keys[topic] = keys
        return keys

    def _now(self) -> str:
        """The time argument of a script: '' means the server's TIME."""
        return "" if self._clock is None else str(to_ms(self._clock.now()))

    def _wake_waiters(self) -> None:
        event, self._wake = self._wake, asyncio.Event()
        event.set()
        for woken in list(self._woken):
            if not woken.done():
                woken.set_result(None)

    def _note_idle(self, topic: str, jobs: list[Job], hint: list[int]) -> None:
        """Keep what a claim that found nothing claimable saw (``hint``:
        server time, earliest due time, earliest deadline, next rate slot),
        so that a :meth:`wait` right after it needs no ``peek`` round trip of
        its own."""
        if not jobs and hint:
            self._idle[topic] = (time.monotonic(), hint[0], hint[1], hint[2], hint[3])
        else:
            self._idle.pop(topic, None)

    def _lease_lost(self, code: int, topic: str, job_id: str) -> None:
        if code == -1:
            raise LeaseLost(topic, job_id, "no such job")
        if code == -2:
            raise LeaseLost(topic, job_id)

    # -- the driver interface -------------------------------------------------

    def _enqueue_calls(
        self, topic: str, jobs: Sequence[NewJob], *, guarded: bool
    ) -> list[tuple[tuple[str, ...], list[Any], bool]]:
        """The keys, arguments and re-send safety of the enqueue script
        calls for ``jobs`` (one call per ``max_batch`` jobs). A call may be
        delivered twice only if every job's id is remembered after it ends
        (an explicit id with an idempotency window): then a second delivery
        creates nothing, even after the job ran. A call that may be
        delivered twice carries a request key, so the second delivery gets
        the first one's answer (which jobs it created); ``guarded``: the
        client re-sends every call by itself, so every call carries one."""
        keys = self._topic(topic)
        limit = self._capabilities.max_payload_bytes
        for job in jobs:
            validate_payload(job.payload, limit)
        calls = []
        batch = self._capabilities.max_batch
        for start in range(0, len(jobs), batch):
            args: list[Any] = [self._now(), self._claim_cache_ms]
            resend = True
            for job in jobs[start : start + batch]:
                resend = resend and job.idempotency_window > 0
                run_at = b"" if job.run_at is None else clamp_ms(job.run_at)
                delay = clamp_ms(job.delay) if job.delay else 0
                window = clamp_ms(job.idempotency_window) if job.idempotency_window else 0
                if job.headers:
                    headers = encode_headers(job.headers)
                    body, hlen = headers + job.payload, len(headers)
                else:
                    body, hlen = job.payload, 0
                args += (job.id, body, hlen, job.priority, job.max_attempts, run_at, delay, window)
            names = (*keys.all, keys.request(_request_id())) if guarded or resend else keys.all
            calls.append((names, args, resend))
        return calls

    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        created: list[bool] = []
        guarded = self._run.resends_on_its_own
        for keys, args, resend in self._enqueue_calls(topic, jobs, guarded=guarded):
            reply = await self._run("enqueue", keys, args, resend=resend)
            created += [flag == 1 for flag in reply]
        return created

    def enqueue_blocking(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        """:meth:`enqueue` from a thread without an event loop, on a blocking
        connection pool of the driver's own to the same server (standalone
        clients; see ``capabilities.blocking_enqueue``)."""
        if self._threaded is None:
            return super().enqueue_blocking(topic, jobs)
        created: list[bool] = []
        for keys, args, resend in self._enqueue_calls(topic, jobs, guarded=False):
            created += [flag == 1 for flag in self._threaded("enqueue", keys, args, resend=resend)]
        return created

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        keys = self._topic(topic)
        claimed: list[Job] = []
        while True:
            want = max(0, min(max_jobs - len(claimed), self._capabilities.max_batch))
            rid = _request_id()
            args = [self._now(), rid, want, clamp_ms(lease), REAP_LIMIT, PROMOTE_LIMIT]
            args.append(self._claim_cache_ms)
            keys_ = (*keys.with_dead, keys.claim_cache(rid))
            reply, hint = await self._run("claim", keys_, args)
            jobs = jobs_from_reply(topic, reply)
            self._note_idle(topic, jobs, hint)
            claimed += jobs
            if len(jobs) < want or len(claimed) >= max_jobs:
                return claimed

    async def ack_and_claim(
        self,
        topic: str,
        leases: Sequence[tuple[str, str]],
        *,
        max_jobs: int,
        lease: float,
    ) -> tuple[list[Settled], list[Job]]:
        """One script (``ack_claim.lua``) when the leases fit one page and
        the jobs one batch; otherwise :meth:`ack_many` then :meth:`claim`."""
        want = min(max_jobs, self._capabilities.max_batch)
        if max_jobs < 1 or len(leases) > PAGE or want < max_jobs:
            return await super().ack_and_claim(topic, leases, max_jobs=max_jobs, lease=lease)
        keys = self._topic(topic)
        rid = _request_id()
        args: list[Any] = [self._now(), rid, want, clamp_ms(lease), REAP_LIMIT, PROMOTE_LIMIT]
        args.append(self._claim_cache_ms)
        for pair in leases:
            args += pair
        keys_ = (*keys.with_dead, keys.claim_cache(rid))
        codes, reply, hint = await self._run("ack_claim", keys_, args)
        jobs = jobs_from_reply(topic, reply)
        self._note_idle(topic, jobs, hint)
        return [_SETTLED[code] for code in codes], jobs

    async def ack_many(self, topic: str, leases: Sequence[tuple[str, str]]) -> list[Settled]:
        keys = self._topic(topic)
        outcomes: list[Settled] = []
        for start in range(0, len(leases), PAGE):
            args = [self._now()]
            args += [part for lease in leases[start : start + PAGE] for part in lease]
            reply = await self._run("ack", keys.all, args)
            outcomes += [_SETTLED[code] for code in reply]
        return outcomes

    async def extend(self, topic: str, job_id: str, token: str, lease: float) -> float:
        keys = self._topic(topic)
        args = [self._now(), job_id, token, clamp_ms(lease)]
        deadline: int = await self._run("extend", keys.all, args)
        self._lease_lost(deadline, topic, job_id)
        return deadline / 1000.0

    async def retry(
        self, topic: str, job_id: str, token: str, *, delay: float, error: str | None
    ) -> None:
        keys = self._topic(topic)
        rid = _request_id()
        args = [self._now(), self._claim_cache_ms, job_id, token, clamp_ms(delay)]
        args += encode_error(error)
        code = await self._run("retry", (*keys.all, keys.request(rid)), args)
        self._lease_lost(code, topic, job_id)

    async def release(self, topic: str, job_id: str, token: str) -> None:
        keys = self._topic(topic)
        rid = _request_id()
        args = [self._now(), self._claim_cache_ms, job_id, token]
        code = await self._run("release", (*keys.all, keys.request(rid)), args)
        self._lease_lost(code, topic, job_id)

    async def dead_letter(self, topic: str, job_id: str, token: str, *, error: str | None) -> None:
        keys = self._topic(topic)
        rid = _request_id()
        args = [self._now(), self._claim_cache_ms, job_id, token, *encode_error(error)]
        code = await self._run("dead_letter", (*keys.with_dead, keys.request(rid)), args)
        self._lease_lost(code, topic, job_id)

    async def reap(self, topic: str, *, limit: int = REAP_LIMIT) -> int:
        keys = self._topic(topic)
        moved = 0
        while moved < limit:
            step = min(limit - moved, PAGE)
            args = [self._now(), step]
            done: int = await self._run("reap", keys.with_dead, args)
            moved += done
            if done < step:
                break
        return moved

    async def _block_for(self, topic: str, keys: TopicKeys, timeout: float) -> float:
        """How long a wait on ``topic`` may block (0: work is claimable now)."""
        task = asyncio.current_task()
        cancels = task.cancelling() if task is not None else 0
        seen = self._idle.pop(topic, None)
        age = time.monotonic() - seen[0] if seen is not None else IDLE_HINT_AGE
        if seen is not None and age < IDLE_HINT_AGE:
            # the claim just before found nothing claimable: an enqueue since
            # then has pushed a wake-up token, which the pop takes
            _, now, due, deadline, slot = seen
            now += round(age * 1000)
        else:
            now, ready, due, deadline, slot = await self._run("peek", keys.all, [self._now()])
            if task is not None and task.cancelling() > cancels:
                # a cancellation that landed as the call completed: honour it
                # here rather than block
                raise asyncio.CancelledError
            if ready:
                return 0.0
        if not isinstance(self._clock, FakeClock):  # a fake clock wakes waiters itself
            upcoming = [t for t in (due, deadline, slot) if t >= 0]
            if upcoming:
                timeout = min(timeout, max(0.0, (min(upcoming) - now) / 1000.0 + 0.001))
        block = min(timeout, self._block_timeout)
        return block if block >= 0.001 else 0.0

    async def _wait_failed(self, timeout: float, wake: asyncio.Event) -> None:
        """A wait is a hint only: back off (capped), then let the caller's
        claim report the failure."""
        self._wait_failures += 1
        pause = min(timeout, 0.05 * 2 ** min(self._wait_failures, 7), 5.0)
        await self._race(asyncio.sleep(pause), wake)

    async def wait(self, topic: str, timeout: float) -> None:
        keys = self._topic(topic)
        wake = self._wake
        try:
            block = await self._block_for(topic, keys, timeout)
            if block:
                await self._race(self._blocker.pop(keys.notify, block), wake)
            self._wait_failures = 0
        except BackendUnavailable:
            await self._wait_failed(timeout, wake)

    async def wait_and_claim(
        self,
        topic: str,
        timeout: float,
        *,
        max_jobs: int,
        lease: float,
        interrupt: asyncio.Future[None] | None = None,
    ) -> list[Job]:
        """The claim travels behind the blocking pop on the same connection
        (``BLPOP`` then ``EVALSHA claim``): the server runs it the moment a
        wake-up token arrives, so an idle consumer gets its job in the
        round trip that woke it (see :meth:`_pop_unless` for a wait cut
        short). With a fake clock: :meth:`wait`, then :meth:`claim`."""
        keys = self._topic(topic)
        wake = self._wake
        want = max(0, min(max_jobs, self._capabilities.max_batch))
        if want < 1 or want < max_jobs:
            return await super().wait_and_claim(
                topic, timeout, max_jobs=max_jobs, lease=lease, interrupt=interrupt
            )
        if isinstance(self._clock, FakeClock) or (interrupt is not None and interrupt.done()):
            # a fake clock moves by hand (the claim behind a pop would carry
            # a stale time): wait, then claim
            return await super().wait_and_claim(
                topic, timeout, max_jobs=max_jobs, lease=lease, interrupt=interrupt
            )
        try:
            block = await self._block_for(topic, keys, timeout)
        except BackendUnavailable:
            await self._wait_failed(timeout, wake)
            return await self.claim(topic, max_jobs=max_jobs, lease=lease)
        if not block or wake.is_set():  # nothing to wait for, or woken (a move, close)
            return await self.claim(topic, max_jobs=max_jobs, lease=lease)
        rid = _request_id()
        args = [self._now(), rid, want, clamp_ms(lease), REAP_LIMIT, PROMOTE_LIMIT]
        args.append(self._claim_cache_ms)
        claim_keys = (*keys.with_dead, keys.claim_cache(rid))
        pop = self._blocker.pop(
            keys.notify, block, Then(self._run.packed("claim", claim_keys, args))
        )
        try:
            reply = await self._pop_unless(pop, interrupt)
            self._wait_failures = 0
        except (BackendUnavailable, ThenFailed) as exc:
            if isinstance(exc, BackendUnavailable):
                await self._wait_failed(timeout, wake)
            reply = None
        if reply is None:
            # woken, interrupted, or the pop failed: the claim behind it may
            # have run with its reply lost. The same call again (same request
            # id) answers from its claim cache what that run leased, or claims
            # now if it never ran: no job is left leased to nobody.
            reply = await self._run("claim", claim_keys, args)
        jobs = jobs_from_reply(topic, reply[0])
        self._note_idle(topic, jobs, reply[1])
        return jobs

    async def _pop_unless(
        self,
        pop: Coroutine[Any, Any, tuple[bool, Any]],
        interrupt: asyncio.Future[None] | None,
    ) -> Any:
        """The reply of the command behind ``pop``, or ``None`` when the
        wait was cut short (``interrupt``, or the driver woken by close).

        A pop cut short is cancelled, which drops its connection: while the
        pop still blocks, the server then drops the claim behind it. The
        claim may have run just before (a wake-up token arrived as the wait
        was cut short); its reply is then on its way, so the pop gets
        :data:`CUT_GRACE` seconds to finish first, and what it claimed is
        used. One task, no more: this is the wake-up path."""
        task = asyncio.ensure_future(pop)
        woken = asyncio.get_running_loop().create_future()
        self._woken.add(woken)
        stops: set[asyncio.Future[Any]] = {task, woken}
        if interrupt is not None:
            stops.add(interrupt)
        try:
            await asyncio.wait(stops, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                await asyncio.wait({task}, timeout=CUT_GRACE)
        finally:
            self._woken.discard(woken)
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
        if task.cancelled():
            return None
        error = task.exception()
        if error is not None:
            raise error
        return task.result()[1]

    @staticmethod
    async def _race(work: Any, wake: asyncio.Event) -> None:
        """Run ``work`` until it ends or ``wake`` is set; re-raise its error."""
        task = asyncio.ensure_future(work)
        woken = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({task, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (task, woken):
                pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(task, woken, return_exceptions=True)
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()

    async def counts(self, topic: str) -> Counts:
        keys = self._topic(topic)
        scheduled, ready, in_flight, dead, oldest = await self._run(
            "counts", (*keys.all, keys.dead.jobs), [self._now()]
        )
        return Counts(
            scheduled=scheduled,
            ready=ready,
            in_flight=in_flight,
            dead=dead,
            oldest_due_at=None if oldest < 0 else oldest / 1000.0,
        )

    async def get(self, topic: str, job_id: str) -> Job | None:
        keys = self._topic(topic)
        jobs = jobs_from_reply(topic, await self._run("get", keys.all, [job_id]))
        return jobs[0] if jobs else None

    async def list_jobs(
        self, topic: str, state: JobState, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        keys = self._topic(topic)
        jobs: list[Job] = []
        while len(jobs) < limit:
            count = min(limit - len(jobs), PAGE)
            args = [STATE_CODES[state], offset + len(jobs), count]
            page = jobs_from_reply(topic, await self._run("list", keys.all, args))
            jobs += page
            if len(page) < count:
                break
        return jobs

    async def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int:
        keys = self._topic(topic)
        both = keys.with_dead
        moved = 0
        if ids is not None:
            unique = list(dict.fromkeys(ids))
            if len(unique) > PAGE:
                unique = await self._claim_order(keys.dead, unique)
            for start in range(0, len(unique), PAGE):
                args: list[Any] = [self._now(), "ids"]
                args += unique[start : start + PAGE]
                moved += (await self._run("redrive", both, args))[0]
            return moved
        for phase in ("r", "s"):
            offset = 0
            while True:
                args = [self._now(), "scan", phase, offset, PAGE]
                done, skipped, scanned = await self._run("redrive", both, args)
                moved += done
                offset += skipped
                if scanned < PAGE:
                    break
        return moved

    async def _claim_order(self, keys: TopicKeys, ids: list[str]) -> list[str]:
        """``ids`` of jobs of ``keys``' topic in the order redrive takes
        them: ready ones in claim order, then scheduled ones by due time."""
        reply: list[bytes | None] = []
        for start in range(0, len(ids), PAGE):
            reply += await self._run("get", keys.all, ids[start : start + PAGE])
        return claim_order(reply)

    async def purge(self, topic: str, ids: Sequence[str] | None = None) -> int:
        keys = self._topic(topic)
        deleted = 0
        if ids is not None:
            unique = list(dict.fromkeys(ids))
            for start in range(0, len(unique), PAGE):
                args = [self._now(), "ids", *unique[start : start + PAGE]]
                deleted += await self._run("purge", keys.all, args)
            return deleted
        while True:
            done: int = await self._run("purge", keys.all, [self._now(), "scan", PAGE])
            deleted += done
            if done < PAGE:
                return deleted

    async def topics(self) -> list[str]:
        self._check_open()
        pattern = seq_pattern(self._prefix)
        found: set[str] = set()
        with translated(f"listing topics (SCAN MATCH {pattern})", self._run.where):
            if isinstance(self._client, RedisCluster):
                nodes = self._client.get_primaries()
                for node in nodes:
                    async for key in self._client.scan_iter(
                        match=pattern, count=1000, target_nodes=node
                    ):
                        self._found_topic(found, key)
            else:
                async for key in self._client.scan_iter(match=pattern, count=1000):
                    self._found_topic(found, key)
        return sorted(found)

    def _found_topic(self, found: set[str], key: bytes | str) -> None:
        name = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
        topic = topic_of_seq_key(self._prefix, name)
        if topic is not None:
            found.add(topic)

    async def cancel(self, topic: str, ids: Sequence[str]) -> list[CancelOutcome]:
        keys = self._topic(topic)
        outcomes: list[CancelOutcome] = []
        for start in range(0, len(ids), PAGE):
            reply = await self._run("cancel", keys.all, [self._now(), *ids[start : start + PAGE]])
            outcomes += [_CANCELLED[code] for code in reply]
        return outcomes

    async def cancel_requested(self, topic: str, ids: Sequence[str]) -> list[str]:
        keys = self._topic(topic)
        found: list[str] = []
        for start in range(0, len(ids), PAGE):
            reply = await self._run("cancel_requested", keys.all, ids[start : start + PAGE])
            found += [raw.decode() for raw in reply]
        return found

    async def set_limits(self, topic: str, limits: TopicLimits) -> None:
        keys = self._topic(topic)
        args: list[Any] = ["set", limits.max_in_flight or "", limits.rate or ""]
        args.append(max(1, clamp_ms(limits.per)))
        await self._run("limits", keys.all, args)

    async def get_limits(self, topic: str) -> TopicLimits:
        keys = self._topic(topic)
        max_in_flight, rate, per = await self._run("limits", keys.all, ["get"])
        return TopicLimits(
            max_in_flight=int(max_in_flight) if max_in_flight else None,
            rate=int(rate) if rate else None,
            per=int(per) / 1000.0 if per else 1.0,
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake_waiters()
        await self._blocker.close()
        await self._run.close()
        if self._threaded is not None:
            self._threaded.close()
        if self._owns_client:
            # a Sentinel-managed client's pool holds the Sentinel, whose
            # connections to the sentinels are not the client's own
            pool = getattr(self._client, "connection_pool", None)
            sentinel = getattr(pool, "sentinel_manager", None)
            for item in (self._client, sentinel):
                if item is not None:
                    with contextlib.suppress(Exception):
                        await item.aclose()
