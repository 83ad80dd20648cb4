"""Schedules: a task registry with an interval and two cron schedules.

Run it for real (the scheduler runs inside every worker; any number of
workers enqueue each tick once):

    qtk worker examples.schedules_app:tasks --url redis://localhost:6379/0
    qtk schedules examples.schedules_app:tasks          # what runs when

Or watch a simulated week in memory, on a fake clock, in a second (two
schedulers, as two worker processes would run, across the night clocks go
forward in Paris):

    python examples/schedules_app.py

``tests/test_examples_flow.py`` runs the simulation and checks it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from queue_core import FakeClock, Hooks, Job, Outcome, QueueService, Tasks, current_job
from queue_core.schedules import TICK_HEADER, Scheduler, cron, every
from queue_memory import MemoryDriver

PARIS = ZoneInfo("Europe/Paris")
tasks = Tasks()
RAN: list[tuple[str, str]] = []  # (task, tick): what the simulation ran


@tasks.task(topic="maintenance", schedule=every(15 * 60))  # at :00, :15, :30, :45 (UTC)
async def purge_sessions() -> None:
    RAN.append(("purge_sessions", current_job().headers[TICK_HEADER]))


@tasks.task(topic="reports")
async def send_report(job: Job, to: str, kind: str = "daily") -> None:
    RAN.append((f"send_report {kind} to {to}", job.headers[TICK_HEADER]))


# 03:00 on the Paris wall clock, summer or winter; after downtime, the latest
# missed night still runs (catch_up="latest", the default)
tasks.schedule(
    "nightly-report",
    cron("0 3 * * *", tz="Europe/Paris"),
    send_report.call(to="ops@example.com"),
)
# Mondays 08:30 in Paris; a missed one is not worth sending late
tasks.schedule(
    "weekly-report",
    cron("30 8 * * mon", tz="Europe/Paris", catch_up="none"),
    send_report.call(to="team@example.com", kind="weekly"),
)


@dataclass
class Week:
    runs: Counter[str] = field(default_factory=Counter)
    nightly_local_times: list[str] = field(default_factory=list)
    weekly_local_times: list[str] = field(default_factory=list)
    caught_up_at_start: list[str] = field(default_factory=list)
    duplicates: int = 0


def _local(tick: str) -> str:
    moment = dt.datetime.fromisoformat(tick.replace("Z", "+00:00")).astimezone(PARIS)
    return moment.strftime("%a %d %b %H:%M %Z")


class Finished(Hooks):
    """Counts the attempts that ended, so the simulation waits for the jobs
    of a step without polling."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = asyncio.Event()

    def after_job(
        self, job: Job, outcome: Outcome, error: BaseException | None, duration: float
    ) -> None:
        self.count += 1
        self.changed.set()

    async def wait_for(self, count: int) -> None:
        while self.count < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 10)


async def simulate_week() -> Week:
    """Monday 2025-03-24 00:00 Paris time to the next Monday, 15 minutes at
    a time; clocks go forward on Sunday 30 March."""
    RAN.clear()
    start = dt.datetime(2025, 3, 24, tzinfo=PARIS).timestamp()
    clock = FakeClock(start)
    finished = Finished()
    service = QueueService(MemoryDriver(clock=clock), hooks=[finished])
    consumers = await tasks.subscribe(service)
    # two schedulers on one backend: two worker processes, say
    schedulers = [Scheduler(service, tasks.schedules, clock=clock) for _ in range(2)]
    for scheduler in schedulers:
        await scheduler.start()
    for _ in range(7 * 24 * 4 + 1):
        for scheduler in schedulers:
            await scheduler.wait_idle()
        await finished.wait_for(sum(s.statistics().enqueued for s in schedulers))
        clock.advance(15 * 60)
    for scheduler in schedulers:
        await scheduler.stop()
    for consumer in consumers:
        await consumer.close()
    await service.close()
    week = Week()
    week.duplicates = sum(s.statistics().duplicates for s in schedulers)
    for name, tick in RAN:
        week.runs[name.split(" ")[0]] += 1
        at = dt.datetime.fromisoformat(tick.replace("Z", "+00:00")).timestamp()
        if at < start:
            week.caught_up_at_start.append(f"{name} for {_local(tick)}")
        if name.startswith("send_report daily"):
            week.nightly_local_times.append(_local(tick))
        elif name.startswith("send_report weekly"):
            week.weekly_local_times.append(_local(tick))
    return week


async def main() -> None:
    week = await simulate_week()
    print("A simulated week (two schedulers, one backend):")
    for name, count in sorted(week.runs.items()):
        print(f"  {name}: {count} runs")
    print("  nightly report (Paris time):", ", ".join(week.nightly_local_times))
    print("  weekly report (Paris time):", ", ".join(week.weekly_local_times))
    print("  caught up at the start:", "; ".join(week.caught_up_at_start))
    print(f"  ticks the second scheduler found enqueued already: {week.duplicates}")


if __name__ == "__main__":
    asyncio.run(main())
