"""Redis servers for the tests: processes of our own on free ports (never the
machine's Redis), a URL from ``REDIS_URL``, or a Docker container through
testcontainers.

* :class:`RedisServer`: one ``redis-server`` in a temp dir (optionally with
  AOF ``appendfsync always``), restartable on the same port and data.
* :class:`RedisClusterProcess`: three primaries joined with
  ``redis-cli --cluster create``.
* :func:`unavailable`: skip the test, or fail it under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from redis.asyncio import Redis, RedisCluster

from queue_redis import make_client

__all__ = [
    "RedisClusterProcess",
    "RedisSentinel",
    "RedisServer",
    "blocked_client_ids",
    "connect",
    "free_port",
    "have_redis_binary",
    "in_ci",
    "temp_dir",
    "unavailable",
    "unique_topic",
    "until",
]

START_TIMEOUT = 20.0


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> NoReturn:
    """A test that needs Redis cannot have it: a failure in CI, else a skip."""
    if in_ci():
        pytest.fail(f"CI=true and no Redis: {reason}", pytrace=False)
    pytest.skip(reason)


def have_redis_binary() -> bool:
    return shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, cluster: bool = False) -> int:
    """A free TCP port on 127.0.0.1 (with ``cluster``, its bus port + 10000
    too), never 6379."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port == 6379 or (cluster and (port + 10000 > 65535 or not _port_free(port + 10000))):
            continue
        return port
    raise RuntimeError("no free port")


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A ``redis-server`` process of the tests' own."""

    def __init__(
        self,
        directory: Path,
        *,
        port: int | None = None,
        aof: bool = False,
        fsync: str = "always",
        extra: tuple[str, ...] = (),
    ) -> None:
        self.directory = directory
        self.port = port or free_port(cluster="--cluster-enabled" in extra)
        self.aof = aof
        self.fsync = fsync
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.directory / f"redis-{self.port}.log"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--dir", str(self.directory), "--save", "", "--daemonize", "no"]
        args += ["--logfile", str(self.log), "--protected-mode", "no"]
        if self.aof:
            args += ["--appendonly", "yes", "--appendfsync", self.fsync]
        else:
            args += ["--appendonly", "no"]
        args += self.extra
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while not _ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.log.read_text() if self.log.exists() else ""
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start:\n{log}")
            time.sleep(0.02)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the process (SIGTERM: a clean shutdown that flushes the AOF;
        ``kill``: SIGKILL, a crash)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args],
            capture_output=True,
            check=True,
            timeout=30,
        )
        return out.stdout.decode()


class RedisClusterProcess:
    """Three primaries, no replicas, slots split by ``redis-cli``."""

    def __init__(self, directory: Path, size: int = 3) -> None:
        self.nodes = []
        for i in range(size):
            node_dir = directory / f"node{i}"
            extra: tuple[str, ...] = ("--cluster-enabled", "yes", "--cluster-config-file")
            extra += (str(node_dir / "nodes.conf"), "--cluster-node-timeout", "5000")
            self.nodes.append(RedisServer(node_dir, extra=extra))

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> None:
        for node in self.nodes:
            (node.directory / "nodes.conf").unlink(missing_ok=True)
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses]
            + ["--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            check=True,
            timeout=60,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not all("cluster_state:ok" in node.cli("CLUSTER", "INFO") for node in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis cluster did not become ready")
            time.sleep(0.05)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class RedisSentinel:
    """A Sentinel watching one primary under the name ``master``."""

    def __init__(self, directory: Path, primary: RedisServer) -> None:
        self.directory = directory
        self.primary = primary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "sentinel.conf"
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.directory}\n"
            f"sentinel monitor master 127.0.0.1 {self.primary.port} 1\n"
        )
        self.process = subprocess.Popen(
            ["redis-server", str(config), "--sentinel", "--logfile", "sentinel.log"],
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not _ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis sentinel did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(10)


@contextlib.contextmanager
def temp_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="queue-redis-") as name:
        yield Path(name)


@contextlib.asynccontextmanager
async def connect(url: str, *, cluster: bool = False) -> AsyncIterator[Redis | RedisCluster]:
    """A client for ``url`` made the recommended way (closed at the end)."""
    if cluster:
        url = "redis+cluster://" + url.split("://", 1)[1]
    client = make_client(url)
    try:
        yield client
    finally:
        await client.aclose()


def unique_topic(hint: str = "t") -> str:
    """A topic name no other test uses (the servers are shared)."""
    return f"{hint}-{uuid.uuid4().hex[:10]}"


async def blocked_client_ids(client: Redis) -> set[int]:
    """Ids of the server's clients blocked in BLPOP."""
    listing = await client.execute_command("CLIENT", "LIST")  # type: ignore[no-untyped-call]
    text = listing.decode() if isinstance(listing, bytes) else str(listing)
    ids = set()
    for line in text.splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if fields.get("cmd") == "blpop":
            ids.add(int(fields["id"]))
    return ids


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Poll a server-side condition that nothing can await (a client
    blocking, for example)."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)
