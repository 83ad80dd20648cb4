"""Blocking pops for :meth:`RedisDriver.wait`, on connections of the
driver's own (never the caller's pool), each guarded by a watchdog."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError

from ._errors import address_of, translated
from ._scripts import pack

__all__ = ["Blocker", "Then", "ThenFailed"]

WATCHDOG: Final = 1.0  # seconds beyond the block timeout before a pop is abandoned
MAX_IDLE: Final = 8  # idle connections kept per node


class Then:
    """A command sent right behind a blocking pop on the same connection: the
    server runs it the moment the pop returns, with no round trip between
    (a wake-up that carries its claim)."""

    __slots__ = ("command",)

    def __init__(self, command: bytes) -> None:
        self.command = command


class ThenFailed(Exception):
    """The command behind the pop answered with an error (NOSCRIPT after a
    script flush, MOVED while a cluster reshards...): run it the usual way."""


class Blocker:
    """``BLPOP`` on one key per call, on a dedicated connection to the node
    that serves the key.

    A connection made here has the caller's settings (address, TLS, ACL
    user, Sentinel master discovery) but no automatic retry: redis-py would
    re-send an interrupted blocking command after a reconnect, and the
    re-sent command can hang. A pop that does not answer within its timeout
    plus :data:`WATCHDOG` is abandoned and its connection dropped; so is a
    cancelled one (its reply is still on the wire).
    """

    def __init__(self, client: Redis | RedisCluster) -> None:
        self._client = client
        self._where = address_of(client)
        self._idle: dict[str, list[AbstractConnection]] = {}
        self._busy: set[AbstractConnection] = set()

    def _new(self, key: str) -> tuple[str, AbstractConnection]:
        client = self._client
        factory: type[AbstractConnection]
        if isinstance(client, RedisCluster):
            node = client.get_node_from_key(key)
            if node is None:  # pragma: no cover - only for replica lookups
                raise LookupError(f"no node serves {key!r}")
            ident, factory, kwargs = node.name, node.connection_class, node.connection_kwargs
        else:
            pool = client.connection_pool
            ident, factory, kwargs = "", pool.connection_class, pool.connection_kwargs
        options: dict[str, Any] = dict(kwargs)
        options["retry"] = Retry(NoBackoff(), 0)
        options["socket_timeout"] = None  # the watchdog bounds the wait
        return ident, factory(**options)

    def _take(self, key: str) -> tuple[str, AbstractConnection]:
        if isinstance(self._client, RedisCluster):
            ident, conn = self._new(key)  # the node may have changed: ask each time
            idle = self._idle.get(ident)
            if idle:
                return ident, idle.pop()
            return ident, conn
        idle = self._idle.get("")
        return ("", idle.pop()) if idle else self._new(key)

    async def pop(self, key: str, timeout: float, then: Then | None = None) -> tuple[bool, Any]:
        """Wait up to ``timeout`` seconds (> 0) for an element of the list
        ``key`` and remove it; then, with ``then``, run its command. Returns
        whether an element came, and the command's reply (``None`` without
        one). Cancelled, it drops its connection (the server then drops the
        command behind the pop, unless the pop had already returned).

        :raises BackendUnavailable: the connection failed or hung.
        :raises ThenFailed: the command behind the pop answered with an error.
        """
        with translated("blocking wait", self._where):
            ident, conn = self._take(key)
        self._busy.add(conn)
        reusable = False
        try:
            with translated("blocking wait", self._where):
                async with asyncio.timeout(timeout + WATCHDOG):
                    await conn.connect()  # type: ignore[no-untyped-call]
                    command = pack(("BLPOP", key, f"{timeout:.3f}"))
                    if then is not None:
                        command += then.command
                    await conn.send_packed_command(command, check_health=False)
                    popped = await conn.read_response()
                    reply = None
                    if then is not None:
                        try:
                            reply = await conn.read_response()
                        except ResponseError as exc:
                            reusable = True
                            raise ThenFailed(str(exc)) from exc
            reusable = True
            return popped is not None, reply
        finally:
            self._busy.discard(conn)
            idle = self._idle.setdefault(ident, [])
            if reusable and len(idle) < MAX_IDLE:
                idle.append(conn)
            else:
                with contextlib.suppress(Exception):
                    await conn.disconnect(nowait=True)

    async def close(self) -> None:
        """Disconnect every connection made here (idle or blocked)."""
        conns = [conn for idle in self._idle.values() for conn in idle] + list(self._busy)
        self._idle.clear()
        self._busy.clear()
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)
