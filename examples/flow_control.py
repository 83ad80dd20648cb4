"""Flow control in a few seconds, in memory: time limits, global limits, cancellation.

    python examples/flow_control.py

1. **Time limits.** ``SubscribeOptions(time_limit=...)``: an async handler
   that hangs is cancelled at the limit; a sync one that sleeps is
   abandoned (its thread cannot be stopped; its result is discarded). Both
   attempts fail with ``TimeLimitExceeded`` and are retried per policy,
   then dead-lettered.
2. **Global limits.** ``service.set_limits(topic, TopicLimits(...))``: at
   most 2 jobs of the topic in flight across three consumers of 5 handlers
   each, and at most 5 claims per 0.2 s.
3. **Cancellation.** ``service.cancel(topic, ids)``: a waiting job is
   deleted at once; a running async handler is cancelled at its next
   ``await``; a sync handler sees ``job.cancel_requested``. Each ends as
   ``Outcome.CANCELLED``: neither retried nor dead-lettered.

Every part returns what it observed, and ``tests/test_examples_flow.py``
checks it, so the example cannot rot.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from queue_core import (
    CancelOutcome,
    EnqueueOptions,
    Hooks,
    Job,
    Outcome,
    QueueOptions,
    QueueService,
    RetryPolicy,
    SubscribeOptions,
    TimeLimitExceeded,
    TopicLimits,
)
from queue_memory import MemoryDriver

FAST_RETRIES = QueueOptions(max_attempts=2, retry=RetryPolicy(initial_delay=0.01, max_delay=0.02))


class Outcomes(Hooks):
    """Counts how each attempt ended, and keeps the errors (hooks see every outcome)."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.errors: list[BaseException] = []
        self.changed = asyncio.Event()

    def after_job(
        self, job: Job, outcome: Outcome, error: BaseException | None, duration: float
    ) -> None:
        self.seen[f"{job.topic}:{outcome.value}"] += 1
        if error is not None:
            self.errors.append(error)
        self.changed.set()

    async def wait_for(self, key: str, count: int = 1) -> None:
        while self.seen[key] < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 10)


# -- 1. time limits ------------------------------------------------------------------------


@dataclass
class TimeLimitReport:
    outcomes: dict[str, int]
    errors: list[str]
    dead_letters: list[str]


async def time_limits(hooks: Sequence[Hooks] = ()) -> TimeLimitReport:
    outcomes = Outcomes()
    async with QueueService(MemoryDriver(), FAST_RETRIES, hooks=[outcomes, *hooks]) as service:
        release = threading.Event()

        async def hangs(job: Job) -> None:
            await asyncio.Event().wait()  # never set: cancelled at the time limit

        def sleeps(job: Job) -> None:
            release.wait(10)  # a thread cannot be stopped: abandoned at the limit

        await service.enqueue("async-work", b"{}", EnqueueOptions(job_id="hangs"))
        await service.enqueue("sync-work", b"{}", EnqueueOptions(job_id="sleeps"))
        limit = SubscribeOptions(time_limit=0.2, lease=5.0)
        await service.subscribe("async-work", hangs, limit)
        await service.subscribe("sync-work", sleeps, limit)
        await outcomes.wait_for("async-work:dead_lettered")
        await outcomes.wait_for("sync-work:dead_lettered")
        release.set()  # let the abandoned threads end
        dead = [
            job.id
            for topic in ("async-work", "sync-work")
            for job in await service.list_dead(topic)
        ]
        errors = [str(e) for e in outcomes.errors if isinstance(e, TimeLimitExceeded)]
    return TimeLimitReport(dict(outcomes.seen), errors, dead)


# -- 2. global limits --------------------------------------------------------------------------


@dataclass
class LimitReport:
    most_in_flight: int = 0
    handled: int = 0
    starts: list[float] = field(default_factory=list)


async def global_limits() -> tuple[LimitReport, LimitReport]:
    """Three consumers of 5 handlers each, as three worker processes would be."""
    async with QueueService(MemoryDriver()) as service:
        # at most 2 in flight, whatever the number of consumers
        await service.set_limits("renders", TopicLimits(max_in_flight=2))
        bounded = LimitReport()
        running = 0

        async def render(job: Job) -> None:
            nonlocal running
            running += 1
            bounded.most_in_flight = max(bounded.most_in_flight, running)
            await asyncio.sleep(0.02)
            running -= 1
            bounded.handled += 1

        await service.enqueue_many("renders", [b"{}"] * 12)
        consumers = [
            await service.subscribe("renders", render, SubscribeOptions(concurrency=5))
            for _ in range(3)
        ]
        await service.wait_empty("renders", timeout=30)
        for consumer in consumers:
            await consumer.close()

        # at most 5 claims per 0.2 s (a sliding window), across every consumer
        await service.set_limits("emails", TopicLimits(rate=5, per=0.2))
        rated = LimitReport()

        async def send(job: Job) -> None:
            rated.starts.append(time.monotonic())
            rated.handled += 1

        await service.enqueue_many("emails", [b"{}"] * 15)
        for _ in range(3):
            await service.subscribe("emails", send, SubscribeOptions(concurrency=5, prefetch=0))
        await service.wait_empty("emails", timeout=30)
    return bounded, rated


# -- 3. cancellation ----------------------------------------------------------------------------


@dataclass
class CancelReport:
    requests: dict[str, str]
    outcomes: dict[str, int]
    sync_saw_the_request: bool
    left: int


async def cancellation(hooks: Sequence[Hooks] = ()) -> CancelReport:
    outcomes = Outcomes()
    async with QueueService(MemoryDriver(), hooks=[outcomes, *hooks]) as service:
        started = asyncio.Event()
        sync_started = threading.Event()
        saw: list[bool] = []

        async def crawl(job: Job) -> None:
            started.set()
            for _page in range(1000):
                await asyncio.sleep(0.01)  # fetching a page: cancelled here, at its next await

        def export(job: Job) -> None:
            sync_started.set()
            for _ in range(1000):
                if job.cancel_requested:  # a sync handler checks the flag
                    saw.append(True)
                    job.raise_if_cancelled()  # ends the job as cancelled
                time.sleep(0.01)

        await service.enqueue("crawls", b"{}", EnqueueOptions(job_id="crawl-1"))
        await service.enqueue("crawls", b"{}", EnqueueOptions(job_id="crawl-2", delay=3600))
        await service.enqueue("exports", b"{}", EnqueueOptions(job_id="export-1"))
        fast = SubscribeOptions(cancel_poll_interval=0.05)
        await service.subscribe("crawls", crawl, fast)
        await service.subscribe("exports", export, fast)
        await started.wait()
        await asyncio.to_thread(sync_started.wait, 10)

        requests: dict[str, CancelOutcome] = {}
        found = await service.cancel("crawls", ["crawl-1", "crawl-2", "no-such-job"])
        requests.update(zip(["crawl-1", "crawl-2", "no-such-job"], found, strict=True))
        (requests["export-1"],) = await service.cancel("exports", ["export-1"])
        await outcomes.wait_for("crawls:cancelled")
        await outcomes.wait_for("exports:cancelled")
        left = (await service.counts("crawls")).total + (await service.counts("exports")).total
    return CancelReport(
        {job_id: outcome.value for job_id, outcome in requests.items()},
        dict(outcomes.seen),
        bool(saw),
        left,
    )


async def main() -> None:
    # the runtime logs every time limit and dead letter; this tour prints its own summary
    runtime_log = logging.getLogger("queue_core")
    level = runtime_log.level
    runtime_log.setLevel(logging.CRITICAL)
    try:
        await _tour()
    finally:
        runtime_log.setLevel(level)


async def _tour() -> None:
    report = await time_limits()
    print("1. time limits")
    print(f"   attempts by outcome: {report.outcomes}")
    print(f"   dead letters: {report.dead_letters}")
    print(f"   first error: {report.errors[0]}")

    bounded, rated = await global_limits()
    print("2. global limits (three consumers of 5 handlers each)")
    print(f"   max_in_flight=2: {bounded.handled} jobs, at most {bounded.most_in_flight} at once")
    span = rated.starts[-1] - rated.starts[0]
    print(f"   rate=5 per 0.2 s: {rated.handled} jobs over {span:.2f} s")

    cancelled = await cancellation()
    print("3. cancellation")
    for job_id, outcome in cancelled.requests.items():
        print(f"   cancel {job_id}: {outcome}")
    print(f"   attempts by outcome: {cancelled.outcomes}")
    print(f"   the sync handler saw job.cancel_requested: {cancelled.sync_saw_the_request}")
    print(f"   jobs left: {cancelled.left}")


if __name__ == "__main__":
    asyncio.run(main())
