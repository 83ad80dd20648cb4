"""The Lua scripts: loaded from ``lua/*.lua`` (each prefixed with the
helpers of ``lua/_common.lua`` it uses) and run by SHA, with ``NOSCRIPT`` (after a restart, a
failover or ``SCRIPT FLUSH``) recovered by sending the script itself."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, cast

from redis.asyncio import Connection, ConnectionPool, Redis, RedisCluster
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._errors import address_of, translated

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
    (in C) and it goes out on a connection of the client's own pool, with
    the client's retry policy. Same wire bytes, same connections, same
    errors; about a third less client CPU per call (see benchmarks/README.md).
    A cluster client takes redis-py's path (it routes by key).
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

    async def __call__(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        script = self._scripts[name]
        with translated(f"{name} script", self.where):
            try:
                async with asyncio.timeout(self._timeout):
                    if self._pool is not None and self._pack is not None:
                        return await self._direct(self._pool, self._pack, script, keys, args)
                    try:
                        return await self._client.execute_command(
                            "EVALSHA", script.sha, len(keys), *keys, *args
                        )
                    except NoScriptError:
                        # the server lost its script cache: EVAL runs the
                        # script and caches it again (the first call did not run)
                        return await self._client.execute_command(
                            "EVAL", script.text, len(keys), *keys, *args
                        )
            except TimeoutError as exc:
                if isinstance(exc, RedisTimeoutError):
                    raise
                raise RedisTimeoutError(
                    f"no reply within the command timeout of {self._timeout:g}s"
                ) from exc

    @property
    def scripts(self) -> dict[str, Script]:
        return self._scripts

    def packed(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> bytes:
        """The ``EVALSHA`` call of script ``name`` as wire bytes (to send
        behind another command on one connection)."""
        script = self._scripts[name]
        return pack(("EVALSHA", script.sha, len(keys), *keys, *args))

    @staticmethod
    async def _direct(
        pool: ConnectionPool,
        pack: Callable[[tuple[Any, ...]], bytes],
        script: Script,
        keys: Sequence[str],
        args: Sequence[Any],
    ) -> Any:
        """One script call on a pooled connection, packed by hiredis; a
        dropped connection is retried as the client's retry policy says
        (every script is safe to run twice)."""
        command = pack(("EVALSHA", script.sha, len(keys), *keys, *args))
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:

            async def send(packed: bytes) -> Any:
                await conn.send_packed_command(packed)
                return await conn.read_response()

            async def dropped(error: Exception) -> None:
                await conn.disconnect()

            try:
                return await conn.retry.call_with_retry(lambda: send(command), dropped)
            except NoScriptError:
                # the server lost its script cache: EVAL runs the script and
                # caches it again (the first call did not run)
                fallback = pack(("EVAL", script.text, len(keys), *keys, *args))
                return await conn.retry.call_with_retry(lambda: send(fallback), dropped)
        finally:
            await pool.release(conn)
