"""The conformance kit against standalone Redis and a 3-primary cluster."""

from __future__ import annotations

import pytest

from queue_conformance import DriverConformance, Harness
from tests.redis_harness import RedisClusterHarness, RedisHarness
from tests.redis_support import RedisServer

pytestmark = pytest.mark.redis


class TestRedisStandalone(DriverConformance):
    @pytest.fixture
    def harness(self, redis_url: str, redis_standalone: RedisServer | None) -> Harness:
        return RedisHarness(redis_url, redis_standalone)


class TestRedisCluster(DriverConformance):
    @pytest.fixture
    def harness(self, redis_cluster_url: str) -> Harness:
        return RedisClusterHarness(redis_cluster_url)
