"""End-to-end drain rate of the in-memory backend through the full service.

``N`` no-op jobs are enqueued with ``enqueue_many``, then one consumer
(``QueueService.subscribe`` with the default batch size) drains them with an
async handler that only counts calls. The clock runs from ``subscribe`` until
the consumer is idle (every job acked), so the figure includes claiming,
dispatch to workers, lease bookkeeping and batched acks. The count is checked
to be exactly ``N`` and the topic empty. Median of ``repeats`` runs.

Run::

    .venv/bin/python -m benchmarks.bench_memory               # N=100000, c=10 and 50
    .venv/bin/python -m benchmarks.bench_memory -n 20000 -c 1 -c 10

Or from code: :func:`measure` returns a :class:`DrainResult`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import statistics
import time
from dataclasses import dataclass

from queue_core import Job, QueueService, SubscribeOptions
from queue_memory import MemoryDriver

TOPIC = "bench"


@dataclass(frozen=True, kw_only=True, slots=True)
class DrainResult:
    """One configuration's measurement: every run's rate, and their median."""

    jobs: int
    concurrency: int
    rates: tuple[float, ...]  # jobs per second, one per run

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


async def drain_once(jobs: int, concurrency: int) -> float:
    """Enqueue ``jobs`` no-op jobs, drain them through one consumer; jobs/s."""
    service = QueueService(MemoryDriver())
    await service.enqueue_many(TOPIC, [b""] * jobs)
    handled = 0

    async def handler(job: Job) -> None:
        nonlocal handled
        handled += 1

    gc.collect()
    start = time.perf_counter()
    consumer = await service.subscribe(TOPIC, handler, SubscribeOptions(concurrency=concurrency))
    await consumer.wait_idle()
    elapsed = time.perf_counter() - start
    counts = await service.counts(TOPIC)
    await service.close()
    if handled != jobs or counts.total != 0:
        raise RuntimeError(f"handled {handled} of {jobs} jobs; left behind: {counts}")
    return jobs / elapsed


def measure(jobs: int = 100_000, concurrency: int = 10, repeats: int = 3) -> DrainResult:
    """Run :func:`drain_once` ``repeats`` times, each on a fresh event loop."""
    rates = tuple(asyncio.run(drain_once(jobs, concurrency)) for _ in range(repeats))
    return DrainResult(jobs=jobs, concurrency=concurrency, rates=rates)


def main(argv: list[str] | None = None) -> list[DrainResult]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("-n", "--jobs", type=int, default=100_000)
    parser.add_argument(
        "-c", "--concurrency", type=int, action="append", help="repeatable (default: 10 and 50)"
    )
    parser.add_argument("-r", "--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(
        f"queue_memory end-to-end drain, {args.jobs} no-op jobs, median of {args.repeats} runs "
        f"(Python {platform.python_version()}, {platform.machine()})"
    )
    results = []
    for concurrency in args.concurrency or [10, 50]:
        result = measure(args.jobs, concurrency, args.repeats)
        runs = ", ".join(f"{rate:,.0f}" for rate in result.rates)
        print(f"  concurrency {concurrency:>4}: {result.median:>10,.0f} jobs/s   (runs: {runs})")
        results.append(result)
    return results


if __name__ == "__main__":
    main()
