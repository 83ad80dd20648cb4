"""Redis' own ceiling on this machine: ``redis-benchmark`` against the
private server, 50 clients, unpipelined (-P 1) and pipelined (-P 16)."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from typing import Any

from benchmarks._server import RedisServer

CLIENTS = 50
PIPELINES = (1, 16)
LIFECYCLE = """
redis.call('ZADD', KEYS[1], 1, ARGV[1])
local job = redis.call('ZPOPMIN', KEYS[1])
redis.call('ZADD', KEYS[2], 2, job[1])
redis.call('ZREM', KEYS[2], job[1])
return 1
"""


NAMES = (
    "SET",
    "GET",
    "LPUSH",
    "LPOP",
    "ZADD",
    "EVALSHA return 1",
    "EVALSHA lifecycle (ZADD+ZPOPMIN+ZADD+ZREM)",
)


def binary() -> str | None:
    return shutil.which("redis-benchmark") or (
        "/usr/bin/redis-benchmark" if shutil.which("/usr/bin/redis-benchmark") else None
    )


def tests(server: RedisServer) -> list[tuple[str, list[str]]]:
    """(name, redis-benchmark arguments) per test; loads the scripts."""
    one = server.client.script_load("return 1")
    lifecycle = server.client.script_load(LIFECYCLE)
    arguments = [
        ["-t", "set"],
        ["-t", "get"],
        ["-t", "lpush"],
        ["-t", "lpop"],
        ["-t", "zadd"],
        ["evalsha", one, "0"],
        ["-r", "100000", "evalsha", lifecycle, "2", "q", "inflight", "__rand_int__"],
    ]
    return list(zip(NAMES, arguments, strict=True))


def run_ceiling(server: RedisServer, requests: int) -> list[dict[str, Any]]:
    """One pass over every test and pipeline depth."""
    path = binary()
    if path is None:
        return [{"test": "redis-benchmark", "status": "error", "error": "not installed"}]
    results: list[dict[str, Any]] = []
    for name, arguments in tests(server):
        for pipeline in PIPELINES:
            server.flush()
            argv = [path, "-h", "127.0.0.1", "-p", str(server.port), "-c", str(CLIENTS)]
            argv += ["-n", str(requests), "-P", str(pipeline), "--csv", *arguments]
            row: dict[str, Any] = {"test": name, "pipeline": pipeline}
            try:
                done = subprocess.run(
                    argv, capture_output=True, text=True, timeout=120, check=False
                )
            except subprocess.TimeoutExpired:
                results.append({**row, "status": "timeout"})
                continue
            parsed = _parse(done.stdout)
            if parsed is None:
                error = (done.stderr or done.stdout).strip()[-500:]
                results.append({**row, "status": "error", "error": error})
            else:
                results.append({**row, "status": "ok", **parsed})
    server.flush()
    return results


def _parse(stdout: str) -> dict[str, float] | None:
    rows = list(csv.reader(io.StringIO(stdout)))
    if len(rows) < 2 or rows[0][:2] != ["test", "rps"]:
        return None
    header, values = rows[0], rows[-1]
    record = dict(zip(header, values, strict=False))
    try:
        return {"rps": float(record["rps"]), "p50_ms": float(record["p50_latency_ms"])}
    except (KeyError, ValueError):
        return None
