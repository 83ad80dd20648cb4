"""``qtk worker --processes N``: start N worker processes, forward signals,
restart one that dies (with a capped backoff), exit when all have stopped.

Each child is ``python -m queue_core worker ... --processes 1`` in a
session of its own (so that a Ctrl-C in a terminal reaches the supervisor
only, which forwards it once); the URL travels in ``QUEUE_URL``, never on
a command line that ``ps`` shows. A child stops by itself if the
supervisor dies (it watches its parent pid).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Final

from .._url import URL_ENV
from ._common import EXIT_FAILURE, EXIT_OK, HEARTBEAT_INTERVAL
from ._worker import EXIT_NOW_SIGNAL, SUPERVISOR_ENV

__all__ = ["supervise"]

logger = logging.getLogger("queue_core.cli")

POLL: Final = 0.05  # seconds between checks of the children
FIRST_BACKOFF: Final = 0.5  # seconds before a restart after one quick death
MAX_BACKOFF: Final = 30.0
STABLE_AFTER: Final = 30.0  # a child that ran this long resets its backoff
KILL_AFTER: Final = 5.0  # after a second signal, children still alive this long are killed


@dataclass(slots=True)
class _Slot:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    done: bool = False
    code: int | None = None


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def supervise(
    processes: int,
    child_args: Sequence[str],
    *,
    url: str | None,
    burst: bool,
    metrics_port: int | None,
    health_file: Path | None,
) -> int:
    """Run ``processes`` workers with ``child_args`` until they have all
    stopped after a signal (or, with ``burst``, all exited 0); return the
    exit code: 0 when every child stopped cleanly, 1 otherwise, 128 + N
    after a second signal N."""
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    env = dict(os.environ)
    env[SUPERVISOR_ENV] = str(os.getpid())
    if url is not None:
        env[URL_ENV] = url
    slots = [_Slot(i) for i in range(processes)]

    def start(slot: _Slot) -> None:
        args = [sys.executable, "-m", "queue_core", "worker", *child_args]
        if metrics_port is not None:
            port = metrics_port + slot.index if metrics_port else 0
            args += ["--metrics-port", str(port)]
        slot.process = subprocess.Popen(
            args, env=env | {"QTK_WORKER_INDEX": str(slot.index)}, start_new_session=True
        )
        slot.started_at = time.monotonic()
        slot.restart_at = None
        logger.info(
            "started worker process %d of %d (pid %d)",
            slot.index + 1,
            processes,
            slot.process.pid,
        )

    def forward(signum: int) -> None:
        for slot in slots:
            if slot.process is not None and slot.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.process.pid, signum)

    stopping = False
    hard_code: int | None = None
    kill_at = 0.0
    last_beat = 0.0
    try:
        for slot in slots:
            start(slot)
        while True:
            now = time.monotonic()
            while received:
                signum = received.pop(0)
                name = signal.Signals(signum).name
                if not stopping:
                    stopping = True
                    logger.info("%s received: stopping the worker processes gracefully", name)
                else:
                    hard_code = 128 + signum
                    kill_at = now + KILL_AFTER
                    logger.warning("second signal (%s): the worker processes exit now", name)
                # a worker counts only its first SIGTERM/SIGINT (a service
                # manager may signal the whole group too): a second one is this
                forward(signum if hard_code is None else EXIT_NOW_SIGNAL)
            for slot in slots:
                if slot.done or slot.process is None:
                    continue
                code = slot.process.poll()
                if code is None:
                    continue
                slot.code = code
                pid = slot.process.pid
                slot.process = None
                if stopping or (burst and code == 0):
                    slot.done = True
                    continue
                ran = now - slot.started_at
                slot.failures = 1 if ran >= STABLE_AFTER else slot.failures + 1
                delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (slot.failures - 1))
                slot.restart_at = now + delay
                logger.warning(
                    "worker process %d (pid %d) ended with %s after %.1f s; restarting in %.1f s",
                    slot.index + 1,
                    pid,
                    _describe(code),
                    ran,
                    delay,
                )
            for slot in slots:
                if stopping and slot.process is None:
                    slot.done = True
                elif (
                    not stopping
                    and slot.process is None
                    and slot.restart_at is not None
                    and now >= slot.restart_at
                ):
                    start(slot)
            if all(slot.done for slot in slots):
                break
            if hard_code is not None and now >= kill_at:
                for slot in slots:
                    if slot.process is not None and slot.process.poll() is None:
                        logger.error("killing worker process %d", slot.process.pid)
                        slot.process.kill()
                        slot.process.wait()
                break
            if health_file is not None and now - last_beat >= HEARTBEAT_INTERVAL:
                alive = all(s.process is not None and s.process.poll() is None for s in slots)
                if alive:
                    try:
                        health_file.touch()
                        last_beat = now
                    except OSError as exc:
                        logger.warning("cannot touch the health file %s (%s)", health_file, exc)
            time.sleep(POLL)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if health_file is not None:
            with contextlib.suppress(OSError):
                health_file.unlink()
    if hard_code is not None:
        return hard_code
    # a worker still starting when the signal came dies of it: it held nothing
    clean_codes = {0, -signal.SIGTERM, -signal.SIGINT} if stopping else {0}
    clean = all(slot.code in clean_codes for slot in slots)
    logger.info("all worker processes stopped")
    return EXIT_OK if clean else EXIT_FAILURE
