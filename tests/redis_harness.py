"""Kit harnesses for the Redis driver (standalone and cluster)."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis, RedisCluster

from queue_conformance import Harness
from queue_core import Clock, Driver
from queue_redis import RedisDriver
from tests.redis_support import RedisServer

__all__ = ["RedisClusterHarness", "RedisHarness"]


class RedisHarness(Harness):
    """Drivers over one standalone server; a new client per driver (each
    check runs its own event loop). Restartable when the tests own the
    server."""

    def __init__(self, url: str, server: RedisServer | None = None) -> None:
        self._url = url
        self._server = server
        self.restartable = server is not None
        self._clients: list[Redis | RedisCluster] = []

    def _client(self) -> Redis | RedisCluster:
        return Redis.from_url(self._url)

    async def make_driver(self, clock: Clock | None) -> Driver:
        client = self._client()
        self._clients.append(client)
        return RedisDriver(client, clock=clock)

    async def cleanup(self) -> None:
        clients, self._clients = self._clients, []
        for client in clients:
            await client.aclose()

    async def restart(self) -> None:
        server = self._server
        assert server is not None
        await asyncio.get_running_loop().run_in_executor(None, server.restart)


class RedisClusterHarness(RedisHarness):
    def _client(self) -> Redis | RedisCluster:
        return RedisCluster.from_url(self._url)
