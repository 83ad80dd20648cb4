"""Translation of redis-py errors into the queue error hierarchy."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ConnectionError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TimeoutError,
)

from queue_core import BackendUnavailable, QueueError

__all__ = ["address_of", "describe", "is_transient", "translated", "translated_error"]

# server replies that mean "not now" rather than "wrong": loading after a
# restart, a demoted primary, a failover or resharding in progress, memory
# full, a busy script
_TRANSIENT_REPLIES: Final = (
    "LOADING",
    "READONLY",
    "MASTERDOWN",
    "CLUSTERDOWN",
    "TRYAGAIN",
    "UNBLOCKED",
    "OOM",
    "BUSY",
    "NOREPLICAS",
    "MOVED",
    "ASK",
)


def is_transient(exc: BaseException) -> bool:
    """True for errors a retry may cure (connection lost, timeout, server
    loading or failing over...); not bad credentials."""
    if isinstance(exc, AuthenticationError | AuthorizationError):
        return False
    if isinstance(exc, ConnectionError | TimeoutError | OSError | RedisClusterException):
        return True
    if isinstance(exc, ResponseError):
        return str(exc).split(" ", 1)[0].upper() in _TRANSIENT_REPLIES
    # ClusterError, ClusterDownError, TryAgainError... that are not
    # ResponseErrors with a transient code
    return type(exc).__module__ == "redis.exceptions" and "Cluster" in type(exc).__name__


def address_of(client: Any) -> str:
    """Where ``client`` connects: ``host:port``, a socket path, or the
    startup nodes of a cluster (for error messages)."""
    try:
        if hasattr(client, "startup_nodes"):
            nodes = client.startup_nodes
            names = nodes.keys() if isinstance(nodes, dict) else [n.name for n in nodes]
            return "cluster " + ",".join(sorted(names))
        kwargs = client.get_connection_kwargs()
    except Exception:  # pragma: no cover - an exotic client
        return ""
    if kwargs.get("path"):
        return f"unix:{kwargs['path']}"
    if "host" in kwargs:
        return f"{kwargs['host']}:{kwargs.get('port', 6379)}"
    if kwargs.get("service_name"):  # a Sentinel-managed pool
        return f"sentinel service {kwargs['service_name']}"
    return ""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _reason(exc: BaseException) -> str:
    """Why the call failed, in a few words."""
    text = str(exc).lower()
    for cause in _chain(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset"
        if isinstance(cause, socket.gaierror):
            return "host name not found"
        if isinstance(cause, OSError) and cause.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "host unreachable"
    if isinstance(exc, AuthenticationError):
        return "authentication failed"
    if isinstance(exc, AuthorizationError):
        return "not allowed for this user"
    if isinstance(exc, TimeoutError | socket.timeout) or "timeout" in text or "timed out" in text:
        return "timed out"
    if "closed by server" in text or "connection closed" in text:
        return "connection closed by the server"
    if isinstance(exc, ResponseError):
        return "the server replied with an error"
    if isinstance(exc, ConnectionError | OSError):
        return "connection failed"
    return type(exc).__name__


def describe(exc: BaseException, context: str, where: str = "") -> str:
    """``<context> on <where>: <reason> (<the native message>)``."""
    detail = str(exc) or type(exc).__name__
    place = f" on {where}" if where and where not in detail else ""
    return f"{context}{place}: {_reason(exc)} ({type(exc).__name__}: {detail})"


def translated_error(exc: BaseException, context: str, where: str = "") -> QueueError:
    """The queue error for a redis-py (or socket) error: BackendUnavailable
    when a retry may cure it, QueueError otherwise."""
    kind = BackendUnavailable if is_transient(exc) else QueueError
    return kind(describe(exc, context, where))


@contextmanager
def translated(context: str, where: str = "") -> Iterator[None]:
    """Re-raise redis-py errors as :class:`BackendUnavailable` (transient) or
    :class:`QueueError` (anything else, such as a script error), with the
    native error as ``__cause__`` and a message that says what failed,
    where and why (refused, timed out, closed by the server...)."""
    try:
        yield
    except QueueError:
        raise
    except (RedisError, RedisClusterException, OSError) as exc:
        raise translated_error(exc, context, where) from exc
