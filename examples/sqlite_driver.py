"""A complete queue_core driver on SQLite, built on the standard library alone.

It is the worked example of ``docs/writing-a-driver.md`` and is certified by
the conformance kit (``tests/test_sqlite_conformance.py``). One table holds
every job of every topic; a job's state is a column, and moving a job to its
dead-letter topic (``<topic>:dead``) is an ``UPDATE`` of its ``topic``.
Every driver method is one SQLite transaction (``BEGIN IMMEDIATE``) run on a
single worker thread, so each state change is atomic, also across processes
sharing the database file (WAL mode)::

    driver = SQLiteDriver("jobs.db")
    service = QueueService(driver)
"""

from __future__ import annotations

import asyncio
import contextlib
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
    state TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    token TEXT, deadline_ms INTEGER, fence INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (topic, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (topic, state, priority DESC, due_ms, seq);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (topic, state, due_ms, seq);
CREATE INDEX IF NOT EXISTS jobs_leases ON jobs (topic, state, deadline_ms, seq);
CREATE TABLE IF NOT EXISTS topics (topic TEXT PRIMARY KEY, seq INTEGER NOT NULL);
"""

COLUMNS = (
    "id, payload, priority, attempt, max_attempts, enqueued_ms, due_ms, state,"
    " last_error, token, deadline_ms, fence"
)
ORDER = {  # the order list_jobs promises, per state
    JobState.READY: "priority DESC, due_ms, seq",
    JobState.SCHEDULED: "due_ms, seq",
    JobState.IN_FLIGHT: "deadline_ms, seq",
}
READY, SCHEDULED, IN_FLIGHT = (s.value for s in ORDER)


def _job(topic: str, row: tuple[Any, ...]) -> Job:
    job_id, payload, priority, attempt, max_attempts, enq, due, state, error, token, dl, fence = row
    return Job(
        id=job_id,
        topic=topic,
        payload=bytes(payload),
        priority=priority,
        attempt=attempt,
        max_attempts=max_attempts,
        enqueued_at=enq / 1000.0,
        run_at=due / 1000.0,
        state=JobState(state),
        last_error=error,
        lease_token=token,
        lease_deadline=None if dl is None else dl / 1000.0,
        fencing_token=fence,
    )


# -- the transactions: plain functions of (connection, now in ms, arguments) ---


def _get(db: sqlite3.Connection, topic: str, job_id: str) -> tuple[Any, ...] | None:
    sql = f"SELECT {COLUMNS} FROM jobs WHERE topic = ? AND id = ?"
    row: tuple[Any, ...] | None = db.execute(sql, (topic, job_id)).fetchone()
    return row


def _ids(db: sqlite3.Connection, topic: str, state: JobState, limit: int = -1) -> list[str]:
    sql = f"SELECT id FROM jobs WHERE topic = ? AND state = ? ORDER BY {ORDER[state]} LIMIT ?"
    return [row[0] for row in db.execute(sql, (topic, state.value, limit))]


def _next_seq(db: sqlite3.Connection, topic: str) -> int:
    sql = (
        "INSERT INTO topics VALUES (?, 1) ON CONFLICT (topic) DO UPDATE SET seq = seq + 1"
        " RETURNING seq"
    )
    return int(db.execute(sql, (topic,)).fetchone()[0])


def _holder(db: sqlite3.Connection, topic: str, job_id: str, token: str) -> None:
    """Raise :class:`LeaseLost` unless ``token`` holds the job."""
    row = db.execute("SELECT state, token FROM jobs WHERE topic = ? AND id = ?", (topic, job_id))
    found = row.fetchone()
    if found is None:
        raise LeaseLost(topic, job_id, "no such job")
    if found[0] != IN_FLIGHT or found[1] != token:
        raise LeaseLost(topic, job_id)


def _make_due(db: sqlite3.Connection, topic: str, job_id: str, due: int, now: int) -> None:
    """End any lease and make the job ready (or scheduled if ``due`` is later)."""
    state = SCHEDULED if due > now else READY
    db.execute(
        "UPDATE jobs SET state = ?, due_ms = ?, token = NULL, deadline_ms = NULL"
        " WHERE topic = ? AND id = ?",
        (state, due, topic, job_id),
    )


def _bury(db: sqlite3.Connection, topic: str, job_id: str, error: str | None, now: int) -> None:
    """Move the job to the dead-letter topic, unless that already holds its id."""
    dead = topic + DEAD_SUFFIX
    if _get(db, dead, job_id) is not None:
        db.execute("DELETE FROM jobs WHERE topic = ? AND id = ?", (topic, job_id))
        return
    db.execute(
        "UPDATE jobs SET topic = ?, state = ?, due_ms = ?, seq = ?, last_error = ?,"
        " token = NULL, deadline_ms = NULL WHERE topic = ? AND id = ?",
        (dead, READY, now, _next_seq(db, dead), error, topic, job_id),
    )


def _reap(db: sqlite3.Connection, now: int, topic: str, limit: int) -> int:
    expired = db.execute(
        "SELECT id, attempt >= max_attempts, deadline_ms FROM jobs WHERE topic = ?"
        " AND state = ? AND deadline_ms <= ? ORDER BY deadline_ms, seq LIMIT ?",
        (topic, IN_FLIGHT, now, limit),
    ).fetchall()
    for job_id, exhausted, deadline in expired:
        if exhausted:
            _bury(db, topic, job_id, "lease expired", now)
        else:  # due again at its lease deadline, so it keeps its place
            db.execute(
                "UPDATE jobs SET last_error = 'lease expired' WHERE topic = ? AND id = ?",
                (topic, job_id),
            )
            _make_due(db, topic, job_id, deadline, now)
    return len(expired)


def _enqueue(db: sqlite3.Connection, now: int, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
    created = []
    for job in jobs:
        if _get(db, topic, job.id) is not None:
            created.append(False)
            continue
        due = max(now, to_ms(job.run_at)) if job.run_at is not None else now + to_ms(job.delay)
        db.execute(
            "INSERT INTO jobs (topic, id, payload, priority, max_attempts, enqueued_ms,"
            " due_ms, seq, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (topic, job.id, job.payload, job.priority, job.max_attempts, now, due,
             _next_seq(db, topic), SCHEDULED if due > now else READY),
        )  # fmt: skip
        created.append(True)
    return created


def _claim(db: sqlite3.Connection, now: int, topic: str, max_jobs: int, lease: int) -> list[Job]:
    _reap(db, now, topic, REAP_LIMIT)
    db.execute(
        "UPDATE jobs SET state = ? WHERE topic = ? AND state = ? AND due_ms <= ?",
        (READY, topic, SCHEDULED, now),
    )
    claimed = []
    for job_id in _ids(db, topic, JobState.READY, max_jobs):
        row = db.execute(
            "UPDATE jobs SET state = ?, attempt = attempt + 1, fence = fence + 1, token = ?,"
            f" deadline_ms = ? WHERE topic = ? AND id = ? RETURNING {COLUMNS}",
            (IN_FLIGHT, secrets.token_hex(12), now + lease, topic, job_id),
        ).fetchone()
        claimed.append(_job(topic, row))
    return claimed


def _ack_many(
    db: sqlite3.Connection, now: int, topic: str, leases: Sequence[tuple[str, str]]
) -> list[Settled]:
    outcomes = []
    for job_id, token in leases:
        try:
            _holder(db, topic, job_id, token)
        except LeaseLost:
            gone = _get(db, topic, job_id) is None
            outcomes.append(Settled.GONE if gone else Settled.LEASE_LOST)
            continue
        db.execute("DELETE FROM jobs WHERE topic = ? AND id = ?", (topic, job_id))
        outcomes.append(Settled.ACKED)
    return outcomes


def _extend(
    db: sqlite3.Connection, now: int, topic: str, job_id: str, token: str, lease: int
) -> int:
    _holder(db, topic, job_id, token)
    sql = "UPDATE jobs SET deadline_ms = ? WHERE topic = ? AND id = ?"
    db.execute(sql, (now + lease, topic, job_id))
    return now + lease


def _retry(
    db: sqlite3.Connection,
    now: int,
    topic: str,
    job_id: str,
    token: str,
    delay: int,
    error: str | None,
) -> None:
    _holder(db, topic, job_id, token)
    sql = "UPDATE jobs SET last_error = ? WHERE topic = ? AND id = ?"
    db.execute(sql, (error, topic, job_id))
    _make_due(db, topic, job_id, now + delay, now)


def _release(db: sqlite3.Connection, now: int, topic: str, job_id: str, token: str) -> None:
    _holder(db, topic, job_id, token)
    sql = "UPDATE jobs SET attempt = MAX(attempt - 1, 0) WHERE topic = ? AND id = ?"
    db.execute(sql, (topic, job_id))
    _make_due(db, topic, job_id, now, now)


def _dead_letter(
    db: sqlite3.Connection, now: int, topic: str, job_id: str, token: str, error: str | None
) -> None:
    _holder(db, topic, job_id, token)
    _bury(db, topic, job_id, error, now)


def _redrive(db: sqlite3.Connection, now: int, topic: str, ids: Sequence[str] | None) -> int:
    dead = topic + DEAD_SUFFIX
    wanted = None if ids is None else set(ids)
    moved = 0
    for job_id in _ids(db, dead, JobState.READY) + _ids(db, dead, JobState.SCHEDULED):
        if (wanted is not None and job_id not in wanted) or _get(db, topic, job_id):
            continue
        db.execute(
            "UPDATE jobs SET topic = ?, state = ?, attempt = 0, enqueued_ms = ?, due_ms = ?,"
            " seq = ? WHERE topic = ? AND id = ?",
            (topic, READY, now, now, _next_seq(db, topic), dead, job_id),
        )
        moved += 1
    return moved


def _purge(db: sqlite3.Connection, now: int, topic: str, ids: Sequence[str] | None) -> int:
    sql = "DELETE FROM jobs WHERE topic = ? AND state != ?"
    if ids is None:
        return db.execute(sql, (topic, IN_FLIGHT)).rowcount
    sql += " AND id = ?"
    return sum(db.execute(sql, (topic, IN_FLIGHT, job_id)).rowcount for job_id in set(ids))


def _counts(db: sqlite3.Connection, now: int, topic: str) -> Counts:
    sql = "SELECT state, COUNT(*) FROM jobs WHERE topic = ? GROUP BY state"
    per_state = dict(db.execute(sql, (topic,)).fetchall())
    sql = "SELECT COUNT(*) FROM jobs WHERE topic = ?"
    (dead,) = db.execute(sql, (topic + DEAD_SUFFIX,)).fetchone()
    return Counts(
        scheduled=per_state.get(SCHEDULED, 0),
        ready=per_state.get(READY, 0),
        in_flight=per_state.get(IN_FLIGHT, 0),
        dead=dead,
    )


def _list(db: sqlite3.Connection, now: int, topic: str, state: JobState, limit: int) -> list[Job]:
    sql = f"SELECT {COLUMNS} FROM jobs WHERE topic = ? AND state = ? ORDER BY {ORDER[state]}"
    rows = db.execute(sql + " LIMIT ?", (topic, state.value, limit))
    return [_job(topic, row) for row in rows]


def _next_work(db: sqlite3.Connection, now: int, topic: str) -> tuple[bool, int | None]:
    """Whether a job is ready now, and when the next one comes due."""
    ready = _ids(db, topic, JobState.READY, 1)
    sql = (
        "SELECT MIN(CASE state WHEN ? THEN due_ms ELSE deadline_ms END)"
        " FROM jobs WHERE topic = ? AND state != ?"
    )
    (upcoming,) = db.execute(sql, (SCHEDULED, topic, READY)).fetchone()
    return bool(ready), upcoming


# -- the driver ------------------------------------------------------------------


class SQLiteDriver(Driver):
    """Jobs in one SQLite database (a file, or ``":memory:"``).

    Several processes may share a database file: each operation is one
    ``BEGIN IMMEDIATE`` transaction, and :meth:`wait` polls every
    ``poll_interval`` seconds for work enqueued by another process (work
    enqueued through this driver wakes waiters at once). Time comes from
    ``clock`` (the system clock by default), so tests can inject a
    :class:`~queue_core.FakeClock`.
    """

    def __init__(
        self,
        path: str = ":memory:",
        *,
        clock: Clock | None = None,
        max_payload_bytes: int = 1024 * 1024,
        max_batch: int = 1000,
        poll_interval: float = 0.2,
    ) -> None:
        self._clock = clock or SystemClock()
        self._capabilities = Capabilities(
            max_payload_bytes=max_payload_bytes,
            max_batch=max_batch,
            clock_control=True,
            persistent=path != ":memory:",
            push_wakeup=True,
        )
        self._poll = poll_interval
        self._closed = False
        self._events: dict[str, asyncio.Event] = {}
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-queue")
        with translate_errors({sqlite3.Error: BackendUnavailable}, "sqlite"):
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(SCHEMA)
        if isinstance(self._clock, FakeClock):
            self._clock.on_advance(self._wake_all)

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def _transaction(self, fn: Callable[..., T], now: int, args: tuple[Any, ...]) -> T:
        """Runs on the worker thread: ``fn`` inside one write transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(self._db, now, *args)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return result

    async def _run(self, fn: Callable[..., T], *args: Any, wake: str | None = None) -> T:
        """Run one transaction at the clock's current millisecond; then wake
        the waiters of topic ``wake`` (and of its dead-letter topic)."""
        if self._closed:
            raise Closed("the SQLite driver is closed")
        now = to_ms(self._clock.now())
        loop = asyncio.get_running_loop()
        mapping: dict[type[BaseException], type[QueueError]] = {
            sqlite3.OperationalError: BackendUnavailable,
            sqlite3.Error: QueueError,
        }
        with translate_errors(mapping, "sqlite"):
            result = await loop.run_in_executor(self._executor, self._transaction, fn, now, args)
        if wake is not None:
            self._wake(wake)
            self._wake(wake + DEAD_SUFFIX)
        return result

    def _wake(self, topic: str) -> None:
        event = self._events.pop(topic, None)
        if event is not None:
            event.set()

    def _wake_all(self) -> None:
        for topic in list(self._events):
            self._wake(topic)

    async def enqueue(self, topic: str, jobs: Sequence[NewJob]) -> list[bool]:
        return await self._run(_enqueue, topic, jobs, wake=topic)

    async def claim(self, topic: str, *, max_jobs: int, lease: float) -> list[Job]:
        return await self._run(_claim, topic, max_jobs, to_ms(lease), wake=topic)

    async def ack_many(self, topic: str, leases: Sequence[tuple[str, str]]) -> list[Settled]:
        return await self._run(_ack_many, topic, leases)

    async def extend(self, topic: str, job_id: str, token: str, lease: float) -> float:
        return await self._run(_extend, topic, job_id, token, to_ms(lease)) / 1000.0

    async def retry(
        self, topic: str, job_id: str, token: str, *, delay: float, error: str | None
    ) -> None:
        await self._run(_retry, topic, job_id, token, to_ms(delay), error, wake=topic)

    async def release(self, topic: str, job_id: str, token: str) -> None:
        await self._run(_release, topic, job_id, token, wake=topic)

    async def dead_letter(self, topic: str, job_id: str, token: str, *, error: str | None) -> None:
        await self._run(_dead_letter, topic, job_id, token, error, wake=topic)

    async def reap(self, topic: str, *, limit: int = REAP_LIMIT) -> int:
        return await self._run(_reap, topic, limit, wake=topic)

    async def wait(self, topic: str, timeout: float) -> None:
        event = self._events.setdefault(topic, asyncio.Event())
        ready, upcoming = await self._run(_next_work, topic)
        if ready:
            return
        timeout = min(timeout, self._poll)
        if upcoming is not None and not isinstance(self._clock, FakeClock):
            timeout = min(timeout, max(0.0, (upcoming - self._clock.now() * 1000.0) / 1000.0))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def counts(self, topic: str) -> Counts:
        return await self._run(_counts, topic)

    async def get(self, topic: str, job_id: str) -> Job | None:
        row = await self._run(lambda db, now: _get(db, topic, job_id))
        return None if row is None else _job(topic, row)

    async def list_jobs(self, topic: str, state: JobState, *, limit: int = 100) -> list[Job]:
        return await self._run(_list, topic, state, limit)

    async def redrive(self, topic: str, ids: Sequence[str] | None = None) -> int:
        return await self._run(_redrive, topic, ids, wake=topic)

    async def purge(self, topic: str, ids: Sequence[str] | None = None) -> int:
        return await self._run(_purge, topic, ids)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake_all()
        await asyncio.get_running_loop().run_in_executor(self._executor, self._db.close)
        self._executor.shutdown(wait=False)
