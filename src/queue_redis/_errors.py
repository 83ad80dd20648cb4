"""Translation of redis-py errors into the queue error hierarchy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

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

__all__ = ["is_transient", "translated"]

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


@contextmanager
def translated(context: str) -> Iterator[None]:
    """Re-raise redis-py errors as :class:`BackendUnavailable` (transient) or
    :class:`QueueError` (anything else, such as a script error), with the
    native error as ``__cause__``."""
    try:
        yield
    except QueueError:
        raise
    except (RedisError, RedisClusterException, OSError) as exc:
        kind = BackendUnavailable if is_transient(exc) else QueueError
        raise kind(f"{context}: {exc!r}") from exc
