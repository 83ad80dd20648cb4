"""Certify the example SQLite driver (``examples/sqlite_driver.py``) with the
conformance kit: the same few lines a third-party driver author writes."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from examples.sqlite_driver import SQLiteDriver
from queue_conformance import DriverConformance, Harness
from queue_core import Clock, Counts, Driver, FakeClock, NewJob

T = TypeVar("T")


class SQLiteHarness(Harness):
    """A fresh database file per driver, in a temporary directory removed by
    :meth:`cleanup`. A peer is a second driver on the same file (as another
    process would open it). SQLite has no request ids, so a re-sent call is
    the same call made twice."""

    resends = True

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._made = 0
        self._paths: dict[int, str] = {}

    async def make_driver(self, clock: Clock | None) -> Driver:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="queue-sqlite-"))
        self._made += 1
        path = str(self._dir / f"jobs-{self._made}.db")
        driver = SQLiteDriver(path, clock=clock)
        self._paths[id(driver)] = path
        return driver

    async def make_peer(self, driver: Driver, clock: Clock | None) -> Driver | None:
        return SQLiteDriver(self._paths[id(driver)], clock=clock)

    async def resend(self, driver: Driver, call: Callable[[Driver], Awaitable[T]]) -> T:
        await call(driver)
        return await call(driver)

    async def cleanup(self) -> None:
        self._paths.clear()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


class TestSQLiteDriver(DriverConformance):
    @pytest.fixture
    def harness(self) -> Harness:
        return SQLiteHarness()


def test_jobs_survive_reopening_the_database(tmp_path: Path) -> None:
    """Beyond the kit: the database file keeps every job, in its state, for
    the next driver (the kit's restart check needs a backend process)."""

    async def main() -> None:
        clock = FakeClock()
        path = str(tmp_path / "jobs.db")
        first = SQLiteDriver(path, clock=clock)
        assert first.capabilities.persistent
        await first.enqueue(
            "t",
            [
                NewJob(id=f"j{i}", payload=bytes([i]), delay=i % 2, headers={"n": str(i)})
                for i in range(6)
            ],
        )
        (held,) = await first.claim("t", max_jobs=1, lease=30)
        await first.close()
        second = SQLiteDriver(path, clock=clock)
        assert await second.counts("t") == Counts(
            scheduled=3, ready=2, in_flight=1, oldest_due_at=clock.now()
        )
        assert await second.ack("t", held.id, held.lease_token or "") is True
        clock.advance(1)
        jobs = await second.claim("t", max_jobs=10, lease=30)
        assert sorted(job.payload for job in jobs) == [bytes([i]) for i in range(1, 6)]
        assert {job.id: dict(job.headers) for job in jobs}["j3"] == {"n": "3"}
        await second.close()

    asyncio.run(main())
