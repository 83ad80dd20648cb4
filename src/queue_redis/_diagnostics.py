"""What the server promises: version, eviction policy, persistence."""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any, Final

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

from queue_core import QueueError

from ._errors import address_of, translated

__all__ = ["MIN_VERSION", "Diagnostics", "client_warnings", "diagnose"]

logger = logging.getLogger("queue_redis")
MIN_VERSION: Final = (6, 0)
_FSYNC_RANK: Final = {"no": 1, "everysec": 2, "always": 3}


@dataclass(frozen=True, kw_only=True, slots=True)
class Diagnostics:
    """The server's settings that matter to a queue (on a cluster, the
    weakest primary's: lowest version, first policy other than
    ``noeviction``, AOF only if every primary has it).

    * ``version``: ``redis_version`` from ``INFO``.
    * ``maxmemory_policy``: anything but ``noeviction`` lets Redis delete
      queue keys under memory pressure (lost jobs).
    * ``aof_enabled``: whether writes are logged to the append-only file.
    * ``appendfsync``: ``always``, ``everysec`` or ``no`` (``None`` when
      ``CONFIG GET`` is not allowed, as on many managed services).
    * ``rdb_save``: the snapshot schedule (``""``: none; ``None``: unknown).
    * ``cluster``: Redis Cluster mode; ``primaries``: how many primaries.
    * ``warnings``: what the driver logged about these settings.
    """

    version: str
    maxmemory_policy: str
    aof_enabled: bool
    appendfsync: str | None
    rdb_save: str | None
    cluster: bool
    primaries: int
    warnings: tuple[str, ...]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


async def _config(client: Any, name: str, **route: Any) -> str | None:
    """A ``CONFIG GET`` value, or ``None`` where CONFIG is not allowed."""
    try:
        reply = await client.config_get(name, **route)
    except ResponseError:
        return None
    for key, value in dict(reply).items():
        if _text(key) == name:
            return _text(value)
    return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def client_warnings(client: Redis | RedisCluster, command_timeout: float | None) -> list[str]:
    """What is risky in how ``client`` was built (compared with
    :func:`queue_redis.make_client`)."""
    kwargs = client.get_connection_kwargs()
    hint = "build the client with queue_redis.make_client(url)"
    warnings = []
    defaults = inspect.signature(AbstractConnection.__init__).parameters
    socket_timeout = kwargs.get("socket_timeout", defaults["socket_timeout"].default)
    if socket_timeout is not None and command_timeout and socket_timeout < command_timeout:
        warnings.append(
            f"the client's socket_timeout ({socket_timeout:g}s) is shorter than the driver's "
            f"command_timeout ({command_timeout:g}s): a slow script fails as a socket timeout "
            f"first; {hint}"
        )
    connect_timeout = kwargs.get(
        "socket_connect_timeout", defaults["socket_connect_timeout"].default
    )
    if connect_timeout is None:
        warnings.append(
            f"the client has no socket_connect_timeout: an unreachable host blocks a call "
            f"for the operating system's connect timeout (minutes); {hint}"
        )
    retry = client.retry if isinstance(client, RedisCluster) else client.get_retry()
    retries = retry.get_retries() if retry is not None else 0
    if retries == 0 and not isinstance(client, RedisCluster):
        warnings.append(
            "the client does not re-send a command after a dropped connection: every "
            "connection the server closes (restart, failover, idle timeout) fails a call "
            f"with BackendUnavailable; {hint}"
        )
    elif retries > 3:
        warnings.append(
            f"the client re-sends a failed command up to {retries} times with backoff: a "
            f"refused connection takes seconds to fail instead of well under one; {hint}"
        )
    return warnings


async def diagnose(
    client: Redis | RedisCluster, *, command_timeout: float | None = None
) -> Diagnostics:
    """Read the settings with ``INFO`` (and ``CONFIG GET`` where allowed),
    log a warning for each risky one (the client's own settings included),
    and return them.

    :raises QueueError: the server is older than Redis 6.0.
    :raises BackendUnavailable: the server cannot be reached.
    """
    with translated("diagnostics", address_of(client)):
        if isinstance(client, RedisCluster):
            await client.initialize()
            primaries = client.get_primaries()
            infos = [await client.info(target_nodes=node) for node in primaries]
            fsyncs = [await _config(client, "appendfsync", target_nodes=n) for n in primaries]
            fsync = min(fsyncs, key=lambda v: _FSYNC_RANK.get(v or "", 0))
            save = await _config(client, "save", target_nodes=primaries[0])
        else:
            infos = [await client.info()]
            fsync = await _config(client, "appendfsync")
            save = await _config(client, "save")
    versions = sorted((str(info.get("redis_version", "0")) for info in infos), key=_version)
    policies = [str(info.get("maxmemory_policy", "noeviction")) for info in infos]
    policy = next((p for p in policies if p != "noeviction"), "noeviction")
    aof = all(int(info.get("aof_enabled", 0)) == 1 for info in infos)
    cluster = any(int(info.get("cluster_enabled", 0)) == 1 for info in infos)
    version = versions[0]
    warnings = client_warnings(client, command_timeout)
    if policy != "noeviction":
        warnings.append(
            f"maxmemory-policy is {policy!r}: Redis may evict queue keys and lose jobs; "
            "set it to 'noeviction'"
        )
    if not aof:
        warnings.append("AOF is off: jobs enqueued since the last snapshot die with the server")
    elif fsync not in (None, "always", "everysec"):
        warnings.append(f"appendfsync is {fsync!r}: a machine crash loses recent jobs")
    for warning in warnings:
        logger.warning("queue_redis: %s", warning)
    if _version(version) < MIN_VERSION:
        raise QueueError(f"Redis {version} is too old: queue_redis needs Redis 6.0 or newer")
    return Diagnostics(
        version=version,
        maxmemory_policy=policy,
        aof_enabled=aof,
        appendfsync=fsync,
        rdb_save=save,
        cluster=cluster,
        primaries=len(infos),
        warnings=tuple(warnings),
    )
