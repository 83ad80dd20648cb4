"""A :class:`Schedule`: what to enqueue, where, and when.

Each tick of a schedule becomes one job whose id is a function of the
schedule's name and the tick's instant (``sched:<name>:<UTC time>``), and
whose idempotency window outlasts every moment a scheduler may still try
to enqueue that tick: however many schedulers run, the backend creates it
once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from .._errors import InvalidArgument
from .._options import EnqueueOptions
from .._validate import (
    MAX_DURATION,
    validate_headers,
    validate_max_attempts,
    validate_payload,
    validate_priority,
    validate_topic,
)
from ._triggers import Cron, Every, Trigger, catch_up_count

__all__ = [
    "SCHEDULE_HEADER",
    "SKEW_MARGIN",
    "TICK_HEADER",
    "Schedule",
    "tick_stamp",
    "validate_schedule_name",
]

SCHEDULE_HEADER: Final = "qtk-schedule"
"""The header naming the schedule a job was enqueued for."""

TICK_HEADER: Final = "qtk-tick"
"""The header holding the tick a job was enqueued for (ISO 8601, UTC)."""

SKEW_MARGIN: Final = 60.0
"""Seconds added to every tick's idempotency window, for clock skew
between scheduler processes and the backend."""

MAX_PAYLOAD: Final = 1024 * 1024
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_MAX_WALK: Final = 100_000  # ticks walked for one batch's windows


def validate_schedule_name(name: object) -> str:
    """1-64 characters of ``A-Z a-z 0-9 _ . -`` (a schedule's name is part
    of its jobs' ids)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgument(
            f"invalid schedule name {name!r}: use 1-64 characters of A-Z a-z 0-9 _ . -"
        )
    return name


def tick_stamp(tick: float) -> str:
    """A tick as compact ISO 8601 in UTC: ``20250131T030000Z`` (with
    ``.250`` milliseconds when it has any)."""
    ms = round(tick * 1000)
    moment = dt.datetime.fromtimestamp(ms // 1000, dt.UTC)
    stamp = moment.strftime("%Y%m%dT%H%M%S")
    return f"{stamp}.{ms % 1000:03d}Z" if ms % 1000 else f"{stamp}Z"


def _iso(tick: float) -> str:
    moment = dt.datetime.fromtimestamp(round(tick * 1000) / 1000, dt.UTC)
    spec = "milliseconds" if round(tick * 1000) % 1000 else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


@dataclass(frozen=True, kw_only=True, slots=True)
class Schedule:
    """One schedule: every tick of ``trigger`` enqueues ``payload`` on
    ``topic``. Made by :meth:`queue_core.Tasks.schedule` (or
    ``@tasks.task(schedule=...)``) for a task; directly for a raw topic::

        Schedule(name="heartbeat", trigger=every(60), topic="pings", payload=b"{}")

    * ``name``: 1-64 characters of ``A-Z a-z 0-9 _ . -``, unique among the
      schedules of a scheduler; part of each tick's job id
      (``sched:<name>:<tick>``), so renaming a schedule starts afresh.
    * ``priority``, ``max_attempts``, ``headers``: the jobs' options (the
      headers ``qtk-schedule`` and ``qtk-tick`` are added to each job).
    * ``task``: the task's name, when the schedule calls a task (shown by
      ``qtk schedules``; the job carries the ``qtk-task`` header in
      ``headers``).
    """

    name: str
    trigger: Trigger
    topic: str
    payload: bytes = b""
    priority: int = 0
    max_attempts: int | None = None
    headers: Mapping[str, str] | None = None
    task: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        validate_schedule_name(self.name)
        if not isinstance(self.trigger, Cron | Every):
            raise InvalidArgument(
                f"trigger must be cron(...) or every(...), not {type(self.trigger).__name__}"
            )
        set_(self, "topic", validate_topic(self.topic))
        set_(self, "payload", validate_payload(self.payload, MAX_PAYLOAD))
        set_(self, "priority", validate_priority(self.priority))
        if self.max_attempts is not None:
            set_(self, "max_attempts", validate_max_attempts(self.max_attempts))
        headers = dict(validate_headers(self.headers)) if self.headers else {}
        for reserved in (SCHEDULE_HEADER, TICK_HEADER):
            if reserved in headers:
                raise InvalidArgument(f"header {reserved!r} is set by the scheduler")
        set_(self, "headers", validate_headers(headers) if headers else None)
        if self.task is not None and not isinstance(self.task, str):
            raise InvalidArgument("task must be a task name or None")

    def job_id(self, tick: float) -> str:
        """The id of the job for ``tick``: ``sched:<name>:<UTC time>``."""
        return f"sched:{self.name}:{tick_stamp(tick)}"

    def job_options(self, tick: float, window: float) -> EnqueueOptions:
        """The enqueue options of the job for ``tick``: due at the tick, its
        id, the idempotency ``window``, and the headers."""
        headers = {**(self.headers or {}), SCHEDULE_HEADER: self.name, TICK_HEADER: _iso(tick)}
        return EnqueueOptions(
            priority=self.priority,
            run_at=tick,
            job_id=self.job_id(tick),
            max_attempts=self.max_attempts,
            headers=headers,
            idempotency_window=window,
        )

    def windows(self, ticks: Sequence[float]) -> list[float]:
        """Each tick's idempotency window (seconds after its job ends),
        longer than any moment a scheduler may still enqueue it: while it
        is on time (``grace``) or among the ``catch_up`` latest missed ticks
        (until the N-th tick after it plus ``grace``), plus
        :data:`SKEW_MARGIN`."""
        keep = catch_up_count(self.trigger.catch_up)
        extra = self.trigger.effective_grace + SKEW_MARGIN
        span = self.trigger.span(keep)
        if span is not None or keep == 0:
            return [min(MAX_DURATION, (span or 0.0) + extra)] * len(ticks)
        if not ticks:
            return []
        # cron: the gaps vary; walk the ticks from the first one, past the
        # last one by ``keep`` more
        ordered = sorted(set(ticks))
        sequence = [ordered[0]]
        walker = self.trigger.ticks_after(ordered[0])
        while sequence[-1] < ordered[-1] and len(sequence) < _MAX_WALK:
            following = next(walker, None)
            if following is None:
                break
            sequence.append(following)
        for _ in range(keep):
            following = next(walker, None)
            if following is None:
                break
            sequence.append(following)
        index = {tick: at for at, tick in enumerate(sequence)}
        windows = []
        for tick in ticks:
            at = index.get(tick)
            if at is not None and at + keep < len(sequence):
                span_seconds = sequence[at + keep] - tick
            elif at is not None:
                span_seconds = MAX_DURATION  # no later tick: it stays the latest
            else:
                span_seconds = self._span_from(tick, keep)
            windows.append(min(MAX_DURATION, span_seconds + extra))
        return windows

    def _span_from(self, tick: float, keep: int) -> float:
        walker = self.trigger.ticks_after(tick)
        later = tick
        for _ in range(keep):
            following = next(walker, None)
            if following is None:
                return MAX_DURATION
            later = following
        return later - tick

    def describe(self) -> str:
        """The trigger in words, e.g. ``every 5 min`` or ``cron 0 3 * * * (Europe/Paris)``."""
        return self.trigger.describe()
