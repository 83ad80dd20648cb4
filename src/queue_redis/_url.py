"""The recommended way to build a client, and drivers from URLs.

:func:`make_client` builds a ``redis.asyncio`` client with the settings the
driver relies on; :func:`driver_from_url` builds a driver that owns such a
client (``queue_core.open_driver`` calls it for the ``redis``, ``rediss``,
``unix``, ``redis+sentinel`` and ``redis+cluster`` schemes).

URLs::

    redis://[user[:password]@]host[:port][/db][?query]
    rediss://...                                   TLS
    unix://[user[:password]@]/path/to/socket[?db=N&query]
    redis+sentinel://[user[:password]@]host:port[,host:port...]/service[/db][?query]
    redis+cluster://[user[:password]@]host:port[,host:port...][/][?query]

Query parameters for the driver: ``prefix``, ``block_timeout``,
``command_timeout``, ``claim_cache_ttl``, ``max_payload_bytes``,
``max_batch``; for the client: ``socket_timeout``,
``socket_connect_timeout``, ``max_connections``, ``health_check_interval``,
``client_name``, ``ssl`` (``true`` for TLS with sentinel or cluster URLs),
``ssl_cert_reqs`` (``none``, ``optional``, ``required``), ``ssl_ca_certs``,
``ssl_certfile``, ``ssl_keyfile``, ``ssl_check_hostname``, ``db`` (unix
sockets), ``sentinel_password``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from redis.asyncio import Redis, RedisCluster, Sentinel
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError

from queue_core import Clock, InvalidArgument, redact_url

from ._driver import RedisDriver

__all__ = ["CLIENT_DEFAULTS", "driver_from_url", "make_client", "recommended_retry"]

SCHEMES: Final = ("redis", "rediss", "unix", "redis+sentinel", "redis+cluster")

CLIENT_DEFAULTS: Final[Mapping[str, Any]] = {
    # a host that does not answer fails in 2 s, not the OS's minutes
    "socket_connect_timeout": 2.0,
    # no socket timeout: the driver's command_timeout (10 s) bounds every
    # call with a clear error of its own (a socket timeout would also cost
    # a task per command: redis-py sends through asyncio.wait_for)
    "socket_timeout": None,
    "socket_keepalive": True,
    "health_check_interval": 15,
}


def recommended_retry() -> Retry:
    """Re-send a command twice after a dropped connection (every script of
    the driver is safe to run twice), 20 then 40 ms apart: a server that
    restarts or fails over is ridden through, a refused connection fails in
    well under a second. Timeouts are not re-sent (the driver's
    ``command_timeout`` already bounds each call)."""
    return Retry(ExponentialBackoff(cap=0.25, base=0.02), 2, supported_errors=(ConnectionError,))


def _float(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidArgument(f"query parameter {name}={text!r} is not a number") from None
    if not value >= 0:
        raise InvalidArgument(f"query parameter {name}={text!r} must be >= 0")
    return value


def _int(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f"query parameter {name}={text!r} is not an integer") from None


def _bool(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise InvalidArgument(f"query parameter {name}={text!r} is not true or false")


def _cert_reqs(name: str, text: str) -> str:
    if text not in ("none", "optional", "required"):
        raise InvalidArgument(f"query parameter {name}={text!r}: use none, optional or required")
    return text


def _text(name: str, text: str) -> str:
    return text


_DRIVER_PARAMS: Final[dict[str, Callable[[str, str], Any]]] = {
    "prefix": _text,
    "block_timeout": _float,
    "command_timeout": _float,
    "claim_cache_ttl": _float,
    "max_payload_bytes": _int,
    "max_batch": _int,
}
_CLIENT_PARAMS: Final[dict[str, Callable[[str, str], Any]]] = {
    "socket_timeout": _float,
    "socket_connect_timeout": _float,
    "max_connections": _int,
    "health_check_interval": _int,
    "client_name": _text,
    "ssl": _bool,
    "ssl_cert_reqs": _cert_reqs,
    "ssl_ca_certs": _text,
    "ssl_certfile": _text,
    "ssl_keyfile": _text,
    "ssl_check_hostname": _bool,
    "db": _int,
    "sentinel_password": _text,
}


@dataclass(slots=True)
class _Parsed:
    scheme: str
    hosts: list[tuple[str, int]] = field(default_factory=list)
    path: str = ""
    username: str | None = None
    password: str | None = None
    driver: dict[str, Any] = field(default_factory=dict)
    client: dict[str, Any] = field(default_factory=dict)


def _hosts(netloc: str, default_port: int, shown: str) -> list[tuple[str, int]]:
    hosts = []
    for item in netloc.rpartition("@")[2].split(","):
        if not item:
            raise InvalidArgument(f"Redis URL {shown!r}: empty host")
        if item.startswith("["):  # [ipv6]:port
            host, _, rest = item[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else ""
        else:
            host, _, port_text = item.partition(":")
        if not host:
            raise InvalidArgument(f"Redis URL {shown!r}: empty host in {item!r}")
        port = default_port
        if port_text:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise InvalidArgument(f"Redis URL {shown!r}: port {port_text!r} is not a port")
            port = int(port_text)
        hosts.append((host, port))
    return hosts


def _parse(url: str) -> _Parsed:
    if not isinstance(url, str):
        raise InvalidArgument(f"a Redis URL must be a str, not {type(url).__name__}")
    shown = redact_url(url)
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise InvalidArgument(f"Redis URL {shown!r} has no scheme (redis://host:port/db)")
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise InvalidArgument(f"Redis URL {shown!r}: unknown scheme {scheme!r}; use {SCHEMES}")
    parts = urlsplit("redis://" + rest)
    parsed = _Parsed(scheme)
    netloc = parts.netloc
    credentials = netloc.rpartition("@")[0] if "@" in netloc else ""
    if credentials:
        user, _, password = credentials.partition(":")
        parsed.username = unquote(user) or None
        parsed.password = unquote(password) if password else None
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in _DRIVER_PARAMS:
            parsed.driver[name] = _DRIVER_PARAMS[name](name, value)
        elif name in _CLIENT_PARAMS:
            parsed.client[name] = _CLIENT_PARAMS[name](name, value)
        elif name in ("password", "username"):
            raise InvalidArgument(
                f"Redis URL {shown!r}: put the {name} in the URL (user:password@host)"
            )
        else:
            known = sorted([*_DRIVER_PARAMS, *_CLIENT_PARAMS])
            raise InvalidArgument(f"Redis URL {shown!r}: unknown query parameter {name!r}; {known}")
    if scheme == "unix":
        parsed.path = unquote(parts.path)
        if not parsed.path:
            raise InvalidArgument(f"Redis URL {shown!r}: no socket path (unix:///path/redis.sock)")
        return parsed
    default_port = 26379 if scheme == "redis+sentinel" else 6379
    parsed.hosts = _hosts(netloc, default_port, shown)
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if scheme == "redis+sentinel":
        if not segments:
            raise InvalidArgument(f"Redis URL {shown!r}: no service name (/mymaster after hosts)")
        parsed.path = segments.pop(0)
    elif len(parsed.hosts) > 1 and scheme != "redis+cluster":
        raise InvalidArgument(f"Redis URL {shown!r}: several hosts need redis+sentinel or cluster")
    if segments:
        if len(segments) > 1 or not segments[0].isdigit():
            raise InvalidArgument(
                f"Redis URL {shown!r}: database {'/'.join(segments)!r} is not a number"
            )
        if scheme == "redis+cluster" and segments[0] != "0":
            raise InvalidArgument(f"Redis URL {shown!r}: Redis Cluster has database 0 only")
        parsed.client["db"] = int(segments[0])
    return parsed


def _client_kwargs(parsed: _Parsed, overrides: Mapping[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(CLIENT_DEFAULTS)
    kwargs["retry"] = recommended_retry()
    kwargs["decode_responses"] = False
    if parsed.username:
        kwargs["username"] = parsed.username
    if parsed.password:
        kwargs["password"] = parsed.password
    client = dict(parsed.client)
    use_ssl = client.pop("ssl", parsed.scheme == "rediss")
    client.pop("sentinel_password", None)
    if use_ssl:
        kwargs["ssl"] = True
    elif any(name.startswith("ssl_") for name in client):
        raise InvalidArgument("ssl_* parameters need rediss:// or ssl=true")
    kwargs.update(client)
    kwargs.update(overrides)
    if kwargs.get("decode_responses"):
        raise InvalidArgument("the Redis client must use decode_responses=False")
    return kwargs


def make_client(url: str, **overrides: Any) -> Redis | RedisCluster:
    """A ``redis.asyncio`` client for ``url`` with the settings the driver
    relies on (see :data:`CLIENT_DEFAULTS` and :func:`recommended_retry`):
    connect timeout 2 s, no socket timeout (the driver's command timeout
    bounds every call), two quick re-sends after a dropped connection, bytes
    replies. Keyword arguments override them. Driver query parameters in the
    URL are ignored here (see :func:`driver_from_url`). The caller closes it
    (``await client.aclose()``; for a ``redis+sentinel`` URL also
    ``await client.connection_pool.sentinel_manager.aclose()``, or give it
    to a driver with ``owns_client=True``, which closes both).

    :raises InvalidArgument: the URL is malformed (the message names the
        part that is wrong; passwords are never shown).
    """
    return _build(_parse(url), overrides)


def _build(parsed: _Parsed, overrides: Mapping[str, Any]) -> Redis | RedisCluster:
    kwargs = _client_kwargs(parsed, overrides)
    if parsed.scheme == "unix":
        kwargs.pop("socket_keepalive", None)
        kwargs.pop("ssl", None)
        return Redis(unix_socket_path=parsed.path, **kwargs)
    if parsed.scheme == "redis+cluster":
        kwargs.pop("db", None)
        kwargs.pop("health_check_interval", None)
        nodes = [ClusterNode(host, port) for host, port in parsed.hosts]
        return RedisCluster(startup_nodes=nodes, **kwargs)
    if parsed.scheme == "redis+sentinel":
        db = kwargs.pop("db", 0)
        sentinel_auth: dict[str, Any] = {
            "socket_connect_timeout": kwargs["socket_connect_timeout"],
            "socket_timeout": kwargs["socket_timeout"],
        }
        if parsed.client.get("sentinel_password"):
            sentinel_auth["password"] = parsed.client["sentinel_password"]
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            parsed.hosts, sentinel_kwargs=sentinel_auth, **kwargs
        )
        client: Redis = sentinel.master_for(parsed.path, redis_class=Redis, db=db)
        return client
    host, port = parsed.hosts[0]
    return Redis(host=host, port=port, **kwargs)


def driver_from_url(url: str, *, clock: Clock | None = None, **overrides: Any) -> RedisDriver:
    """A :class:`RedisDriver` for ``url`` that owns its client (made by
    :func:`make_client`): closing the driver closes the client. Query
    parameters configure the driver and the client (see the module
    docstring); ``overrides`` are passed to the client.

    :raises InvalidArgument: the URL or one of its parameters is wrong.
    """
    parsed = _parse(url)
    client = _build(parsed, overrides)
    try:
        return RedisDriver(client, clock=clock, owns_client=True, **parsed.driver)
    except Exception:
        # nothing was connected yet: dropping the client is enough, but
        # reset what can be reset without a loop
        with contextlib.suppress(Exception):
            client.connection_pool.reset()  # type: ignore[union-attr]
        raise
