"""Kit harnesses for the Redis driver (standalone and cluster)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis, RedisCluster

import queue_redis._driver as redis_driver_module
from queue_conformance import Harness
from queue_core import Clock, Driver
from queue_redis import RedisDriver, make_client
from tests.redis_support import RedisServer

__all__ = ["RedisClusterHarness", "RedisHarness"]

T = TypeVar("T")


class RedisHarness(Harness):
    """Drivers over one standalone server; a new client per driver (each
    check runs its own event loop), made the recommended way. Restartable
    when the tests own the server. A re-sent call is delivered twice with
    the same request id, as redis-py re-sends it after a lost reply; a peer
    is another client and driver on the same server."""

    resends = True

    def __init__(self, url: str, server: RedisServer | None = None) -> None:
        self._url = url
        self._server = server
        self.restartable = server is not None
        self._clients: list[Redis | RedisCluster] = []

    def _client(self) -> Redis | RedisCluster:
        return make_client(self._url)

    async def make_driver(self, clock: Clock | None) -> Driver:
        client = self._client()
        self._clients.append(client)
        return RedisDriver(client, clock=clock)

    async def make_peer(self, driver: Driver, clock: Clock | None) -> Driver | None:
        return await self.make_driver(clock)

    async def resend(self, driver: Driver, call: Callable[[Driver], Awaitable[T]]) -> T:
        # every script call of the driver draws its request id here: both
        # deliveries send the same one, byte for byte
        fixed = secrets.token_hex(8)
        original = redis_driver_module._request_id
        redis_driver_module._request_id = lambda: fixed
        try:
            await call(driver)
            return await call(driver)
        finally:
            redis_driver_module._request_id = original

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
        return make_client("redis+cluster://" + self._url.split("://", 1)[1])
