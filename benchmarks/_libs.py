"""What is measured: our queue and each peer, with the setting each runs at,
and how to run one measuring step of it in its own process and venv."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._adapter import parse_result

ROOT = Path(__file__).resolve().parent.parent
VENVS = {
    "main": Path(sys.executable),
    "peers": ROOT / "benchmarks" / ".venv-peers" / "bin" / "python",
    "peers-r5": ROOT / "benchmarks" / ".venv-peers-r5" / "bin" / "python",
}


@dataclass(frozen=True, kw_only=True)
class Lib:
    key: str
    label: str
    venv: str
    module: str
    dists: tuple[str, ...]
    setting: str
    drain_c: tuple[int, ...] = (10, 50)
    latency_c: int = 10
    bulk: bool = False
    acked: bool = True
    n_cap: int | None = None
    extra: tuple[str, ...] = ()
    notes: str = ""
    # the module whose ``syncenqueue`` command measures the library's sync
    # producer, one blocking call per job (None: not measured)
    sync_enqueue: str | None = None

    @property
    def python(self) -> Path:
        return VENVS[self.venv]


OURS = Lib(
    key="ours",
    label="**ours** (queue_redis)",
    venv="main",
    module="benchmarks.ours",
    dists=("queue-toolkit", "redis", "hiredis"),
    setting="asyncio; concurrency=c (default 10), batch_size default (= c)",
    bulk=True,
    notes="Lua scripts over sorted sets; lease + ack (batched acker); enqueue_many in "
    "batches of 1,000.",
    sync_enqueue="benchmarks.ours_sync",
)

PEERS: tuple[Lib, ...] = (
    Lib(
        key="arq",
        label="arq",
        venv="peers-r5",
        module="benchmarks.peers.arq_peer",
        dists=("arq", "redis"),
        setting="max_jobs=c (default 10); poll_delay 0.5 s (default)",
        drain_c=(10,),
        n_cap=5000,
        notes="Polls the queue every poll_delay; no bulk API.",
    ),
    Lib(
        key="arq-fast",
        label="arq, poll_delay=0.01",
        venv="peers-r5",
        module="benchmarks.peers.arq_peer",
        dists=("arq", "redis"),
        setting="max_jobs=c; poll_delay 0.01 s (documented Worker arg)",
        n_cap=5000,
        extra=("--poll-delay", "0.01"),
        notes="Same arq, poll_delay lowered; its enqueue is the same code as arq's.",
    ),
    Lib(
        key="saq",
        label="SAQ",
        venv="peers-r5",
        module="benchmarks.peers.saq_peer",
        dists=("saq", "redis"),
        setting="concurrency=c (default 10)",
        notes="Lua enqueue, BLMOVE dequeue, per-job status updates; no bulk API.",
    ),
    Lib(
        key="streaq",
        label="streaQ",
        venv="peers",
        module="benchmarks.peers.streaq_peer",
        dists=("streaq", "coredis"),
        setting="anyio on asyncio; concurrency=c (default 16)",
        bulk=True,
        n_cap=10_000,
        notes="Streams + consumer group (coredis); bulk = worker.enqueue_many.",
    ),
    Lib(
        key="taskiq-stream",
        label="taskiq + RedisStreamBroker",
        venv="peers",
        module="benchmarks.peers.taskiq_peer",
        dists=("taskiq", "taskiq-redis", "redis"),
        setting="receiver in 1 process; max_async_tasks=c (CLI default 100)",
        extra=("--broker", "stream"),
        notes="XADD / XREADGROUP / XACK; no result backend; no bulk API.",
    ),
    Lib(
        key="taskiq-list",
        label="taskiq + ListQueueBroker",
        venv="peers",
        module="benchmarks.peers.taskiq_peer",
        dists=("taskiq", "taskiq-redis", "redis"),
        setting="receiver in 1 process; max_async_tasks=c (CLI default 100)",
        extra=("--broker", "list"),
        acked=False,
        notes="LPUSH/BRPOP, no ack (a crashed worker loses its jobs); no bulk API.",
    ),
    Lib(
        key="bullmq",
        label="BullMQ (Python)",
        venv="peers",
        module="benchmarks.peers.bullmq_peer",
        dists=("bullmq", "redis"),
        setting="concurrency=c (default 1)",
        bulk=True,
        notes="Node BullMQ Lua scripts; completed jobs kept (default); bulk = addBulk.",
    ),
    Lib(
        key="dramatiq",
        label="Dramatiq",
        venv="peers",
        module="benchmarks.peers.dramatiq_peer",
        dists=("dramatiq", "redis"),
        setting="1 process x c threads (default 8)",
        drain_c=(8,),
        latency_c=8,
        notes="Lua dispatch per enqueue / fetch / ack; prefetch 2 x threads; no bulk API.",
        sync_enqueue="benchmarks.peers.dramatiq_peer",
    ),
    Lib(
        key="huey",
        label="Huey",
        venv="peers",
        module="benchmarks.peers.huey_peer",
        dists=("huey", "redis"),
        setting="consumer with c worker threads (default 1)",
        drain_c=(1, 8),
        latency_c=1,
        acked=False,
        notes="RPUSH + BRPOP; no in-flight record or ack (a crash loses the task).",
    ),
    Lib(
        key="rq",
        label="RQ",
        venv="peers",
        module="benchmarks.peers.rq_peer",
        dists=("rq", "redis"),
        setting="SimpleWorker (no fork), 1 job at a time, work(burst=True)",
        drain_c=(1,),
        latency_c=1,
        bulk=True,
        acked=False,
        n_cap=5000,
        notes="Abandoned jobs go to the failed registry (not re-run); bulk = enqueue_many.",
        sync_enqueue="benchmarks.peers.rq_peer",
    ),
)

ALL: tuple[Lib, ...] = (OURS, *PEERS)

_current: subprocess.Popen[str] | None = None


def run_step(
    lib: Lib,
    command: str,
    n: int,
    url: str,
    *,
    concurrency: int | None = None,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Run one command of ``lib``'s adapter in a fresh process; its result
    (``status`` is ``ok``, ``timeout``, ``error``, ``lost``, ``duplicates``
    or ``unsupported``)."""
    global _current
    argv = [str(lib.python), "-m", lib.module, command, str(n), "--url", url]
    argv += ["--timeout", str(timeout), *lib.extra]
    if concurrency is not None:
        argv += ["--concurrency", str(concurrency)]
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    _current = process  # stays set if we are interrupted: kill_current() ends it
    try:
        out, err = process.communicate(timeout=timeout * 2 + 30)
    except subprocess.TimeoutExpired:
        kill_current()
        process.communicate()
        _current = None
        return {"status": "timeout", "error": "step did not finish; killed"}
    _current = None
    result = parse_result(out)
    if result is None:
        tail = (err or out).strip()[-1500:]
        return {"status": "error", "error": f"exit {process.returncode}: {tail}"}
    return result


def kill_current() -> None:
    """Kill the step process we started (and its own children: the process
    group it leads), if one is running."""
    process = _current
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.wait(5.0)


def probe(lib: Lib) -> str | None:
    """None if ``lib``'s adapter imports in its venv, else why not."""
    if not lib.python.exists():
        return f"{lib.python} missing (run scripts/bench to create the venvs)"
    check = f"import {lib.module}"
    if lib is OURS:
        check += "; from queue_redis import RedisDriver"
    done = subprocess.run(
        [str(lib.python), "-c", check],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode == 0:
        return None
    return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "import failed"


def versions(venv: str, dists: list[str]) -> dict[str, str]:
    """Installed versions of ``dists`` in ``venv`` ('-' when missing)."""
    python = VENVS[venv]
    if not python.exists():
        return {}
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for d in sys.argv[1:]:\n"
        "    try: out[d] = m.version(d)\n"
        "    except m.PackageNotFoundError: out[d] = '-'\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run(
        [str(python), "-c", code, *dists], capture_output=True, text=True, check=False
    )
    found: dict[str, str] = json.loads(done.stdout) if done.returncode == 0 else {}
    return found
