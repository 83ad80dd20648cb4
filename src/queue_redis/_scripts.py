"""The Lua scripts: loaded from ``lua/*.lua`` (each prefixed with the
helpers of ``lua/_common.lua`` it uses) and run by SHA, with ``NOSCRIPT`` (after a restart, a
failover or ``SCRIPT FLUSH``) recovered by sending the script itself."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, cast

from redis.asyncio import Connection, ConnectionPool, Redis, RedisCluster
from redis.exceptions import (
    ConnectionError,
    NoScriptError,
    RedisClusterException,
    RedisError,
)
from redis.exceptions import TimeoutError as RedisTimeoutError

from queue_core import QueueError

from ._errors import address_of
from ._errors import translated_error as _translated

__all__ = ["SCRIPT_NAMES", "Script", "ScriptRunner", "load_scripts", "pack"]

SCRIPT_NAMES: Final = (
    "ack",
    "ack_claim",
    "cancel",
    "cancel_requested",
    "claim",
    "counts",
    "dead_letter",
    "enqueue",
    "extend",
    "get",
    "limits",
    "list",
    "peek",
    "purge",
    "reap",
    "redrive",
    "release",
    "retry",
)


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    text: bytes
    sha: str


_DEFINED = re.compile(r"^local (?:function )?(\w+)", re.MULTILINE)
_COMMENT = re.compile(r"--[^\n]*")


def _prelude(common: str, body: str) -> str:
    """The blocks of ``common`` (separated by blank lines) that ``body``
    uses, directly or through other blocks, in their order: a script runs
    its whole prelude on every call, so unused helpers cost time."""
    blocks = common.split("\n\n")
    names = [set(_DEFINED.findall(block)) for block in blocks]
    code = [_COMMENT.sub("", block) for block in blocks]
    used = [not found for found in names]  # comment-only blocks: keep
    pending = [_COMMENT.sub("", body)]
    while pending:
        text = pending.pop()
        words = set(re.findall(r"\w+", text))
        for i, found in enumerate(names):
            if not used[i] and found & words:
                used[i] = True
                pending.append(code[i])
    return "\n\n".join(block for block, keep in zip(blocks, used, strict=True) if keep)


def load_scripts() -> dict[str, Script]:
    """Every script, keyed by name."""
    folder = resources.files("queue_redis") / "lua"
    common = (folder / "_common.lua").read_text("utf-8")
    scripts = {}
    for name in SCRIPT_NAMES:
        body = (folder / f"{name}.lua").read_text("utf-8")
        text = (_prelude(common, body) + "\n" + body).encode("utf-8")
        scripts[name] = Script(name, text, hashlib.sha1(text).hexdigest())
    return scripts


def _hiredis_packer() -> Callable[[tuple[Any, ...]], bytes] | None:
    try:
        from hiredis import pack_command
    except ImportError:  # pragma: no cover - hiredis is part of the redis extra
        return None
    return cast(Callable[[tuple[Any, ...]], bytes], pack_command)


_PACK = _hiredis_packer()


def pack(command: tuple[Any, ...]) -> bytes:
    """A command as wire bytes: by hiredis (in C) when installed, else by
    redis-py's own packer."""
    if _PACK is not None:
        return _PACK(command)
    return b"".join(Connection().pack_command(*command))  # pragma: no cover


class ScriptRunner:
    """Runs scripts on the caller's client; translates errors; bounds every
    call by ``timeout`` seconds (``None``: no bound). Arguments are str,
    bytes or int.

    On a standalone (or Sentinel-managed) client with hiredis installed, a
    call skips redis-py's generic command path: hiredis packs the command
    (in C) and it goes out on a connection of the client's own pool. A call
    that is safe to deliver twice (``resend``) is re-sent after a dropped
    connection as the client's retry policy says; one that is not is never
    re-sent once it may have reached the server (a failure then raises
    :class:`~queue_core.BackendUnavailable`: outcome unknown). Same wire
    bytes, same connections; about a third less client CPU per call (see
    benchmarks/README.md). A cluster client takes redis-py's path (it
    routes by key, and re-sends on its own: :attr:`resends_on_its_own`).

    The command timeout is kept by one watchdog task per event loop that
    cancels calls past their deadline (cheaper than a timer per call).
    """

    def __init__(self, client: Redis | RedisCluster, timeout: float | None) -> None:
        self._client = client
        self._timeout = timeout
        self._scripts = load_scripts()
        self.where = address_of(client)
        self._pack = _PACK
        self._pool: ConnectionPool | None = None
        if isinstance(client, Redis) and not client.single_connection_client:
            self._pool = client.connection_pool
        self._kept: list[Any] = []  # connections at hand (taken from the pool)
        self._keep = 0
        if self._pool is not None and self._pool.max_connections >= 32:
            self._keep = 4
        self._deadlines: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._watchdog: asyncio.Task[None] | None = None

    @property
    def resends_on_its_own(self) -> bool:
        """Whether the client may deliver a call twice by itself (redis-py's
        generic path re-sends after a dropped connection): such calls need
        a re-send guard of their own."""
        return self._pool is None or self._pack is None

    async def __call__(
        self, name: str, keys: Sequence[str], args: Sequence[Any], *, resend: bool = True
    ) -> Any:
        script = self._scripts[name]
        task = asyncio.current_task()
        if self._timeout is not None and task is not None:
            self._deadlines[task] = asyncio.get_running_loop().time() + self._timeout
            loop = asyncio.get_running_loop()
            if (
                self._watchdog is None
                or self._watchdog.done()
                or self._watchdog.get_loop() is not loop
            ):
                self._watchdog = loop.create_task(self._watch())
        try:
            if self._pool is not None and self._pack is not None:
                return await self._direct(self._pool, self._pack, script, keys, args, resend)
            try:
                return await self._client.execute_command(
                    "EVALSHA", script.sha, len(keys), *keys, *args
                )
            except NoScriptError:
                # the server lost its script cache: EVAL runs the script and
                # caches it again (the first call did not run)
                return await self._client.execute_command(
                    "EVAL", script.text, len(keys), *keys, *args
                )
        except QueueError:
            raise
        except asyncio.CancelledError:
            if task not in self._expired or task is None or task.uncancel() > 0:
                raise
            error = RedisTimeoutError(f"no reply within the command timeout of {self._timeout:g}s")
            raise _translated(error, f"{name} script", self.where) from None
        except (RedisError, RedisClusterException, OSError) as exc:
            raise _translated(exc, f"{name} script", self.where) from exc
        finally:
            if task is not None:
                self._deadlines.pop(task, None)
                self._expired.discard(task)

    async def _watch(self) -> None:
        """Cancel calls that run past their deadline (checked ten times per
        command timeout, at most every second); ends when none is left."""
        assert self._timeout is not None
        tick = min(1.0, self._timeout / 10)
        loop = asyncio.get_running_loop()
        while self._deadlines:
            await asyncio.sleep(tick)
            now = loop.time()
            for task, deadline in list(self._deadlines.items()):
                if deadline <= now and task not in self._expired:
                    self._expired.add(task)
                    task.cancel()

    async def close(self) -> None:
        """Stop the watchdog (calls still running keep their own fate) and
        give the connections kept at hand back to the client's pool."""
        if self._watchdog is not None and not self._watchdog.done():
            with contextlib.suppress(RuntimeError):  # its loop is gone
                self._watchdog.cancel()
        kept, self._kept = self._kept, []
        if self._pool is not None:
            for conn in kept:
                with contextlib.suppress(Exception):
                    await self._pool.release(conn)

    @property
    def scripts(self) -> dict[str, Script]:
        return self._scripts

    def packed(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> bytes:
        """The ``EVALSHA`` call of script ``name`` as wire bytes (to send
        behind another command on one connection)."""
        script = self._scripts[name]
        return pack(("EVALSHA", script.sha, len(keys), *keys, *args))

    async def _direct(
        self,
        pool: ConnectionPool,
        pack: Callable[[tuple[Any, ...]], bytes],
        script: Script,
        keys: Sequence[str],
        args: Sequence[Any],
        resend: bool = True,
    ) -> Any:
        """One script call on a connection of the client's pool, packed by
        hiredis. ``resend``: a dropped connection is retried as the client's
        retry policy says; otherwise the call is delivered once. A few
        connections are kept at hand between calls (taking one from the
        pool and giving it back costs more than the call's own work)."""
        command = pack(("EVALSHA", script.sha, len(keys), *keys, *args))
        kept = self._kept
        conn = kept.pop() if kept else await pool.get_connection()  # type: ignore[no-untyped-call]
        try:

            async def send(packed: bytes) -> Any:
                await conn.send_packed_command(packed)
                return await conn.read_response()

            async def dropped(error: Exception) -> None:
                await conn.disconnect()

            async def deliver(packed: bytes) -> Any:
                if resend:
                    return await conn.retry.call_with_retry(lambda: send(packed), dropped)
                try:
                    return await send(packed)
                except (ConnectionError, RedisTimeoutError, OSError):
                    await conn.disconnect()
                    raise

            try:
                return await deliver(command)
            except NoScriptError:
                # the server lost its script cache: EVAL runs the script and
                # caches it again (the first call did not run; the EVAL is
                # delivered as the first would have been)
                return await deliver(pack(("EVAL", script.text, len(keys), *keys, *args)))
        finally:
            if len(kept) < self._keep:
                kept.append(conn)
            else:
                await pool.release(conn)
