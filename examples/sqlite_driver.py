"""A complete queue_core driver on SQLite, built on the standard library alone.

The worked example of ``docs/writing-a-driver.md``, certified by the
conformance kit in ``tests/test_sqlite_conformance.py``. One table holds
every job of every topic; a job's state is a column, and moving a job to its
dead-letter topic (``<topic>:dead``) is an ``UPDATE`` of its ``topic``. Each
driver call is one ``BEGIN IMMEDIATE`` transaction run on a single worker
thread, so every state change is atomic, also across processes that share
the database file (WAL mode). It keeps idempotency records and lists topics;
it does not offer cancellation or topic limits (their capabilities are
false, and the kit skips those checks with that reason)::

    service = QueueService(SQLiteDriver("jobs.db"))
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from queue_core import (
    DEAD_SUFFIX,
    BackendUnavailable,
    Capabilities,
    Clock,
    Closed,
    Counts,
    Driver,
    FakeClock,
    Job,
    JobState,
    LeaseLost,
    NewJob,
    QueueError,
    Settled,
    SystemClock,
    to_ms,
    translate_errors,
)

__all__ = ["SQLiteDriver"]

T = TypeVar("T")
REAP_LIMIT = 1000

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    topic TEXT NOT NULL, id TEXT NOT NULL, payload BLOB NOT NULL,
    priority INTEGER NOT NULL, max_attempts INTEGER NOT NULL,
    enqueued_ms INTEGER NOT NULL, due_ms INTEGER NOT NULL, seq INTEGER NOT NULL,
    state TEXT NOT NULL,  -- 'scheduled', 'ready' or 'in_flight'
    attempt INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    token TEXT, deadline_ms INTEGER, fence INTEGER NOT NULL DEFAULT 0,
    headers TEXT NOT NULL DEFAULT '{}',  -- JSON object of str to str
    window_ms INTEGER NOT NULL DEFAULT 0,  -- how long the id is remembered once it ends
    PRIMARY KEY (topic, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (topic, state, priority DESC, due_ms, seq);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (topic, state, due_ms, seq);
CREATE INDEX IF NOT EXISTS jobs_leases ON jobs (topic, state, deadline_ms, seq);
-- per topic: the enqueue sequence; per family (the base topic's row): the fencing counter
CREATE TABLE IF NOT EXISTS topics (
    topic TEXT PRIMARY KEY, seq INTEGER NOT NULL DEFAULT 0, fence INTEGER NOT NULL DEFAULT 0
);
-- idempotency records: ids of ended jobs, remembered until until_ms
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL, id TEXT NOT NULL, until_ms INTEGER NOT NULL, PRIMARY KEY (topic, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_expiry ON records (topic, until_ms);
"""

# a row as the fields of a Job (times in seconds; SQLite divides exactly as Python does)
JOB = """id, payload, priority, attempt, max_attempts, enqueued_ms / 1000.0 AS enqueued_at,
    due_ms / 1000.0 AS run_at, state, last_error, token AS lease_token,
    deadline_ms / 1000.0 AS lease_deadline, fence AS fencing_token, headers"""

ORDER = {  # claim order for ready jobs; the order list_jobs promises for the others
    JobState.READY: "priority DESC, due_ms, seq",
    JobState.SCHEDULED: "due_ms, seq",
    JobState.IN_FLIGHT: "deadline_ms, seq",
}


class _Tx:
    """The operations on one topic inside one transaction, at one instant
    (``now``, in milliseconds). Runs on the driver's worker thread."""

    def __init__(self, db: sqlite3.Connection, topic: str, now: int) -> None:
        self.db, self.topic, self.now = db, topic, now

    # -- helpers ---------------------------------------------------------------

    def sql(self, query: str, *args: Any) -> sqlite3.Cursor:
        return self.db.execute(query, args)

    def set(self, job_id: str, **columns: Any) -> None:
        assign = ", ".join(f"{name} = ?" for name in columns)
        query = f"UPDATE jobs SET {assign} WHERE topic = ? AND id = ?"
        self.sql(query, *columns.values(), self.topic, job_id)

    def row(self, job_id: str, topic: str | None = None) -> sqlite3.Row | None:
        query = f"SELECT {JOB} FROM jobs WHERE topic = ? AND id = ?"
        row: sqlite3.Row | None = self.sql(query, topic or self.topic, job_id).fetchone()
        return row

    def job(self, row: sqlite3.Row) -> Job:
        fields = {
            **dict(row),
            "state": JobState(row["state"]),
            "headers": json.loads(row["headers"]),
        }
        return Job(topic=self.topic, **fields)

    def get(self, job_id: str) -> Job | None:
        row = self.row(job_id)
        return None if row is None else self.job(row)

    def ids(self, state: JobState, limit: int = -1, topic: str | None = None) -> list[str]:
        query = f"SELECT id FROM jobs WHERE topic = ? AND state = ? ORDER BY {ORDER[state]}"
        rows = self.sql(query + " LIMIT ?", topic or self.topic, state.value, limit)
        return [row["id"] for row in rows]

    def next_seq(self, topic: str) -> int:
        """The next value of ``topic``'s enqueue sequence."""
        query = "INSERT INTO topics (topic, seq) VALUES (?, 1) ON CONFLICT DO UPDATE"
        query += " SET seq = seq + 1 RETURNING seq"
        return int(self.sql(query, topic).fetchone()["seq"])

    def next_fence(self) -> int:
        """The next fencing token of the topic's family (``t``, ``t:dead``...)."""
        family = self.topic
        while family.endswith(DEAD_SUFFIX):
            family = family[: -len(DEAD_SUFFIX)]
        query = "INSERT INTO topics (topic, fence) VALUES (?, 1) ON CONFLICT DO UPDATE"
        query += " SET fence = fence + 1 RETURNING fence"
        return int(self.sql(query, family).fetchone()["fence"])

    def remember(self, job_id: str, window_ms: int) -> None:
        """An idempotency record: the job ended here, its id is kept for its window."""
        if window_ms > 0:
            until = self.now + window_ms
            self.sql("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", self.topic, job_id, until)

    def end(self, job_id: str) -> None:
        """The job ends in this topic: delete it and remember its id."""
        query = "DELETE FROM jobs WHERE topic = ? AND id = ? RETURNING window_ms"
        row = self.sql(query, self.topic, job_id).fetchone()
        if row is not None:
            self.remember(job_id, row["window_ms"])

    def remembered(self, job_id: str) -> bool:
        query = "SELECT 1 FROM records WHERE topic = ? AND id = ? AND until_ms > ?"
        return self.sql(query, self.topic, job_id, self.now).fetchone() is not None

    def holder(self, job_id: str, token: str) -> None:
        """Raise :class:`LeaseLost` unless ``token`` holds the job."""
        row = self.row(job_id)
        if row is None:
            raise LeaseLost(self.topic, job_id, "no such job")
        if row["state"] != "in_flight" or row["lease_token"] != token:
            raise LeaseLost(self.topic, job_id)

    def make_due(self, job_id: str, due: int, **columns: Any) -> None:
        """End any lease; the job is ready, or scheduled if ``due`` is later."""
        state = "scheduled" if due > self.now else "ready"
        self.set(job_id, state=state, due_ms=due, token=None, deadline_ms=None, **columns)

    def bury(self, job_id: str, error: str | None) -> None:
        """Move the job to the dead-letter topic, unless that holds its id.
        Either way the job ends here (its id is remembered for its window)."""
        dead = self.topic + DEAD_SUFFIX
        if self.row(job_id, dead) is not None:
            self.end(job_id)
            return
        query = "SELECT window_ms FROM jobs WHERE topic = ? AND id = ?"
        window = self.sql(query, self.topic, job_id).fetchone()["window_ms"]
        seq = self.next_seq(dead)
        self.make_due(job_id, self.now, topic=dead, seq=seq, last_error=error)
        self.remember(job_id, window)

    # -- the operations --------------------------------------------------------

    def enqueue(self, jobs: Sequence[NewJob]) -> list[bool]:
        self.sql("DELETE FROM records WHERE topic = ? AND until_ms <= ?", self.topic, self.now)
        created = []
        for job in jobs:
            if self.row(job.id) is not None or self.remembered(job.id):
                created.append(False)
                continue
            run_at = job.run_at  # an instant in the past means now
            due = self.now + to_ms(job.delay) if run_at is None else max(self.now, to_ms(run_at))
            self.sql(
                "INSERT INTO jobs (topic, id, payload, priority, max_attempts, enqueued_ms,"
                " due_ms, seq, state, headers, window_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                *(self.topic, job.id, job.payload, job.priority, job.max_attempts),
                *(self.now, due, self.next_seq(self.topic)),
                "scheduled" if due > self.now else "ready",
                json.dumps(dict(job.headers), ensure_ascii=False),
                to_ms(job.idempotency_window),
            )
            created.append(True)
        return created

    def reap(self, limit: int) -> int:
        expired = self.sql(
            "SELECT id, attempt >= max_attempts AS spent, deadline_ms FROM jobs"
            " WHERE topic = ? AND state = 'in_flight' AND deadline_ms <= ?"
            " ORDER BY deadline_ms, seq LIMIT ?",
            *(self.topic, self.now, limit),
        ).fetchall()
        for job_id, spent, deadline in expired:
            if spent:
                self.bury(job_id, "lease expired")
            else:  # due again at its lease deadline: it keeps its place in line
                self.make_due(job_id, deadline, last_error="lease expired")
        return len(expired)

    def claim(self, max_jobs: int, lease: int) -> list[Job]:
        self.reap(REAP_LIMIT)
        self.sql(
            "UPDATE jobs SET state = 'ready' WHERE topic = ? AND state = 'scheduled'"
            " AND due_ms <= ?",
            *(self.topic, self.now),
        )
        claimed = []
        for job_id in self.ids(JobState.READY, max_jobs):
            row = self.sql(
                "UPDATE jobs SET state = 'in_flight', attempt = attempt + 1, fence = ?,"
                f" token = ?, deadline_ms = ? WHERE topic = ? AND id = ? RETURNING {JOB}",
                *(self.next_fence(), secrets.token_hex(12), self.now + lease, self.topic, job_id),
            ).fetchone()
            claimed.append(self.job(row))
        return claimed

    def ack_many(self, leases: Sequence[tuple[str, str]]) -> list[Settled]:
        outcomes = []
        for job_id, token in leases:
            try:
                self.holder(job_id, token)
            except LeaseLost:
                gone = self.row(job_id) is None
                outcomes.append(Settled.GONE if gone else Settled.LEASE_LOST)
            else:
                self.end(job_id)
                outcomes.append(Settled.ACKED)
        return outcomes

    def extend(self, job_id: str, token: str, lease: int) -> int:
        self.holder(job_id, token)
        self.set(job_id, deadline_ms=self.now + lease)
        return self.now + lease

    def retry(self, job_id: str, token: str, delay: int, error: str | None) -> None:
        self.holder(job_id, token)
        self.make_due(job_id, self.now + delay, last_error=error)

    def release(self, job_id: str, token: str) -> None:
        self.holder(job_id, token)
        query = "UPDATE jobs SET attempt = MAX(attempt - 1, 0) WHERE topic = ? AND id = ?"
        self.sql(query, self.topic, job_id)
        self.make_due(job_id, self.now)

    def dead_letter(self, job_id: str, token: str, error: str | None) -> None:
        self.holder(job_id, token)
        self.bury(job_id, error)

    def redrive(self, ids: Sequence[str] | None) -> int:
        dead = self.topic + DEAD_SUFFIX
        wanted = None if ids is None else set(ids)
        moved = 0
        waiting = self.ids(JobState.READY, topic=dead) + self.ids(JobState.SCHEDULED, topic=dead)
        for job_id in waiting:  # not the in-flight ones
            if (wanted is not None and job_id not in wanted) or self.row(job_id) is not None:
                continue
            self.sql(
                "UPDATE jobs SET topic = ?, state = 'ready', attempt = 0, enqueued_ms = ?,"
                " due_ms = ?, seq = ? WHERE topic = ? AND id = ?",
                *(self.topic, self.now, self.now, self.next_seq(self.topic), dead, job_id),
            )
            moved += 1
        return moved

    def purge(self, ids: Sequence[str] | None) -> int:
        query = "SELECT id FROM jobs WHERE topic = ? AND state != 'in_flight'"
        waiting = [row["id"] for row in self.sql(query, self.topic)]
        victims = [job_id for job_id in waiting if ids is None or job_id in ids]
        for job_id in victims:
            self.end(job_id)
        return len(victims)

    def counts(self) -> Counts:
        row = self.sql(
            "SELECT COUNT(*) FILTER (WHERE topic = ?1 AND state = 'scheduled') AS scheduled,"
            " COUNT(*) FILTER (WHERE topic = ?1 AND state = 'ready') AS ready,"
            " COUNT(*) FILTER (WHERE topic = ?1 AND state = 'in_flight') AS in_flight,"
            " COUNT(*) FILTER (WHERE topic = ?2) AS dead FROM jobs WHERE topic IN (?1, ?2)",
            *(self.topic, self.topic + DEAD_SUFFIX),
        ).fetchone()
        (oldest,) = self.sql(  # the earliest due time among jobs due now, from jobs_due
            "SELECT MIN(due_ms) FROM jobs WHERE topic = ?1 AND"
            " (state = 'ready' OR (state = 'scheduled' AND due_ms <= ?2))",
            *(self.topic, self.now),
        ).fetchone()
        return Counts(**dict(row), oldest_due_at=None if oldest is None else oldest / 1000.0)

    def list_jobs(self, state: JobState, limit: int, offset: int) -> list[Job]:
        query = f"SELECT {JOB} FROM jobs WHERE topic = ? AND state = ? ORDER BY {ORDER[state]}"
        rows = self.sql(query + " LIMIT ? OFFSET ?", self.topic, state.value, limit, offset)
        return [self.job(row) for row in rows]

    def topics(self) -> list[str]:
        query = "SELECT topic FROM topics WHERE seq > 0 AND topic NOT LIKE '%:dead' ORDER BY topic"
        return [row["topic"] for row in self.sql(query)]

    def next_work(self) -> tuple[bool, int | None]:
        """Whether a job is ready now, and when the next one comes due (or
        a lease expires: maybe now already)."""
        (upcoming,) = self.sql(
            "SELECT MIN(CASE state WHEN 'scheduled' THEN due_ms ELSE deadline_ms END)"
            " FROM jobs WHERE topic = ? AND state != 'ready'",
            self.topic,
        ).fetchone()
        return bool(self.ids(JobState.READY, 1)), upcoming


class SQLiteDriver(Driver):
    """Jobs in one SQLite database (a file, or ``":memory:"``).

    Processes may share a database file: :meth:`wait` polls every
    ``poll_interval`` seconds for work another process added (work added
    through this driver wakes its waiters at once). Keep it at a second or
    more: a shorter poll is the busy polling the conformance kit refuses
    (``idle_wait_does_not_poll``). Time comes from ``clock``
    (the system clock by default), so tests can inject a
    :class:`~queue_core.FakeClock`.
    """

    def __init__(
        self,
        path: str = ":memory:",
        *,
        clock: Clock | None = None,
        max_payload_bytes: int = 1024 * 1024,
        max_batch: int = 1000,
        poll_interval: float = 1.0,
    ) -> None:
        self._clock = clock or SystemClock()
        self._capabilities = Capabilities(
            max_payload_bytes=max_payload_bytes,
            max_batch=max_batch,
            clock_control=True,
            persistent=path != ":memory:",
            push_wakeup=True,
            idempotency_records=True,
            list_topics=True,
        )
        self._poll = poll_interval
        self._closed = False
        self._events: dict[str, asyncio.Event] = {}
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-queue")
        with translate_errors({sqlite3.Error: BackendUnavailable}, "opening the database"):
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.executescript(SCHEMA)
        if isinstance(self._clock, FakeClock):
            self._clock.on_advance(self._wake_all)

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def _transaction(self, topic: str, now: int, fn: Callable[[_Tx], T]) -> T:
        """On the worker thread: ``fn`` inside one write transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(_Tx(self._db, topic, now))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return result

    async def _run(self, topic: str, fn: Callable[[_Tx], T], *, wake: bool = False) -> T:
        """Run ``fn`` in a transaction at the clock's current millisecond;
        with ``wake``, then wake the waiters of the topic and its dead letters."""
        if self._closed:
            raise Closed("the SQLite driver is closed")
        now = to_ms(self._clock.now())
        loop = asyncio.get_running_loop()
        errors: dict[type[BaseException], type[QueueError]] = {
            sqlite3.OperationalError: BackendUnavailable,  # locked, I/O error: retryable
            sqlite3.Error: QueueError,
        }
        with translate_errors(errors, "sqlite"):
            result = await loop.run_in_executor(self._executor, self._transaction, topic, now, fn)
        if wake:
            self._wake(topic)
            self._wake(topic + DEAD_SUFFIX)
        return result

    def _wake(self, topic: str) -> None:
        event = self._events.pop(topic, None)
        if event is not None:
            event.set()

    def _wake_all(self) -> None:
        for topic in list(self._events):
            self._wake(topic)

    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        return await self._run(topic, lambda tx: tx.enqueue(jobs), wake=True)

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        return await self._run(topic, lambda tx: tx.claim(max_jobs, to_ms(lease)), wake=True)

    async def ack_many(self, topic: str, leases: Sequence[tuple[str, str]]) -> list[Settled]:
        return await self._run(topic, lambda tx: tx.ack_many(leases))

    async def extend(self, topic: str, job_id: str, token: str, lease: float) -> float:
        deadline = await self._run(topic, lambda tx: tx.extend(job_id, token, to_ms(lease)))
        return deadline / 1000.0

    async def retry(
        self, topic: str, job_id: str, token: str, *, delay: float, error: str | None
    ) -> None:
        await self._run(topic, lambda tx: tx.retry(job_id, token, to_ms(delay), error), wake=True)

    async def release(self, topic: str, job_id: str, token: str) -> None:
        await self._run(topic, lambda tx: tx.release(job_id, token), wake=True)

    async def dead_letter(self, topic: str, job_id: str, token: str, *, error: str | None) -> None:
        await self._run(topic, lambda tx: tx.dead_letter(job_id, token, error), wake=True)

    async def reap(self, topic: str, *, limit: int = REAP_LIMIT) -> int:
        return await self._run(topic, lambda tx: tx.reap(limit), wake=True)

    async def wait(self, topic: str, timeout: float) -> None:
        event = self._events.setdefault(topic, asyncio.Event())
        ready, upcoming = await self._run(topic, _Tx.next_work)
        if ready or (upcoming is not None and upcoming <= to_ms(self._clock.now())):
            return
        timeout = min(timeout, self._poll)
        if upcoming is not None and not isinstance(self._clock, FakeClock):
            timeout = min(timeout, max(0.0, upcoming / 1000.0 - self._clock.now()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def counts(self, topic: str) -> Counts:
        return await self._run(topic, _Tx.counts)

    async def get(self, topic: str, job_id: str) -> Job | None:
        return await self._run(topic, lambda tx: tx.get(job_id))

    async def list_jobs(
        self, topic: str, state: JobState, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        return await self._run(topic, lambda tx: tx.list_jobs(state, limit, offset))

    async def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int:
        return await self._run(topic, lambda tx: tx.redrive(ids), wake=True)

    async def purge(self, topic: str, ids: Sequence[str] | None = None) -> int:
        return await self._run(topic, lambda tx: tx.purge(ids))

    async def topics(self) -> list[str]:
        return await self._run("", _Tx.topics)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake_all()
        await asyncio.get_running_loop().run_in_executor(self._executor, self._db.close)
        self._executor.shutdown(wait=False)
