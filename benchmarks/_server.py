"""A private ``redis-server`` for one benchmark run.

It listens on a free port of 127.0.0.1 (never 6379), keeps nothing on disk
(``--save '' --appendonly no``, in a temporary directory) and is stopped
when the run ends, by its own process id only.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from types import TracebackType
from typing import Any, Self

import redis

REDIS_SERVER = "/usr/bin/redis-server"
RESERVED_PORTS = {6379}


def free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in RESERVED_PORTS:
            return port


def server_binary() -> str:
    path = REDIS_SERVER if shutil.which(REDIS_SERVER) else shutil.which("redis-server")
    if not path:
        raise SystemExit(
            "redis-server not found: install it (Debian: apt-get install redis-server)"
        )
    return path


class RedisServer:
    """``with RedisServer() as server:`` starts it; leaving the block stops it."""

    def __init__(self) -> None:
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._client: redis.Redis | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def client(self) -> redis.Redis:
        assert self._client is not None, "server not started"
        return self._client

    def start(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="queue-bench-redis-")
        for _ in range(5):
            self.port = free_port()
            command = [server_binary(), "--port", str(self.port), "--bind", "127.0.0.1"]
            command += ["--save", "", "--appendonly", "no", "--dir", self._dir.name]
            command += ["--daemonize", "no", "--loglevel", "warning", "--maxclients", "1000"]
            self.process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            self._client = redis.Redis(host="127.0.0.1", port=self.port)
            if self._wait_ready():
                return
            self._kill()
        raise SystemExit("could not start a private redis-server")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False  # exited (port taken between probe and bind?)
            with contextlib.suppress(redis.ConnectionError):
                if self.client.ping():
                    return True
            time.sleep(0.05)
        return False

    def flush(self) -> None:
        """Empty every database (scripts stay loaded)."""
        self.client.flushall()

    def info(self, section: str | None = None) -> dict[str, Any]:
        return dict(self.client.info(section) if section else self.client.info())

    def _kill(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5.0)

    def stop(self) -> None:
        self._kill()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
