"""Script calls from threads without an event loop (a Flask or Django app's
enqueue), on a blocking redis-py connection pool of the driver's own that
reaches the same server as the caller's client."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Final

import redis
from redis.asyncio import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from ._errors import translated
from ._scripts import Script, pack

__all__ = ["ThreadedScripts", "threaded_pool_options"]

# the caller's settings that a blocking connection takes over as they are
_COPIED: Final = (
    "host",
    "port",
    "path",
    "db",
    "username",
    "password",
    "credential_provider",
    "client_name",
    "socket_connect_timeout",
    "socket_keepalive",
    "ssl_keyfile",
    "ssl_certfile",
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_ca_data",
    "ssl_ca_path",
    "ssl_check_hostname",
    "ssl_password",
    "ssl_ciphers",
    "ssl_min_version",
)
_CLASSES: Final = {
    "Connection": redis.Connection,
    "SSLConnection": redis.SSLConnection,
    "UnixDomainSocketConnection": redis.UnixDomainSocketConnection,
}


def threaded_pool_options(
    client: Any, command_timeout: float | None
) -> tuple[type[redis.Connection], dict[str, Any]] | None:
    """How to reach ``client``'s server from a blocking connection, or
    ``None`` when that cannot be derived (a cluster, a Sentinel-managed or
    single-connection client, a connection class of its own)."""
    if not isinstance(client, Redis) or client.single_connection_client:
        return None
    pool = client.connection_pool
    if type(pool) is not redis.asyncio.ConnectionPool:
        return None  # Sentinel and other managed pools find the server themselves
    connection_class = _CLASSES.get(pool.connection_class.__name__)
    if connection_class is None or pool.connection_class.__module__ != "redis.asyncio.connection":
        return None
    source = pool.connection_kwargs
    options: dict[str, Any] = {name: source[name] for name in _COPIED if name in source}
    options["socket_timeout"] = command_timeout  # bounds every blocking call
    options["retry"] = Retry(ExponentialBackoff(cap=0.25, base=0.02), 2, (ConnectionError,))
    return connection_class, options


class ThreadedScripts:
    """Runs scripts from any thread, blocking it for one round trip: packed
    by hiredis, sent on a blocking connection of the driver's own pool,
    with ``NOSCRIPT`` recovered as on the event loop. Thread-safe; the pool
    is made on first use."""

    def __init__(
        self,
        scripts: dict[str, Script],
        connection_class: type[redis.Connection],
        options: dict[str, Any],
        where: str,
    ) -> None:
        self._scripts = scripts
        self._connection_class = connection_class
        self._options = options
        self._where = where
        self._pool: redis.ConnectionPool | None = None
        self._lock = threading.Lock()

    def _get_pool(self) -> redis.ConnectionPool:
        with self._lock:
            if self._pool is None:
                self._pool = redis.ConnectionPool(
                    connection_class=self._connection_class, **self._options
                )
            return self._pool

    def __call__(
        self, name: str, keys: Sequence[str], args: Sequence[Any], *, resend: bool = True
    ) -> Any:
        """One script call; ``resend`` as in :meth:`ScriptRunner.__call__`."""
        script = self._scripts[name]
        with translated(f"{name} script", self._where):
            pool = self._get_pool()
            conn = pool.get_connection()
            try:

                def send(command: bytes) -> Any:
                    conn.send_packed_command([command])  # type: ignore[no-untyped-call]
                    return conn.read_response()

                def dropped(error: Exception) -> None:
                    conn.disconnect()  # type: ignore[no-untyped-call]

                def deliver(packed: bytes) -> Any:
                    if resend:
                        return conn.retry.call_with_retry(lambda: send(packed), dropped)
                    try:
                        return send(packed)
                    except (ConnectionError, RedisTimeoutError, OSError):
                        conn.disconnect()  # type: ignore[no-untyped-call]
                        raise

                command = pack(("EVALSHA", script.sha, len(keys), *keys, *args))
                try:
                    return deliver(command)
                except NoScriptError:  # as in ScriptRunner._direct
                    return deliver(pack(("EVAL", script.text, len(keys), *keys, *args)))
            finally:
                pool.release(conn)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.disconnect()
