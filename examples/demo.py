"""A tour of the queue in a few seconds: priorities, delays, retries, dead letters.

It enqueues a few hundred jobs with mixed priorities, some of them delayed,
then runs one consumer whose handler fails on purpose for some jobs (a
seeded plan: some fail once or twice and then succeed, a few always fail).
While it runs it shows progress; at the end it prints a summary you can
check by eye, checks it, and exits non-zero if anything does not add up:

* processing order: jobs that were due at the start begin in priority
  order (every "urgent" job starts before any "high" one, and so on);
* retries: each flaky job succeeded after exactly as many retries as it
  was planned to fail;
* dead letters: the jobs that always fail are in the dead-letter topic
  with their attempts and last error, and nothing else is;
* conservation: acked + dead-lettered == enqueued.

Run it with ``./scripts/demo`` (the in-memory backend) or
``./scripts/demo --redis [URL]`` (a Redis server; default
``redis://localhost:6379/0``; it uses a fresh topic and cleans up after).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from queue_core import (
    BackendUnavailable,
    Driver,
    EnqueueOptions,
    Hooks,
    InvalidArgument,
    Job,
    Outcome,
    QueueOptions,
    QueueService,
    RetryPolicy,
    SubscribeOptions,
    open_driver,
)
from queue_memory import MemoryDriver

PRIORITIES = {10: "urgent", 5: "high", 0: "normal", -5: "bulk"}
MAX_ATTEMPTS = 3
RETRY = RetryPolicy(initial_delay=0.05, multiplier=2.0, max_delay=0.4, jitter=0.3)


@dataclass(frozen=True, slots=True)
class Plan:
    """What the demo intends for one job: its priority, delay, and how many
    of its attempts fail (``MAX_ATTEMPTS`` or more: it always fails)."""

    number: int
    priority: int
    delay: float
    failures: int

    def encode(self) -> bytes:
        return json.dumps({"n": self.number, "failures": self.failures}).encode()


def make_plans(count: int, seed: int) -> list[Plan]:
    rng = random.Random(seed)
    plans = []
    for number in range(count):
        priority = rng.choice(list(PRIORITIES))
        delay = rng.choice([0.0] * 4 + [0.3, 0.6, 1.0])  # most jobs due at once
        failures = rng.choices([0, 1, 2, MAX_ATTEMPTS], weights=[80, 10, 5, 5])[0]
        plans.append(Plan(number, priority, delay, failures))
    return plans


@dataclass
class Tally(Hooks):
    """Counts outcomes as the runtime reports them (a Hooks subclass)."""

    outcomes: Counter[Outcome] = field(default_factory=Counter)
    retries_of: Counter[str] = field(default_factory=Counter)

    def after_job(
        self, job: Job, outcome: Outcome, error: BaseException | None, duration: float
    ) -> None:
        self.outcomes[outcome] += 1
        if outcome is Outcome.RETRIED:
            self.retries_of[job.id] += 1


@dataclass
class Start:
    index: int
    job_id: str
    priority: int
    attempt: int


class Progress:
    """One updating line on a terminal; a line every half second otherwise."""

    def __init__(self, total: int, tally: Tally) -> None:
        self.total = total
        self.tally = tally
        self.tty = sys.stdout.isatty()
        self.started = time.monotonic()

    def line(self) -> str:
        done = self.tally.outcomes[Outcome.ACKED] + self.tally.outcomes[Outcome.DEAD_LETTERED]
        width = 30
        filled = width * done // max(1, self.total)
        return (
            f"[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} done, "
            f"{self.tally.outcomes[Outcome.RETRIED]} retries, "
            f"{self.tally.outcomes[Outcome.DEAD_LETTERED]} dead "
            f"({time.monotonic() - self.started:.1f}s)"
        )

    async def run(self, finished: asyncio.Event) -> None:
        while not finished.is_set():
            self.show()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), 0.1 if self.tty else 0.5)
        self.show(final=True)

    def show(self, final: bool = False) -> None:
        if self.tty:
            print("\r" + self.line(), end="\n" if final else "", flush=True)
        else:
            print(self.line(), flush=True)


async def run_demo(driver: Driver, topic: str, *, jobs: int, seed: int) -> bool:
    """The whole demo on ``driver``; True if every check passed."""
    plans = make_plans(jobs, seed)
    tally = Tally()
    options = QueueOptions(max_attempts=MAX_ATTEMPTS, retry=RETRY)
    async with QueueService(driver, options, hooks=[tally]) as service:
        ids = await service.enqueue_many(
            topic,
            [(p.encode(), EnqueueOptions(priority=p.priority, delay=p.delay)) for p in plans],
        )
        plan_of = dict(zip(ids, plans, strict=True))
        print(
            f"enqueued {len(ids)} jobs on {type(driver).__name__}: "
            + ", ".join(
                f"{sum(p.priority == prio for p in plans)} {name} ({prio})"
                for prio, name in PRIORITIES.items()
            )
            + f"; {sum(p.delay > 0 for p in plans)} delayed"
        )
        starts: list[Start] = []
        finished = asyncio.Event()

        async def handler(job: Job) -> None:
            starts.append(Start(len(starts), job.id, job.priority, job.attempt))
            await asyncio.sleep(0.01)  # "work"
            plan = json.loads(job.payload)
            if job.attempt <= plan["failures"]:
                raise RuntimeError(f"job {plan['n']} failed on attempt {job.attempt} (planned)")

        def check_finished() -> None:
            settled = tally.outcomes[Outcome.ACKED] + tally.outcomes[Outcome.DEAD_LETTERED]
            if settled >= len(ids):
                finished.set()

        class Done(Hooks):
            def after_job(
                self, job: Job, outcome: Outcome, error: BaseException | None, duration: float
            ) -> None:
                check_finished()

        service.add_hook(Done())
        progress = Progress(len(ids), tally)
        shown = asyncio.create_task(progress.run(finished))
        consumer = await service.subscribe(topic, handler, SubscribeOptions(concurrency=8))
        try:
            await asyncio.wait_for(finished.wait(), 60)
        except TimeoutError:
            print("\nthe demo did not finish within 60 s", file=sys.stderr)
        await consumer.close()
        await shown
        dead = await service.list_dead(topic, limit=len(ids))
        counts = await service.counts(topic)
        ok = report(plans, plan_of, starts, tally, dead, counts.total - counts.dead)
        await service.purge_dead(topic)
    return ok


def report(
    plans: list[Plan],
    plan_of: dict[str, Plan],
    starts: list[Start],
    tally: Tally,
    dead: list[Job],
    left: int,
) -> bool:
    failures: list[str] = []

    def check(condition: bool, message: str) -> None:
        print(f"  [{'ok' if condition else 'FAIL'}] {message}")
        if not condition:
            failures.append(message)

    # 1. order: first attempts of jobs due at the start, by start index
    first = [s for s in starts if s.attempt == 1 and plan_of[s.job_id].delay == 0]
    print("\nProcessing order (first attempts of the jobs due at the start):")
    print(f"  {'priority':>12} {'jobs':>5} {'first start':>12} {'last start':>11}")
    ranges = []
    for prio, name in PRIORITIES.items():
        positions = [i for i, s in enumerate(first) if s.priority == prio]
        if positions:
            ranges.append((positions[0], positions[-1]))
            label = f"{name} ({prio})"
            print(f"  {label:>12} {len(positions):>5} {positions[0]:>12} {positions[-1]:>11}")
    in_order = all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    check(in_order, "every higher-priority job started before any lower-priority one")
    fifo = all(
        plan_of[a.job_id].number < plan_of[b.job_id].number
        for a, b in zip(first, first[1:], strict=False)
        if a.priority == b.priority
    )
    check(fifo, "within a priority, jobs started in enqueue order")

    # 2. retries
    flaky = [p for p in plans if 0 < p.failures < MAX_ATTEMPTS]
    print(f"\nRetries: {tally.outcomes[Outcome.RETRIED]} in all")
    for planned in range(1, MAX_ATTEMPTS):
        group = [job_id for job_id, p in plan_of.items() if p.failures == planned]
        print(f"  {len(group)} jobs planned to fail {planned}x before succeeding")
    retried_as_planned = all(
        tally.retries_of[job_id] == min(p.failures, MAX_ATTEMPTS - 1)
        for job_id, p in plan_of.items()
    )
    check(retried_as_planned, "every job was retried exactly as often as planned")
    check(len(flaky) > 0 and tally.outcomes[Outcome.RETRIED] > 0, "some jobs needed retries")

    # 3. dead letters
    poison = {job_id for job_id, p in plan_of.items() if p.failures >= MAX_ATTEMPTS}
    print(f"\nDead letters ({len(dead)}):")
    for job in sorted(dead, key=lambda j: plan_of[j.id].number):
        plan = plan_of[job.id]
        print(
            f"  job {plan.number:>3}  priority {job.priority:>3}  attempts {job.attempt}  "
            f"last error: {job.last_error}"
        )
    check({job.id for job in dead} == poison, "exactly the always-failing jobs are dead letters")
    check(all(job.attempt == MAX_ATTEMPTS for job in dead), f"each after {MAX_ATTEMPTS} attempts")

    # 4. conservation
    acked = tally.outcomes[Outcome.ACKED]
    print(f"\nAccounting: {acked} acked + {len(dead)} dead-lettered = {acked + len(dead)}")
    check(acked + len(dead) == len(plans), f"every one of the {len(plans)} jobs accounted for")
    check(left == 0, "nothing left waiting or in flight")
    print("\nAll checks passed." if not failures else f"\n{len(failures)} check(s) FAILED.")
    return not failures


def redis_driver(url: str) -> tuple[Driver, Callable[[], Awaitable[None]]]:
    """A driver for ``url`` that owns its client, or exit with a hint."""
    try:
        driver = open_driver(url)
    except InvalidArgument as exc:
        raise SystemExit(f"--redis {url}: {exc}") from exc
    return driver, driver.close


async def main_async(args: argparse.Namespace) -> int:
    if args.redis is None:
        return 0 if await run_demo(MemoryDriver(), "demo", jobs=args.jobs, seed=args.seed) else 1
    driver, close_client = redis_driver(args.redis)
    topic = f"demo-{int(time.time() * 1000)}"
    try:
        ok = await run_demo(driver, topic, jobs=args.jobs, seed=args.seed)
    except BackendUnavailable as exc:
        print(f"cannot reach Redis at {args.redis} ({exc}); is it running?", file=sys.stderr)
        return 2
    finally:
        await close_client()
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A tour of the job queue.")
    parser.add_argument(
        "--redis",
        nargs="?",
        const="redis://localhost:6379/0",
        metavar="URL",
        help="run on Redis instead of in memory (default URL: %(const)s)",
    )
    parser.add_argument("--jobs", type=int, default=300, help="how many jobs (default 300)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the failure plan")
    parser.add_argument("--verbose", action="store_true", help="show the runtime's log")
    args = parser.parse_args(argv)
    # the runtime logs each retry and dead letter on the "queue_core" logger
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
