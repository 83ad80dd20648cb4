"""Schedules: cron expressions and fixed intervals that enqueue a job per
tick, exactly once however many schedulers run.

Declare them on a task registry (``@tasks.task(schedule=every(300))`` or
``tasks.schedule(name, cron("0 3 * * *", tz="Europe/Paris"), task.call(...))``)
and ``qtk worker`` runs them; or build :class:`Schedule` objects and run a
:class:`Scheduler` yourself. :func:`every` needs nothing more; :func:`cron`
needs ``croniter`` (the ``schedules`` extra:
``pip install 'queue-toolkit[schedules]'``), imported only when a cron
schedule is made. See ``docs/schedules.md``.
"""

from ._schedule import SCHEDULE_HEADER, SKEW_MARGIN, TICK_HEADER, Schedule
from ._scheduler import Scheduler, SchedulerStats, TickResult
from ._triggers import CatchUp, Cron, Every, Trigger, cron, every

__all__ = [
    "SCHEDULE_HEADER",
    "SKEW_MARGIN",
    "TICK_HEADER",
    "CatchUp",
    "Cron",
    "Every",
    "Schedule",
    "Scheduler",
    "SchedulerStats",
    "TickResult",
    "Trigger",
    "cron",
    "every",
]
