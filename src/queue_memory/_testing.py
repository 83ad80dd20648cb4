"""Helpers for application tests: run a topic until nothing is left to do."""

from __future__ import annotations

from dataclasses import dataclass, field

from queue_core import (
    FakeClock,
    Handler,
    Hooks,
    Job,
    Outcome,
    QueueService,
    SubscribeOptions,
)

from ._driver import MemoryDriver

__all__ = ["RunReport", "run_until_idle"]


@dataclass(slots=True)
class RunReport:
    """What :func:`run_until_idle` saw, attempt by attempt."""

    acked: list[Job] = field(default_factory=list)
    retried: list[Job] = field(default_factory=list)
    dead_lettered: list[Job] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


class _Recorder(Hooks):
    def __init__(self, report: RunReport, topic: str) -> None:
        self.report = report
        self.topic = topic

    def after_job(
        self, job: Job, outcome: Outcome, error: BaseException | None, duration: float
    ) -> None:
        if job.topic != self.topic:
            return
        if outcome is Outcome.ACKED:
            self.report.acked.append(job)
        elif outcome is Outcome.RETRIED:
            self.report.retried.append(job)
        elif outcome in (Outcome.DEAD_LETTERED, Outcome.DROPPED):
            self.report.dead_lettered.append(job)
        if error is not None:
            self.report.errors.append(error)


async def run_until_idle(
    service: QueueService,
    topic: str,
    handler: Handler,
    *,
    options: SubscribeOptions | None = None,
    raise_errors: bool = False,
    advance_clock: bool = True,
    max_rounds: int = 10_000,
) -> RunReport:
    """Run ``handler`` over ``topic`` until no job is ready or in flight.

    With a :class:`~queue_core.FakeClock` on a :class:`MemoryDriver` and
    ``advance_clock``, scheduled jobs (delays, retry backoff) are brought due
    by moving the clock, so a test needs no sleeps. With ``raise_errors``,
    the first exception a handler raised is re-raised at the end (the jobs
    were still retried or dead-lettered as usual).
    """
    driver = service.driver
    report = RunReport()
    recorder = _Recorder(report, topic)
    service.add_hook(recorder)
    consumer = await service.subscribe(topic, handler, options or SubscribeOptions(lease=60.0))
    try:
        for _ in range(max_rounds):
            await consumer.wait_idle()
            if not advance_clock or not isinstance(driver, MemoryDriver):
                break
            clock = driver.clock
            due = driver.next_due(topic)
            if due is None or not isinstance(clock, FakeClock):
                break
            clock.set(max(due, clock.now()))
        else:
            raise RuntimeError(f"{topic!r} did not become idle in {max_rounds} rounds")
    finally:
        await consumer.close()
        service.remove_hook(recorder)
    if raise_errors and report.errors:
        raise report.errors[0]
    return report
