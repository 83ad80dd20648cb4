"""Redis-only: the startup diagnostics call."""

from __future__ import annotations

import asyncio
import logging

import pytest

from queue_redis import RedisDriver
from tests.redis_support import RedisServer, connect

pytestmark = pytest.mark.redis


def test_diagnostics_report_persistence_and_warn_on_eviction(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        async with connect(redis_server.url) as client:
            driver = RedisDriver(client)
            with caplog.at_level(logging.WARNING, logger="queue_redis"):
                report = await driver.diagnostics()
            assert report.version.startswith(("6.", "7.", "8.", "9."))
            assert report.maxmemory_policy == "noeviction"
            assert report.aof_enabled
            assert report.appendfsync == "always"
            assert not report.cluster
            assert report.warnings == ()
            assert not caplog.records

            await client.config_set("maxmemory-policy", "allkeys-lru")
            with caplog.at_level(logging.WARNING, logger="queue_redis"):
                report = await driver.diagnostics()
            assert report.maxmemory_policy == "allkeys-lru"
            assert any("noeviction" in warning for warning in report.warnings)
            assert any("allkeys-lru" in record.getMessage() for record in caplog.records)
            await driver.close()

    asyncio.run(main())
