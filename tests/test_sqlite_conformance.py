"""Certify the example SQLite driver (``examples/sqlite_driver.py``) with the
conformance kit: the same few lines a third-party driver author writes."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from examples.sqlite_driver import SQLiteDriver
from queue_conformance import DriverConformance, Harness
from queue_core import Clock, Driver


class SQLiteHarness(Harness):
    """A fresh database file per driver, in a temporary directory removed by
    :meth:`cleanup`."""

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._made = 0

    async def make_driver(self, clock: Clock | None) -> Driver:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="queue-sqlite-"))
        self._made += 1
        return SQLiteDriver(str(self._dir / f"jobs-{self._made}.db"), clock=clock)

    async def cleanup(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


class TestSQLiteDriver(DriverConformance):
    @pytest.fixture
    def harness(self) -> Harness:
        return SQLiteHarness()
