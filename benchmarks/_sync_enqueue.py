"""The "sync enqueue" figure: one blocking library call per job, from a
plain thread with no event loop of the caller's (what a Flask view, a
Django command or a script does). Standard library only: the peers'
adapters import it from their own virtualenvs.

``syncenqueue N`` times N sequential calls and reports the rate and the
cost of one call (mean, p50, p99 in microseconds), after an untimed
warm-up (connections opened, scripts loaded) that every library gets
alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks._adapter import percentile

WARMUP = 200


def measure(enqueue: Callable[[float], object], n: int) -> dict[str, Any]:
    """Call ``enqueue(time.time())`` ``n`` times, one after the other."""
    for _ in range(WARMUP):
        enqueue(time.time())
    clock = time.perf_counter
    samples = [0.0] * n
    start = clock()
    for i in range(n):
        before = clock()
        enqueue(time.time())
        samples[i] = clock() - before
    seconds = clock() - start
    return {
        "status": "ok",
        "n": n,
        "seconds": seconds,
        "rate": n / seconds,
        "mean_us": seconds / n * 1e6,
        "p50_us": percentile(samples, 50) * 1e6,
        "p99_us": percentile(samples, 99) * 1e6,
    }
