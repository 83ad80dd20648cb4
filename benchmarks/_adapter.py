"""The measuring harness one library runs in its own process (and venv).

Standard library only: the peer adapters import it from virtualenvs that do
not have this project installed. Each adapter module subclasses
:class:`Adapter` and calls :func:`main`; the orchestrator (``run.py``) runs
one command per process and reads the single result line it prints:

* ``enqueue N``: N single awaited enqueues, timed as one loop.
* ``bulk N``: the library's batch API in batches of 1,000, timed.
* ``fill N``: put N jobs in the queue, untimed (bulk API if any).
* ``drain N --concurrency C``: N jobs are already waiting; start one worker
  and time from just before its start call to the N-th handler call. The
  handlers count their calls: the count must be exactly N (duplicates and
  losses show up as a status other than ``ok``).
* ``latency N --concurrency C``: start and warm up a worker, then a separate
  producer process enqueues N jobs one at a time, ``--interval`` seconds
  apart, each carrying ``time.time()``; handlers record ``now - ts``.
* ``produce N --interval S``: that producer.

Every payload is one float (the enqueue time). Every step is bounded by
``--timeout``; a step that runs out reports ``"status": "timeout"``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

RESULT_PREFIX = "@@RESULT "
BULK_BATCH = 1000
GRACE = 0.3  # seconds to keep counting after the N-th call (late duplicates)
STOP_TIMEOUT = 10.0


class Tracker:
    """Counts handler calls (thread-safe) and records pickup latencies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset(0)

    def reset(self, target: int) -> None:
        with self._lock:
            self.target = target
            self.count = 0
            self.done_at: float | None = None
            self.latencies: list[float] = []
            self.done = threading.Event()

    def hit(self, ts: object = None) -> None:
        """Called by every handler; ``ts`` is the payload (enqueue time)."""
        now = time.time()
        with self._lock:
            self.count += 1
            if isinstance(ts, int | float | str | bytes):
                self.latencies.append(now - float(ts))
            if self.count == self.target:
                self.done_at = time.perf_counter()
                self.done.set()


TRACK = Tracker()


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in [0, 100])."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


class Adapter:
    """One library, used as its documentation recommends.

    Override the producer hooks (``producer_open``, ``enqueue_one``,
    optionally ``enqueue_bulk``, ``producer_close``) and ``serve``. Hooks may
    be ``async def`` (run on one event loop) or plain functions; ``serve``
    must be async for an async library (the measurement runs on the same
    loop) and sync for a threaded one (it then runs in the main thread while
    the measurement runs in a helper thread).
    """

    name = "?"
    has_bulk = False

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.url: str = args.url

    # -- producer side ---------------------------------------------------------

    def producer_open(self) -> Any:
        return None

    def enqueue_one(self, ts: float) -> Any:
        raise NotImplementedError

    def enqueue_bulk(self, stamps: list[float]) -> Any:
        raise NotImplementedError

    def producer_close(self) -> Any:
        return None

    # -- worker side -------------------------------------------------------------

    def serve(self, concurrency: int, expected: int, stop: Any) -> Any:
        """Run one worker with ``concurrency`` until ``stop`` is set (an
        ``asyncio.Event`` for async serve, a ``threading.Event`` otherwise).
        ``expected`` is how many jobs it will see (for workers that can only
        stop after a job count)."""
        raise NotImplementedError


# -- running hooks whether sync or async -----------------------------------------


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


def _is_async(adapter: Adapter) -> bool:
    return inspect.iscoroutinefunction(adapter.serve) or inspect.iscoroutinefunction(
        adapter.enqueue_one
    )


# -- producer commands -----------------------------------------------------------


async def _enqueue_loop(adapter: Adapter, n: int) -> float:
    enqueue = adapter.enqueue_one
    if inspect.iscoroutinefunction(enqueue):
        start = time.perf_counter()
        for _ in range(n):
            await enqueue(time.time())
        return time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(n):
        enqueue(time.time())
    return time.perf_counter() - start


async def _bulk_loop(adapter: Adapter, n: int) -> float:
    start = time.perf_counter()
    for offset in range(0, n, BULK_BATCH):
        now = time.time()
        await _call(adapter.enqueue_bulk, [now] * min(BULK_BATCH, n - offset))
    return time.perf_counter() - start


async def _fill(adapter: Adapter, n: int) -> float:
    if adapter.has_bulk:
        return await _bulk_loop(adapter, n)
    return await _enqueue_loop(adapter, n)


async def _producer_command(adapter: Adapter, args: argparse.Namespace) -> dict[str, Any]:
    n = args.n
    await _call(adapter.producer_open)
    try:
        if args.command == "enqueue":
            seconds = await _enqueue_loop(adapter, n)
        elif args.command == "bulk":
            if not adapter.has_bulk:
                return {"status": "unsupported"}
            seconds = await _bulk_loop(adapter, n)
        elif args.command == "fill":
            seconds = await _fill(adapter, n)
        else:  # produce
            seconds = await _produce(adapter, n, args.interval)
    finally:
        await _call(adapter.producer_close)
    return {"status": "ok", "n": n, "seconds": seconds, "rate": n / seconds}


async def _produce(adapter: Adapter, n: int, interval: float) -> float:
    if not inspect.iscoroutinefunction(adapter.enqueue_one):
        return _produce_sync(adapter, n, interval)
    start = time.perf_counter()
    for _ in range(n):
        await adapter.enqueue_one(time.time())
        if interval:
            await asyncio.sleep(interval)
    return time.perf_counter() - start


def _produce_sync(adapter: Adapter, n: int, interval: float) -> float:
    start = time.perf_counter()
    for _ in range(n):
        adapter.enqueue_one(time.time())
        if interval:
            time.sleep(interval)
    return time.perf_counter() - start


# -- worker commands ---------------------------------------------------------------


def _spawn_producer(args: argparse.Namespace, n: int, interval: float) -> dict[str, Any]:
    """Run ``produce`` in a fresh process of this interpreter; its result."""
    command = [sys.executable, "-m", args.module, "produce", str(n), "--url", args.url]
    command += ["--interval", str(interval), "--timeout", str(args.timeout)]
    command += list(args.extra)
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=args.timeout, check=False
    )
    result = parse_result(done.stdout)
    if result is None:
        tail = (done.stderr or done.stdout)[-2000:]
        return {"status": "error", "error": f"producer exited {done.returncode}: {tail}"}
    return result


def _measure(args: argparse.Namespace, started: float | None) -> dict[str, Any]:
    """The body of drain/latency once the worker is being started; blocking
    (runs in a helper thread)."""
    timeout = args.timeout
    if args.command == "drain":
        t0 = started if started is not None else time.perf_counter()
        if not TRACK.done.wait(timeout):
            return {"status": "timeout", "n": args.n, "calls": TRACK.count}
        assert TRACK.done_at is not None
        seconds = TRACK.done_at - t0
        time.sleep(GRACE)
        calls = TRACK.count
        status = "ok" if calls == args.n else ("duplicates" if calls > args.n else "lost")
        return {
            "status": status,
            "n": args.n,
            "calls": calls,
            "seconds": seconds,
            "rate": args.n / seconds,
        }
    # latency: warm up with one job, then the real run
    warm = _spawn_producer(args, 1, 0.0)
    if warm.get("status") != "ok":
        return warm
    if not TRACK.done.wait(timeout):
        return {"status": "timeout", "stage": "warm-up", "calls": TRACK.count}
    TRACK.reset(args.n)
    producer = _spawn_producer(args, args.n, args.interval)
    if producer.get("status") != "ok":
        return producer
    if not TRACK.done.wait(timeout):
        return {"status": "timeout", "n": args.n, "calls": TRACK.count}
    time.sleep(GRACE)
    calls = TRACK.count
    latencies = TRACK.latencies[: args.n]
    return {
        "status": "ok" if calls == args.n else "duplicates" if calls > args.n else "lost",
        "n": args.n,
        "calls": calls,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
        "offered": producer["rate"],
    }


def _expected(args: argparse.Namespace) -> int:
    n: int = args.n
    return n if args.command == "drain" else n + 1


async def _async_worker_command(adapter: Adapter, args: argparse.Namespace) -> dict[str, Any]:
    stop = asyncio.Event()
    TRACK.reset(args.n if args.command == "drain" else 1)
    started = time.perf_counter()
    server = asyncio.ensure_future(adapter.serve(args.concurrency, _expected(args), stop))
    measure = asyncio.ensure_future(asyncio.to_thread(_measure, args, started))
    await asyncio.wait([server, measure], return_when=asyncio.FIRST_COMPLETED)
    if not measure.done():  # the worker ended first: give the count a moment
        await asyncio.wait([measure], timeout=GRACE * 2)
    if not measure.done():
        error = server.exception() if not server.cancelled() else None
        result: dict[str, Any] = {"status": "error", "error": f"worker ended: {error!r}"}
        result["calls"] = TRACK.count
    else:
        result = measure.result()
    emit(result)
    stop.set()
    with contextlib.suppress(BaseException):  # shutting down; the result is out
        await asyncio.wait_for(server, STOP_TIMEOUT)
    return result


def _sync_worker_command(adapter: Adapter, args: argparse.Namespace) -> dict[str, Any]:
    stop = threading.Event()
    TRACK.reset(args.n if args.command == "drain" else 1)
    holder: dict[str, Any] = {}

    def measure() -> None:
        try:
            holder["result"] = _measure(args, started)
        except Exception as exc:  # reported, not raised
            holder["result"] = {"status": "error", "error": repr(exc)}
        emit(holder["result"])
        stop.set()
        # a worker that cannot be told to stop must not hold the process
        watchdog = threading.Timer(STOP_TIMEOUT, os._exit, (0,))
        watchdog.daemon = True
        watchdog.start()

    started = time.perf_counter()
    thread = threading.Thread(target=measure, daemon=True)
    thread.start()
    adapter.serve(args.concurrency, _expected(args), stop)
    thread.join(args.timeout + 10)
    result: dict[str, Any] = holder.get("result") or {
        "status": "error",
        "error": "measurement did not finish",
    }
    return result


# -- CLI ------------------------------------------------------------------------------


_emitted = False


def emit(result: dict[str, Any]) -> None:
    """Print the one result line (once)."""
    global _emitted
    if _emitted:
        return
    _emitted = True
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


def parse_result(stdout: str) -> dict[str, Any] | None:
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            parsed: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            return parsed
    return None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("command")
    p.add_argument("n", type=int)
    p.add_argument("--url", required=True)
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--interval", type=float, default=0.001)
    p.add_argument("--timeout", type=float, default=120.0)
    return p


def main(
    adapter_class: type[Adapter],
    module: str,
    extra_commands: dict[str, Callable[[argparse.Namespace], Any]] | None = None,
) -> None:
    """Parse the command line, run one command, print its result line.

    Unknown options are kept in ``args.extra`` and passed on to the
    producer processes (adapter variants, e.g. ``--poll-delay``)."""
    args, extra = parser().parse_known_args()
    args.extra = extra
    args.module = module
    try:
        if extra_commands and args.command in extra_commands:
            result = extra_commands[args.command](args)
            if inspect.iscoroutine(result):
                result = asyncio.run(result)
            emit(result)
        else:
            emit(_run(adapter_class, args))
    except Exception as exc:  # the orchestrator reports it
        emit({"status": "error", "error": f"{type(exc).__name__}: {exc}"[:2000]})
        raise
    finally:
        sys.stdout.flush()
    # Some workers leave threads behind: do not wait for them.
    os._exit(0)


def _run(adapter_class: type[Adapter], args: argparse.Namespace) -> dict[str, Any]:
    adapter = adapter_class(args)
    if args.command in ("enqueue", "bulk", "fill", "produce"):
        return asyncio.run(_producer_command(adapter, args))
    if args.command not in ("drain", "latency"):
        raise SystemExit(f"unknown command {args.command!r}")
    if _is_async(adapter):
        return asyncio.run(_async_worker_command(adapter, args))
    return _sync_worker_command(adapter, args)
